"""Random, huge and hostile replies against every env: nothing escapes, leaks or hangs."""

import json
import os
import time

import gymnasium as gym
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import llm_gym  # noqa: F401
from llm_gym.policies.tool_use import tool_call
from llm_gym.scoring import math_answer_matches

STEP_SECONDS = 3.0
UNCLOSED_TAG_STEP_SECONDS = 0.4
"""Per-step budget for replies of repeated unclosed tags: about a hundred times what the linear
parse needs for the longest reply, and below the 0.7-1.8 s a quadratic parse took."""

HOSTILE_SQL = [
    "INSERT INTO orders VALUES (999, 1, '2024-01-01', 'shipped')",
    "UPDATE products SET price = 0",
    "DELETE FROM customers",
    "DROP TABLE orders",
    "CREATE TABLE x(y)",
    "ATTACH DATABASE 'fuzz_attached.db' AS evil",
    "ATTACH DATABASE ':memory:' AS evil",
    "VACUUM INTO 'fuzz_vacuum.db'",
    "PRAGMA query_only = OFF",
    "PRAGMA writable_schema = ON",
    "BEGIN; DELETE FROM orders; COMMIT",
    "SELECT 1; DROP TABLE orders",
    "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) SELECT COUNT(*) FROM r",
    "WITH RECURSIVE r(x) AS (SELECT 'a' UNION ALL SELECT x || x FROM r) SELECT x FROM r",
    "SELECT * FROM order_items a, order_items b, order_items c, order_items d ORDER BY random()",
    "SELECT * FROM order_items a, order_items b",
    "SELECT randomblob(2000000000)",
    "SELECT zeroblob(900000), zeroblob(900000)",
    "SELECT load_extension('/tmp/evil.so')",
    "SELECT " + " + ".join(["1"] * 5000),
    "SELECT " + "(" * 500 + "1" + ")" * 500,
    "SELECT '" + "x" * 30000 + "'",
    "SELECT sql FROM sqlite_master",
    "SELECT printf('%.*c', 2147483647, 'x')",
    "SELECT fts3_tokenizer('simple')",
    "SELECT fts3_tokenizer('simple', x'0000000000000000')",
    "SELECT date('now'), random()",
    "SELECT COUNT(*) FROM (SELECT DISTINCT a.*, b.*, c.* FROM order_items a, order_items b, "
    "order_items c)",
]
HOSTILE_CALCULATOR = [
    "9**9**9**9", "10**10**10", "(" * 300 + "1" + ")" * 300, "__import__('os').system('touch x')",
    "[1]*10**9", "1e308*1e308", "2**-1000000", "1/0", "lambda: 1", "'a'*10**9",
]  # fmt: skip
HOSTILE_MATH = [
    "\\boxed{9^{9^{9^{9}}}}", "\\boxed{(10^{99})^{99}}", "\\boxed{100000!}",
    "\\boxed{\\sum_{i=1}^{10^9} i}", "\\boxed{" + "{" * 5000, "\\boxed{" + "1" * 5000 + "}",
    "\\boxed{" + "\\frac{1}{" * 50 + "1" + "}" * 50 + "}",
    "<answer>" * 3000, "\\boxed{\\int_0^\\infty e^{-x^2} dx}", "\\boxed{x^{2}+y^{2}}",
    "\\boxed{\\Gamma(10^{99})}", "\\boxed{\\dbinom{10^{99}}{10^{50}}}",
    "\\boxed{\\tbinom{9999999}{99999}}", "\\boxed{(a+b+c+d)^{99}}",
    "\\boxed{(\\sqrt{2}+\\sqrt{3}+\\sqrt{5})^{99}}",
]  # fmt: skip
UNCLOSED_TAGS = ["<think>", "<move>", "<answer>", "<reversed_text>", "<tool_call>", "\\boxed{",
                 "<think><move>", "<tool_call><answer>", "</think>", "<THINK>"]  # fmt: skip
TAGS = ["<think>", "</think>", "<move>", "</move>", "<answer>", "</answer>", "<reversed_text>",
        "</reversed_text>", "<tool_call>", "</tool_call>", "\\boxed{", "}", "{", "\n"]  # fmt: skip


def tool_json(name, arguments):
    return tool_call(name, arguments)


random_text = st.text(max_size=300)
tag_soup = st.lists(st.one_of(st.sampled_from(TAGS), st.text(max_size=20)), max_size=60).map(
    "".join
)
huge = st.builds(
    lambda s, n: (s or "x") * n, st.text(min_size=1, max_size=5), st.integers(1000, 5000)
)
hostile_calls = st.one_of(
    st.sampled_from(HOSTILE_SQL).map(lambda q: tool_json("run_sql", {"query": q})),
    st.sampled_from(HOSTILE_CALCULATOR).map(lambda e: tool_json("calculator", {"expression": e})),
    st.builds(
        lambda name, args: (
            "<tool_call>" + json.dumps({"name": name, "arguments": args}) + "</tool_call>"
        ),
        st.text(max_size=20),
        st.dictionaries(
            st.text(max_size=10),
            st.one_of(
                st.none(), st.integers(), st.text(max_size=30), st.lists(st.integers(), max_size=3)
            ),
            max_size=3,
        ),
    ),
    st.just("<tool_call>" + "[" * 20_000 + "</tool_call>"),
    st.just(
        "<tool_call>"
        + json.dumps({"name": "run_sql", "arguments": json.dumps({"query": "SELECT 1"})})
        + "</tool_call>"
    ),
    st.lists(
        st.sampled_from(HOSTILE_SQL).map(lambda q: tool_json("run_sql", {"query": q})),
        min_size=2,
        max_size=8,
    ).map("".join),
)
replies = st.one_of(random_text, tag_soup, huge, hostile_calls, st.sampled_from(HOSTILE_MATH))

ENV_IDS = ["LLMTicTacToe-v0", "LLMReverseText-v0", "LLMDoubleCheckMath-v0", "LLMToolUse-v0"]


def database_dump(env):
    """Every row of every table, read with plain SELECTs (the only statements allowed)."""
    connection = env.unwrapped._episode.functions[0].__self__.database._connection
    tables = [r[0] for r in connection.execute("SELECT name FROM sqlite_master ORDER BY name")]
    return {t: connection.execute(f'SELECT * FROM "{t}" ORDER BY rowid').fetchall() for t in tables}


@pytest.fixture(scope="module", autouse=True)
def imports_done_before_timing():
    """Step budgets time the step, not the one-time import of sympy behind math-verify."""
    math_answer_matches("1", "1")


@pytest.mark.parametrize("env_id", ENV_IDS)
@settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(actions=st.lists(replies, min_size=1, max_size=6), seed=st.integers(0, 2**31))
def test_hostile_replies_never_escape_or_hang(env_id, actions, seed, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = gym.make(env_id).unwrapped
    observation, _ = env.reset(seed=seed)
    before = database_dump(env) if env_id == "LLMToolUse-v0" else None
    for action in actions:
        start = time.monotonic()
        observation, reward, terminated, truncated, info = env.step(action)
        assert time.monotonic() - start < STEP_SECONDS
        assert env.observation_space.contains(observation)
        assert isinstance(reward, float) and isinstance(info["reward_components"], dict)
        if before is not None and not (terminated or truncated):
            assert database_dump(env) == before
        if terminated or truncated:
            break
    assert os.listdir(tmp_path) == []


def test_hostile_sql_never_touches_files_or_other_episodes(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    bystander = gym.make("LLMToolUse-v0", max_turns=200).unwrapped
    bystander.reset(seed=1)
    bystander_dump = database_dump(bystander)
    env = gym.make("LLMToolUse-v0", max_turns=200, max_calls_per_turn=50).unwrapped
    env.reset(seed=1)
    own_dump = database_dump(env)
    assert own_dump == bystander_dump
    results = []
    for query in HOSTILE_SQL:
        start = time.monotonic()
        *_, info = env.step(tool_json("run_sql", {"query": query}))
        assert time.monotonic() - start < STEP_SECONDS
        results += info["tool_results"]
    assert all(r["error"] for r in results[:15]), [r["content"] for r in results[:15]]
    assert json.loads(results[15]["content"])["truncated"] is True
    assert all(r["error"] for r in results[-5:]), [r["content"] for r in results[-5:]]
    assert all(len(r["content"]) <= 4100 for r in results)
    assert database_dump(env) == own_dump and database_dump(bystander) == bystander_dump
    assert os.listdir(tmp_path) == []
    assert not any(
        os.path.exists(p) for p in ("/tmp/evil.so", "fuzz_attached.db", "fuzz_vacuum.db")
    )


@pytest.mark.parametrize("query", HOSTILE_SQL[:12])
def test_each_write_or_file_attempt_is_refused(query, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    env = gym.make("LLMToolUse-v0").unwrapped
    env.reset(seed=2)
    (result,) = env.step(tool_json("run_sql", {"query": query}))[4]["tool_results"]
    assert result["error"], result
    assert os.listdir(tmp_path) == []


def repeated_to_length(unit: str, length: int) -> str:
    return unit * (length // len(unit))


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize("tag", UNCLOSED_TAGS)
def test_repeated_unclosed_tags_up_to_the_action_space_keep_each_step_cheap(env_id, tag):
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    reply = repeated_to_length(tag, env.action_space.max_length)
    env.step("<think>warm up</think>")  # first-call imports are not the parser's cost
    env.reset(seed=0)
    start = time.perf_counter()
    *_, info = env.step(reply)
    assert time.perf_counter() - start < UNCLOSED_TAG_STEP_SECONDS
    assert info["invalid_action"] is True


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_a_reply_far_beyond_the_action_space_is_refused_in_bounded_time(env_id):
    env = gym.make(env_id).unwrapped
    env.reset(seed=0)
    start = time.perf_counter()
    observation, *_, info = env.step("<think>" * 3_000_000)
    assert time.perf_counter() - start < UNCLOSED_TAG_STEP_SECONDS
    assert info["invalid_action"] is True and "are not read" in observation
