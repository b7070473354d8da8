"""Regression tests for issue 10: hostile replies and bad arguments against every env."""

import json
import math

import gymnasium as gym
import pytest

import llm_gym  # noqa: F401
from llm_gym.envs.double_check_math import DoubleCheckMathEnv
from llm_gym.envs.reverse_text import ReverseTextEnv
from llm_gym.envs.tictactoe import TicTacToeEnv
from llm_gym.envs.tool_use import ToolUseEnv
from llm_gym.policies.tool_use import tool_call

ENV_CLASSES = [TicTacToeEnv, ReverseTextEnv, DoubleCheckMathEnv, ToolUseEnv]


@pytest.mark.parametrize("env_class", ENV_CLASSES)
def test_step_before_reset_raises_instead_of_scoring_an_empty_task(env_class):
    env = env_class()
    with pytest.raises(gym.error.ResetNeeded, match="reset"):
        env.step("<move>4</move>")


@pytest.mark.parametrize("env_class", ENV_CLASSES)
def test_a_reply_longer_than_the_action_space_is_an_explained_invalid_action(env_class):
    env = env_class()
    env.reset(seed=0)
    limit = env.action_space.max_length
    reply = "<move>4</move><reversed_text>x</reversed_text>\\boxed{1}" + " " * limit
    observation, _, _, _, info = env.step(reply)
    assert info["invalid_action"] is True
    assert f"longer than {limit} characters" in observation
    assert info["reward_components"]["format"] == 0.0


@pytest.mark.parametrize(
    ("env_class", "reply"),
    [
        (ReverseTextEnv, "<reversed_text></reversed_text>"),
        (ReverseTextEnv, "<reversed_text>   </reversed_text>"),
        (ToolUseEnv, "<answer></answer>"),
        (DoubleCheckMathEnv, "<answer></answer>"),
        (DoubleCheckMathEnv, "\\boxed{}"),
    ],
)
def test_an_empty_answer_earns_no_format_credit(env_class, reply):
    env = env_class()
    env.reset(seed=0)
    _, reward, _, _, info = env.step(reply)
    assert info["invalid_action"] is True
    assert info["reward_components"]["format"] == 0.0
    assert reward <= 0.0


def test_a_move_inside_nested_reasoning_is_not_played():
    env = TicTacToeEnv(model_plays="X")
    env.reset(seed=0)
    observation, _, _, _, info = env.step("<think>a<think>b</think><move>4</move></think>")
    assert info["invalid_action"] is True and info["board"] == "........."
    assert "never closed" not in observation


@pytest.mark.parametrize(
    ("env_class", "kwargs"),
    [
        (ToolUseEnv, {"answer_tolerance": math.inf}),
        (ToolUseEnv, {"answer_tolerance": math.nan}),
        (ToolUseEnv, {"tool_error_penalty": -math.inf}),
        (ToolUseEnv, {"tool_error_penalty": math.nan}),
        (TicTacToeEnv, {"invalid_move_penalty": math.nan}),
        (TicTacToeEnv, {"invalid_move_penalty": -math.inf}),
        (TicTacToeEnv, {"min_random_move_prob": math.nan}),
    ],
)
def test_nan_and_infinite_settings_are_refused_with_a_message(env_class, kwargs):
    (name,) = kwargs
    with pytest.raises(ValueError, match=f"{name} must be a number"):
        env_class(**kwargs)


@pytest.mark.parametrize("calls", [6, 700])
def test_tool_error_penalty_calls_and_info_are_capped_per_step(calls):
    env = ToolUseEnv(max_calls_per_turn=4, tool_error_penalty=-0.05)
    env.reset(seed=0)
    _, reward, _, _, info = env.step("<tool_call></tool_call>" * calls)
    assert len(info["tool_results"]) == 5
    assert info["reward_components"]["tool_error"] == pytest.approx(-0.05 * 5)
    assert reward >= -0.25
    assert f"{calls - 4} more tool call(s) not run" in info["tool_results"][-1]["content"]
    assert len(json.dumps(info)) < 2_000
    assert env.tool_calls == 4


def test_a_huge_unknown_tool_name_is_clipped_in_the_result_and_info():
    env = ToolUseEnv()
    env.reset(seed=0)
    _, _, _, _, info = env.step(tool_call("x" * 10_000, {}))
    (result,) = info["tool_results"]
    assert result["error"] and len(result["name"]) <= 60 and len(json.dumps(info)) < 1_000


def test_the_calculator_reports_an_overflowing_number_as_too_large():
    env = ToolUseEnv()
    env.reset(seed=0)
    _, _, _, _, info = env.step(tool_call("calculator", {"expression": "1e999 - 1"}))
    (result,) = info["tool_results"]
    assert result["error"] and "limited to" in result["content"]
    assert "the tool failed" not in result["content"]
