"""The chat rollout loop, records and summaries, driven by scripted and fake policies."""

from __future__ import annotations

import asyncio
import json
from typing import Any, ClassVar

import gymnasium as gym
import pytest

from adapters.policies.base import PolicyReply
from adapters.policies.openai_compat import OpenAICompatiblePolicy
from adapters.policies.scripted import ScriptedChatPolicy
from adapters.records import EpisodeRecord, append_record, read_records
from adapters.rollout import EpisodeJob, run_episode, run_episode_sync, run_episodes
from adapters.summary import pass_at_k, summarize
from llm_gym.spaces import text_space

OPTIMAL_OPPONENT = {"min_random_move_prob": 0.0, "max_random_move_prob": 0.0}


class FixedReplies:
    """Replies from a list, in order (then repeats the last)."""

    def __init__(self, *replies: str):
        self.replies = list(replies)
        self.name = "fixed"
        self.seen: list[list[dict]] = []

    async def reply(self, messages, *, tools=None, info=None):
        self.seen.append([dict(m) for m in messages])
        text = self.replies.pop(0) if len(self.replies) > 1 else self.replies[0]
        return PolicyReply(text=text, prompt_tokens=10, completion_tokens=len(text))


def test_optimal_player_draws_the_optimal_opponent_and_record_is_consistent():
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal")
    record = run_episode_sync("LLMTicTacToe-v0", policy, seed=3, env_kwargs=OPTIMAL_OPPONENT)
    assert record.outcome == "draw"
    assert record.error is None
    assert record.total_reward == pytest.approx(sum(t.reward for t in record.turns))
    weighted = sum(record.reward_weights[k] * v for k, v in record.reward_components.items())
    assert record.total_reward == pytest.approx(weighted)
    roles = [m["role"] for m in record.messages]
    assert roles[:2] == ["system", "user"]
    assert roles[2:] == ["assistant", "user"] * (len(record.turns) - 1) + ["assistant"]
    assert "Game over" in record.final_observation


def test_malformed_and_empty_replies_are_penalised_not_raised():
    policy = FixedReplies("", "I would like the centre please", "<move>99</move>")
    record = run_episode_sync("LLMTicTacToe-v0", policy, seed=0, env_kwargs={"max_turns": 3})
    assert record.outcome == "truncated"
    assert record.invalid_actions == 3
    assert record.reward_components["invalid_move"] < 0
    assert record.completion_tokens == sum(len(t.action) for t in record.turns)
    # the feedback on the bad reply is what the policy saw next
    assert "Invalid reply" in policy.seen[1][-1]["content"]


def test_policy_errors_raise_or_are_recorded():
    class Broken:
        name = "broken"

        async def reply(self, messages, *, tools=None, info=None):
            raise ConnectionError("server went away")

    with pytest.raises(ConnectionError):
        run_episode_sync("LLMTicTacToe-v0", Broken(), seed=0)
    record = run_episode_sync("LLMTicTacToe-v0", Broken(), seed=0, record_errors=True)
    assert record.error == "ConnectionError: server went away"
    assert record.outcome is None
    assert record.turns == []


async def test_run_episodes_bounds_concurrency_and_keeps_job_order():
    in_flight = peak = 0
    inner = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")

    class Slow:
        name = "slow"

        async def reply(self, messages, *, tools=None, info=None):
            nonlocal in_flight, peak
            in_flight += 1
            peak = max(peak, in_flight)
            await asyncio.sleep(0.002)
            in_flight -= 1
            return await inner.reply(messages, info=info)

    finished = []
    jobs = [EpisodeJob("LLMTicTacToe-v0", seed, rollout) for seed in range(5) for rollout in (0, 1)]
    records = await run_episodes(jobs, Slow(), concurrency=3, on_record=finished.append)
    assert peak == 3
    assert [r.key for r in records] == [(j.seed, j.rollout) for j in jobs]
    assert sorted(r.key for r in finished) == sorted(r.key for r in records)


def test_same_seed_same_actions_same_record():
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random")
    a = run_episode_sync("LLMTicTacToe-v0", policy, seed=11)
    b = run_episode_sync("LLMTicTacToe-v0", policy, seed=11)
    assert a.messages == b.messages
    assert [t.reward for t in a.turns] == [t.reward for t in b.turns]


def test_records_round_trip_and_a_torn_last_line_is_skipped(tmp_path):
    policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal")
    path = tmp_path / "results.jsonl"
    records = [run_episode_sync("LLMTicTacToe-v0", policy, seed=s) for s in range(3)]
    for record in records:
        append_record(path, record)
    with open(path, "a") as handle:
        handle.write('{"env_id": "LLMTic')  # a run killed mid-write
    back = list(read_records(path))
    assert [r.to_dict() for r in back] == [r.to_dict() for r in records]
    line = json.loads(path.read_text().splitlines()[0])
    assert line["completion_tokens"] == records[0].completion_tokens


def record(seed: int, rollout: int, outcome: str, reward: float = 0.0) -> EpisodeRecord:
    return EpisodeRecord(
        env_id="E",
        env_kwargs={},
        seed=seed,
        rollout=rollout,
        policy="p",
        messages=[],
        turns=[],
        final_observation="",
        total_reward=reward,
        reward_components={"win": reward},
        reward_weights={"win": 1.0},
        outcome=outcome,
        metrics={},
        terminated=True,
        truncated=False,
        wall_time_s=0.0,
    )


def test_pass_at_k_values():
    records = [
        record(0, 0, "win", 1.0),
        record(0, 1, "loss"),
        record(0, 2, "loss"),
        record(0, 3, "win", 1.0),
        *(record(1, r, "loss") for r in range(4)),
    ]
    summary = summarize(records)
    # seed 0: 2 of 4 win; seed 1: none
    assert summary.pass_at_k[1] == pytest.approx((0.5 + 0.0) / 2)
    assert summary.pass_at_k[2] == pytest.approx((1 - 1 / 6 + 0.0) / 2)
    assert summary.pass_at_k[4] == pytest.approx((1.0 + 0.0) / 2)
    assert summary.outcome_rates == {"loss": 0.75, "win": 0.25}
    assert summary.total_reward_mean == pytest.approx(0.25)
    assert pass_at_k(5, 0, 3) == 0.0
    assert pass_at_k(5, 3, 3) == 1.0


def test_summary_skips_failed_rows_but_counts_them():
    failed = record(2, 0, "win", 1.0)
    failed.error = "RateLimitError"
    summary = summarize([record(0, 0, "win", 1.0), record(1, 0, "draw", 0.5), failed])
    assert (summary.episodes, summary.errors) == (2, 1)
    assert summary.outcome_rates == {"draw": 0.5, "win": 0.5}


TOOLS = [
    {
        "type": "function",
        "function": {
            "name": "lookup",
            "description": "Look a key up.",
            "parameters": {"type": "object", "properties": {"key": {"type": "string"}}},
        },
    }
]


class LookupEnv(gym.Env[str, str]):
    """A tiny tool env: call ``lookup`` through ``<tool_call>``, then ``<answer>`` its value."""

    metadata: ClassVar[dict[str, Any]] = {"render_modes": []}

    def __init__(self):
        self.observation_space = text_space(200)
        self.action_space = text_space(200)

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        info = {"system_prompt": "Use tools.", "tools": TOOLS, "role": "user"}
        info["reward_weights"] = {"correct": 1.0}
        return "What is stored under 'x'?", info

    def step(self, action):
        if "<tool_call>" in action:
            body = action.split("<tool_call>")[1].split("</tool_call>")[0]
            call = json.loads(body)
            result = "42" if call["arguments"].get("key") == "x" else "missing"
            info = {"role": "tool", "reward_components": {"correct": 0.0}}
            return result, 0.0, False, False, info
        correct = "<answer>42</answer>" in action
        info = {
            "role": "user",
            "reward_components": {"correct": float(correct)},
            "outcome": "correct" if correct else "incorrect",
        }
        return "done", float(correct), True, False, info


gym.register("TestLookup-v0", entry_point=LookupEnv)


async def test_native_tool_calls_through_a_whole_episode():
    import openai
    import openai._base_client as openai_base

    httpx = getattr(openai_base, "httpx2", None) or openai_base.httpx
    bodies = []
    call = {
        "id": "c1",
        "type": "function",
        "function": {"name": "lookup", "arguments": '{"key": "x"}'},
    }
    answers = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "assistant", "content": "<answer>42</answer>"},
    ]

    def handler(request):
        bodies.append(json.loads(request.content))
        message = answers[len(bodies) - 1]
        return httpx.Response(
            200,
            json={
                "id": "x",
                "object": "chat.completion",
                "created": 0,
                "model": "m",
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            },
        )

    client = openai.AsyncOpenAI(
        base_url="http://t.invalid/v1",
        api_key="k",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    policy = OpenAICompatiblePolicy("m", client=client)
    result = await run_episode("TestLookup-v0", policy, seed=0)
    assert result.outcome == "correct"
    assert result.turns[0].action.startswith('<tool_call>{"name": "lookup"')
    assert result.turns[0].role == "tool"
    assert bodies[0]["tools"] == TOOLS
    assert bodies[1]["messages"][-1] == {"role": "tool", "tool_call_id": "c1", "content": "42"}


async def test_native_tool_calls_drive_llm_tool_use():
    import openai
    import openai._base_client as openai_base

    httpx = getattr(openai_base, "httpx2", None) or openai_base.httpx
    bodies = []
    call = {
        "id": "call_sql",
        "type": "function",
        "function": {"name": "run_sql", "arguments": '{"query": "SELECT COUNT(*) FROM products"}'},
    }
    answers = [
        {"role": "assistant", "content": None, "tool_calls": [call]},
        {"role": "assistant", "content": "<answer>0</answer>"},
    ]

    def handler(request):
        bodies.append(json.loads(request.content))
        message = answers[min(len(bodies), len(answers)) - 1]
        choice = {"index": 0, "message": message, "finish_reason": "stop"}
        body = {"id": "x", "object": "chat.completion", "created": 0, "model": "m"}
        return httpx.Response(200, json={**body, "choices": [choice]})

    client = openai.AsyncOpenAI(
        base_url="http://t.invalid/v1",
        api_key="k",
        http_client=httpx.AsyncClient(transport=httpx.MockTransport(handler)),
    )
    policy = OpenAICompatiblePolicy("m", client=client)
    result = await run_episode("LLMToolUse-v0", policy, seed=0)
    first = result.turns[0]
    assert not first.invalid_action, first.observation
    assert first.role == "tool" and "<tool_result" in first.observation
    assert "run_sql" in [t["function"]["name"] for t in bodies[0]["tools"]]
    tool_message = bodies[1]["messages"][-1]
    assert tool_message["role"] == "tool" and tool_message["tool_call_id"] == "call_sql"
    assert tool_message["content"] == first.observation
    assert result.outcome in {"correct", "incorrect"}
