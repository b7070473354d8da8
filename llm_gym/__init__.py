"""llm_gym: text RL environments for language models, as real Gymnasium envs.

>>> import gymnasium as gym, llm_gym
>>> env = gym.make("LLMTicTacToe-v0")
"""

from llm_gym.envs import ENV_SPECS, register_envs
from llm_gym.envs.base import TextEnv
from llm_gym.envs.card import EnvCard, SeedRange, TwoPlayerGame
from llm_gym.envs.describe import EnvDescription, describe

__version__ = "0.1.0"

__all__ = [
    "ENV_SPECS",
    "EnvCard",
    "EnvDescription",
    "SeedRange",
    "TextEnv",
    "TwoPlayerGame",
    "__version__",
    "describe",
    "register_envs",
]
