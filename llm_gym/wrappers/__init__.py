"""Numeric views of text envs for classic RL (stable-baselines3, sb3-contrib)."""

from llm_gym.wrappers.numeric import DiscreteStructure, NumericView, make_numeric_env

__all__ = ["DiscreteStructure", "NumericView", "make_numeric_env"]
