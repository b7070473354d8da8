"""Training rows under ``--context last``: each prompt is the system prompt and the env's latest
message (what evaluation with the same context shows), each completion the teacher's reply."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.policies import ScriptedChatPolicy
from adapters.policies.base import PolicyReply
from adapters.training.dagger import collect_dagger_rows_sync
from adapters.training.sft_cover import generate_cover_data_sync
from adapters.training.sft_data import generate_sft_data_sync, position_example
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS
from llm_gym.games import tictactoe as ttt

ENV = "LLMTicTacToe-v0"
runner = CliRunner()


class LowestCell:
    """A student that always plays the lowest free cell: often not value-optimal."""

    name = "lowest"

    async def reply(self, messages, *, tools=None, info=None) -> PolicyReply:
        return PolicyReply(text=f"<move>{ttt.legal_moves(info['board'])[0]}</move>")


def teacher() -> ScriptedChatPolicy:
    return ScriptedChatPolicy.for_env(ENV, "optimal")


def read_rows(path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def sft_data(tmp_path, name: str, *extra: str) -> list[dict]:
    out = tmp_path / f"{name}.jsonl"
    result = runner.invoke(app, ["sft-data", ENV, "-o", str(out), "-n", "6", *extra])
    assert result.exit_code == 0, result.output
    return read_rows(out)


def test_position_example_keeps_only_what_the_context_shows():
    prompt = [
        {"role": "system", "content": "rules"},
        {"role": "user", "content": "board 1"},
        {"role": "assistant", "content": "<move>4</move>"},
        {"role": "user", "content": "board 2"},
    ]
    reply = {"role": "assistant", "content": "<move>0</move>"}
    row = position_example(prompt, reply, env_id=ENV, turn=1, context="last")
    assert row["prompt"] == [prompt[0], prompt[-1]]
    assert row["completion"] == [reply]
    assert position_example(prompt, reply, env_id=ENV, turn=1)["prompt"] == prompt


def test_sft_data_position_rows_under_last_hold_the_system_prompt_and_the_latest_board(tmp_path):
    full = sft_data(tmp_path, "full", "--rows", "position")
    last = sft_data(tmp_path, "last", "--rows", "position", "--context", "last")
    assert len(last) == len(full) > 6  # the same games, one row per teacher reply
    for short, whole in zip(last, full, strict=True):
        assert short["prompt"] == [whole["prompt"][0], whole["prompt"][-1]]
        assert [m["role"] for m in short["prompt"]] == ["system", "user"]
        assert short["completion"] == whole["completion"]
        assert (short["board"], short["side"], short["turn"]) == (
            whole["board"],
            whole["side"],
            whole["turn"],
        )
    assert any(len(whole["prompt"]) > 2 for whole in full)
    assert {row["context"] for row in last} == {"last"} and {row["context"] for row in full} == {
        "full"
    }


def test_sft_data_episode_rows_cannot_show_last(tmp_path):
    for rows in ([], ["--rows", "episode"]):
        result = runner.invoke(
            app,
            ["sft-data", ENV, "-o", str(tmp_path / "x.jsonl"), *rows, "--context", "last"],
            env={"COLUMNS": "200"},
        )
        assert result.exit_code == 2
        assert "--rows position" in result.output
    with pytest.raises(ValueError, match="episode rows"):
        generate_sft_data_sync(ENV, teacher(), episodes=1, output=None, context="last")


def test_cover_rows_under_last_are_the_distinct_visible_prompts():
    settings = {"random": OPPONENT_SETTINGS["random"]}
    full = generate_cover_data_sync(ENV, teacher(), settings=settings, output=None, rows="position")
    last = generate_cover_data_sync(
        ENV, teacher(), settings=settings, output=None, rows="position", context="last"
    )
    prompts = [json.dumps(row["prompt"]) for row in last.examples]
    assert len(set(prompts)) == len(prompts) == last.teacher_calls < full.teacher_calls
    assert all(len(row["prompt"]) == 2 for row in last.examples)
    assert {json.dumps(row["prompt"][-1]) for row in full.examples} == {
        json.dumps(row["prompt"][-1]) for row in last.examples
    }
    assert last.coverage["random"].share == 1.0
    assert sum(row["weights"]["random"] for row in last.examples) == pytest.approx(
        sum(row["weights"]["random"] for row in full.examples)
    )


def test_dagger_rows_under_last_prompt_the_latest_board_only():
    settings = {"random": OPPONENT_SETTINGS["random"]}
    full = collect_dagger_rows_sync(LowestCell(), teacher(), settings=settings)
    last = collect_dagger_rows_sync(LowestCell(), teacher(), settings=settings, context="last")
    by_position = {(row["side"], row["board"]): row for row in full.rows}
    assert {(row["side"], row["board"]) for row in last.rows} == set(by_position)
    assert last.rows and last.decisions == last.student_calls < full.decisions
    for row in last.rows:
        whole = by_position[row["side"], row["board"]]
        assert [m["role"] for m in row["prompt"]] == ["system", "user"]
        assert row["prompt"][0] == whole["prompt"][0]
        assert ttt.render_board(row["board"]) in row["prompt"][-1]["content"]
        assert row["completion"] == whole["completion"]
        assert row["reasons"] == whole["reasons"]
        assert (row["context"], whole["context"]) == ("last", "full")


def test_dagger_cli_under_last_and_a_recorded_student_keeps_its_context(tmp_path):
    run_dir = tmp_path / "run"
    record = ["eval", ENV, "--exact", "--opponent", "random", "-m", "scripted:random"]
    result = runner.invoke(app, [*record, "--context", "last", "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    rows = {}
    for name, student, extra in (
        ("live", "scripted:random", ["--context", "last"]),
        ("recorded", f"recorded:{run_dir}", []),
    ):
        out = tmp_path / f"{name}.jsonl"
        dagger = ["dagger", ENV, "--student", student, "--opponent", "random", "-o", str(out)]
        result = runner.invoke(app, [*dagger, *extra])
        assert result.exit_code == 0, result.output
        rows[name] = read_rows(out)
    assert rows["live"] and rows["live"] == rows["recorded"]
    assert all(len(row["prompt"]) == 2 for row in rows["recorded"])
    student = f"recorded:{run_dir}"
    explicit = ["dagger", ENV, "--student", student, "-o", str(tmp_path / "x.jsonl")]
    result = runner.invoke(app, [*explicit, "--context", "full"], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "recorded with --context last" in result.output
