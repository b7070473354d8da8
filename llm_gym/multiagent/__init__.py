"""Multi-agent (PettingZoo AEC) versions of llm_gym games: several text players, one board."""

from llm_gym.multiagent import tictactoe_aec
from llm_gym.multiagent.tictactoe import AGENTS, TicTacToeAECEnv, read_move

__all__ = ["AGENTS", "TicTacToeAECEnv", "read_move", "tictactoe_aec"]
