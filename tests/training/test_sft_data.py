"""Teacher data: the episode filter and the chat JSONL that datasets and SFTTrainer read."""

from __future__ import annotations

import json

import pytest

from adapters.policies import ScriptedChatPolicy
from adapters.records import EpisodeRecord, TurnRecord
from adapters.training.sft_data import (
    EpisodeFilter,
    default_filter,
    episode_to_example,
    generate_sft_data_sync,
)

ENV = "LLMTicTacToe-v0"


def _record(outcome: str, *, format_rate: float = 1.0, invalid: int = 0, reward: float = 1.0):
    turns = [
        TurnRecord("a", "o", "user", 0.0, {}, invalid_action=i < invalid, latency_s=0.0)
        for i in range(3)
    ]
    return EpisodeRecord(
        env_id=ENV,
        env_kwargs={},
        seed=0,
        rollout=0,
        policy="p",
        messages=[
            {"role": "system", "content": "s"},
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a"},
        ],
        turns=turns,
        final_observation="end",
        total_reward=reward,
        reward_components={"win": 1.0, "format": format_rate},
        reward_weights={"win": 1.0, "format": 0.2},
        outcome=outcome,
        metrics={"format_rate": format_rate},
        terminated=True,
        truncated=False,
        wall_time_s=0.0,
    )


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        (_record("win"), None),
        (_record("draw"), None),
        (_record("loss"), "outcome:loss"),
        (_record("truncated"), "outcome:truncated"),
        (_record("win", format_rate=0.5), "format"),
        (_record("win", invalid=1), "invalid_actions"),
    ],
)
def test_default_tictactoe_filter(record: EpisodeRecord, reason: str | None) -> None:
    assert default_filter(ENV).reason_to_drop(record) == reason


def test_filter_options_loosen_and_tighten() -> None:
    loose = EpisodeFilter(outcomes=None, min_format_rate=0.0, max_invalid_actions=None)
    assert loose.keeps(_record("loss", format_rate=0.0, invalid=3))
    strict = EpisodeFilter(outcomes=frozenset({"win"}), min_total_reward=1.1)
    assert strict.reason_to_drop(_record("win", reward=1.0)) == "total_reward"
    assert strict.reason_to_drop(_record("draw")) == "outcome:draw"


def test_example_ends_with_the_last_reply_and_keeps_chat_keys_only() -> None:
    record = _record("win")
    record.messages[-1]["reasoning"] = "hidden"
    record.messages.append({"role": "user", "content": "unanswered"})
    example = episode_to_example(record)
    assert example["messages"][-1] == {"role": "assistant", "content": "a"}
    assert [m["role"] for m in example["messages"]] == ["system", "user", "assistant"]


def test_random_teacher_data_is_filtered_and_written_as_chat_jsonl(tmp_path) -> None:
    datasets = pytest.importorskip("datasets")
    teacher = ScriptedChatPolicy.for_env(ENV, "random")
    path = tmp_path / "data.jsonl"
    report = generate_sft_data_sync(
        ENV,
        teacher,
        episodes=40,
        output=path,
        env_kwargs={"min_random_move_prob": 0.0, "max_random_move_prob": 0.0},
        records_path=tmp_path / "records.jsonl",
    )
    # a random player against the optimal opponent loses most games: those are dropped
    assert report.total == 40
    assert report.outcomes.get("loss", 0) > 0
    assert report.dropped.get("outcome:loss") == report.outcomes["loss"]
    assert report.kept == report.total - sum(report.dropped.values())
    assert set(report.kept_outcomes) <= {"win", "draw"}
    lines = path.read_text().splitlines()
    assert len(lines) == report.kept
    assert len((tmp_path / "records.jsonl").read_text().splitlines()) == 40
    rows = [json.loads(line) for line in lines]
    for row in rows:
        assert list(row) == ["messages"]
        roles = [m["role"] for m in row["messages"]]
        assert roles[0] == "system"
        assert roles[1:] == ["user", "assistant"] * ((len(roles) - 1) // 2)
    loaded = datasets.load_dataset("json", data_files=str(path), split="train")
    assert loaded.column_names == ["messages"]
    assert len(loaded) == report.kept


def test_optimal_teacher_never_loses_and_writes_its_reasoning() -> None:
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal")
    report = generate_sft_data_sync(ENV, teacher, episodes=30, output=None, seed=100)
    assert report.kept == report.total == 30
    assert "loss" not in report.outcomes
    replies = [m for e in report.examples for m in e["messages"] if m["role"] == "assistant"]
    assert all(r["content"].startswith("<think>") and "<move>" in r["content"] for r in replies)
