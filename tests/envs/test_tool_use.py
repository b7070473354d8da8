import json
import pickle
import warnings

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.utils.env_checker import check_env

import llm_gym  # noqa: F401
from llm_gym.envs.tool_use import ToolUseEnv
from llm_gym.policies import make_scripted_policy, play_scripted_episode
from llm_gym.policies.tool_use import tool_call

ENV_ID = "LLMToolUse-v0"


def test_check_env_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(gym.make(ENV_ID).unwrapped)


def test_tools_are_openai_schemas_on_the_env_and_a_fresh_copy_in_info():
    env = ToolUseEnv()
    _, info = env.reset(seed=0)
    names = [t["function"]["name"] for t in env.tools]
    assert names == ["list_tables", "describe_table", "run_sql", "calculator"]
    assert info["tools"] == env.tools and info["tools"] is not env.tools
    assert all(
        t["type"] == "function" and t["function"]["parameters"]["type"] == "object"
        for t in env.tools
    )
    info["tools"][0]["function"]["name"] = "changed"
    assert env.reset(seed=0)[1]["tools"][0]["function"]["name"] == "list_tables"


def test_determinism_and_pickle_mid_episode():
    a, b = ToolUseEnv(), ToolUseEnv()
    assert a.reset(seed=4) == b.reset(seed=4)
    call = tool_call("run_sql", {"query": "SELECT COUNT(*), SUM(price) FROM products"})
    assert a.step(call) == b.step(call)
    clone = pickle.loads(pickle.dumps(a))
    assert clone.step(call) == a.step(call)
    assert clone.step("<answer>1</answer>") == a.step("<answer>1</answer>")


def test_oracle_earns_the_maximum_and_careless_clearly_less():
    env = gym.make(ENV_ID)
    oracle = make_scripted_policy(ENV_ID, "oracle")
    careless = make_scripted_policy(ENV_ID, "careless")
    results = [play_scripted_episode(env, oracle, s) for s in range(200)]
    assert [score for score, _ in results] == [pytest.approx(1.2)] * 200
    assert all(info["metrics"]["tool_calls"] == 1 for _, info in results)
    sloppy = [play_scripted_episode(env, careless, s)[0] for s in range(200)]
    assert np.mean(sloppy) < 0.8


def test_protocol_errors_are_explained_penalised_and_play_continues():
    env = ToolUseEnv(max_turns=6)
    env.reset(seed=1)
    replies = [
        '<tool_call>{"name": "run_sql", "arguments": </tool_call>',
        tool_call("drop_everything", {}),
        tool_call("run_sql", {"sql": "SELECT 1"}),
        tool_call("run_sql", {"query": "SELECT * FROM nowhere"}),
        tool_call("calculator", {"expression": "__import__('os')"}),
    ]
    expected = [
        "not valid JSON",
        "unknown tool",
        "unknown argument",
        "no such table",
        "not allowed",
    ]
    for reply, text in zip(replies, expected, strict=True):
        obs, _, terminated, truncated, info = env.step(reply)
        assert text in obs and not terminated and not truncated
        assert info["role"] == "tool" and info["tool_results"][0]["error"]
        assert info["reward_components"]["tool_error"] == pytest.approx(-0.05)
    obs, _, terminated, truncated, info = env.step(tool_call("list_tables", {}))
    assert truncated and not terminated and info["outcome"] == "truncated"
    assert info["metrics"]["tool_calls"] == 6 and info["metrics"]["tool_errors"] == 5


def test_calls_and_answer_together_or_neither_are_invalid():
    env = ToolUseEnv()
    env.reset(seed=2)
    obs, _, terminated, _, info = env.step(tool_call("list_tables", {}) + "<answer>3</answer>")
    assert info["invalid_action"] and info["role"] == "user" and not terminated
    assert "do one or the other" in obs
    obs, *_, info = env.step("I do not know")
    assert info["invalid_action"] and "<tool_call>" in obs


def test_several_calls_in_one_reply_come_back_in_order_and_are_capped():
    env = ToolUseEnv(max_calls_per_turn=2)
    env.reset(seed=3)
    reply = "\n".join(tool_call("calculator", {"expression": e}) for e in ("1+1", "2*3", "7"))
    obs, reward, *_, info = env.step(reply)
    contents = [r["content"] for r in info["tool_results"]]
    assert contents[:2] == ["2", "6"] and "at most 2" in contents[2]
    assert obs.index(">\n2\n<") < obs.index(">\n6\n<")
    assert reward == pytest.approx(0.2 - 0.05)


@pytest.mark.parametrize("difficulty", ["easy", "medium", "hard"])
def test_answers_are_compared_as_numbers_within_tolerance(difficulty):
    env = ToolUseEnv(difficulty=difficulty)
    for seed in range(40):
        _, info = env.reset(seed=seed)
        truth = info["reference_answer"]
        try:
            value = float(truth)
        except ValueError:
            *_, step_info = env.step(f"<answer> {truth.upper()} </answer>")
            assert step_info["outcome"] == "correct"
            continue
        *_, step_info = env.step(f"<answer>${value:,.3f}</answer>")
        assert step_info["outcome"] == "correct"
        env.reset(seed=seed)
        *_, step_info = env.step(f"<answer>{value + 0.02:.2f}</answer>")
        assert step_info["outcome"] == "incorrect"
        env.reset(seed=seed)
        *_, step_info = env.step(f"<answer>{truth} or {value + 1}</answer>")
        assert step_info["outcome"] == "incorrect"


def test_database_is_read_only_through_the_env():
    env = ToolUseEnv(difficulty="easy")
    env.reset(seed=0)
    count = "SELECT COUNT(*) FROM orders"
    before = env.step(tool_call("run_sql", {"query": count}))[4]["tool_results"][0]["content"]
    for sql in ("DELETE FROM orders", "DROP TABLE orders", "PRAGMA query_only = OFF"):
        result = env.step(tool_call("run_sql", {"query": sql}))[4]["tool_results"][0]
        assert result["error"] and "read-only" in result["content"]
    after = env.step(tool_call("run_sql", {"query": count}))[4]["tool_results"][0]["content"]
    assert json.loads(before) == json.loads(after)


def test_render_and_invalid_arguments():
    env = ToolUseEnv(render_mode="ansi")
    env.reset(seed=0)
    assert "turn 0/8" in env.render()
    for kwargs in (
        {"max_turns": 1},
        {"difficulty": "x"},
        {"tool_error_penalty": 0.5},
        {"task": object()},
    ):
        with pytest.raises(ValueError):
            ToolUseEnv(**kwargs)
