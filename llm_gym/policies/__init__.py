"""Scripted reference policies for every env, looked up by env id and name."""

from llm_gym.policies.base import (
    ScriptedPolicy,
    make_scripted_policy,
    play_scripted_episode,
    register_scripted_policy,
    scripted_policy_names,
)
from llm_gym.policies.double_check_math import DoubleCheckMathCareless, DoubleCheckMathOracle
from llm_gym.policies.reverse_text import ReverseTextCareless, ReverseTextOracle
from llm_gym.policies.tictactoe import (
    OptimalMovePolicy,
    RandomMovePolicy,
    fastest_optimal_policy,
    forks_optimal_policy,
    lines_optimal_policy,
    move_only_optimal_policy,
    scan_optimal_policy,
)
from llm_gym.policies.tool_use import ToolUseCareless, ToolUseOracle

register_scripted_policy("LLMTicTacToe-v0", "random", RandomMovePolicy)
register_scripted_policy("LLMTicTacToe-v0", "optimal", OptimalMovePolicy)
register_scripted_policy("LLMTicTacToe-v0", "optimal-fastest", fastest_optimal_policy)
register_scripted_policy("LLMTicTacToe-v0", "optimal-lines", lines_optimal_policy)
register_scripted_policy("LLMTicTacToe-v0", "optimal-move-only", move_only_optimal_policy)
register_scripted_policy("LLMTicTacToe-v0", "optimal-scan", scan_optimal_policy)
register_scripted_policy("LLMTicTacToe-v0", "optimal-forks", forks_optimal_policy)
register_scripted_policy("LLMReverseText-v0", "oracle", ReverseTextOracle)
register_scripted_policy("LLMReverseText-v0", "careless", ReverseTextCareless)
register_scripted_policy("LLMDoubleCheckMath-v0", "oracle", DoubleCheckMathOracle)
register_scripted_policy("LLMDoubleCheckMath-v0", "careless", DoubleCheckMathCareless)
register_scripted_policy("LLMToolUse-v0", "oracle", ToolUseOracle)
register_scripted_policy("LLMToolUse-v0", "careless", ToolUseCareless)

__all__ = [
    "DoubleCheckMathCareless",
    "DoubleCheckMathOracle",
    "OptimalMovePolicy",
    "RandomMovePolicy",
    "ReverseTextCareless",
    "ReverseTextOracle",
    "ScriptedPolicy",
    "ToolUseCareless",
    "ToolUseOracle",
    "make_scripted_policy",
    "play_scripted_episode",
    "register_scripted_policy",
    "scripted_policy_names",
]
