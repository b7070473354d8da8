"""Scripted reference policies for every env, looked up by env id and name."""

from llm_gym.policies.base import (
    ScriptedPolicy,
    make_scripted_policy,
    register_scripted_policy,
    scripted_policy_names,
)
from llm_gym.policies.tictactoe import OptimalMovePolicy, RandomMovePolicy

register_scripted_policy("LLMTicTacToe-v0", "random", RandomMovePolicy)
register_scripted_policy("LLMTicTacToe-v0", "optimal", OptimalMovePolicy)

__all__ = [
    "OptimalMovePolicy",
    "RandomMovePolicy",
    "ScriptedPolicy",
    "make_scripted_policy",
    "register_scripted_policy",
    "scripted_policy_names",
]
