"""`llm-gym replay` and `rescore` on real saved runs: untouched, edited, under a changed env."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import (
    METADATA_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalConfig,
    EvalSetting,
    OutputExistsError,
    evaluate_sync,
)
from adapters.policies.factory import PolicySpec
from adapters.policies.scripted import ScriptedChatPolicy
from adapters.records import read_records
from adapters.replay import replay_run
from adapters.rescore import rescore_run
from llm_gym.envs import tictactoe

runner = CliRunner()


def saved_run(root: Path, env_id: str, player: str, **config) -> Path:
    output = root / env_id
    evaluate_sync(
        EvalConfig(env_id, PolicySpec(model=f"scripted:{player}"), **config),
        ScriptedChatPolicy.for_env(env_id, player),
        output=output,
    )
    return output


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("runs")
    return {
        "tictactoe": saved_run(
            root,
            "LLMTicTacToe-v0",
            "random",
            settings=[
                EvalSetting("weak", {"min_random_move_prob": 1.0}),
                EvalSetting("strong", {"max_random_move_prob": 0.0}),
            ],
            num_examples=6,
        ),
        "tools": saved_run(root, "LLMToolUse-v0", "careless", num_examples=4),
    }


@pytest.fixture
def run_copy(runs, tmp_path) -> Path:
    return Path(shutil.copytree(runs["tictactoe"], tmp_path / "run"))


def edit_row(run: Path, row: int, edit) -> None:
    path = run / RESULTS_FILE
    lines = path.read_text(encoding="utf-8").splitlines()
    data = json.loads(lines[row])
    edit(data)
    lines[row] = json.dumps(data)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")


def records(run: Path):
    return list(read_records(run / RESULTS_FILE))


@pytest.mark.parametrize("name", ["tictactoe", "tools"])
def test_an_untouched_run_replays_without_mismatch(runs, name):
    report = replay_run(runs[name])
    assert report.matches, [m.describe() for m in report.mismatches]
    assert report.rows == len(records(runs[name])) > 0
    result = runner.invoke(app, ["replay", str(runs[name])])
    assert result.exit_code == 0, result.output
    assert "every one matches" in result.output


def test_edited_rows_are_reported_with_their_row_turn_and_field(run_copy):
    def inflate_second_turn(data):
        data["turns"][1]["reward"] += 1.0
        data["outcome"] = "win"

    saved = records(run_copy)
    multi_turn = [row for row, r in enumerate(saved) if len(r.turns) >= 2]
    edit_row(run_copy, multi_turn[0], inflate_second_turn)
    report = replay_run(run_copy)
    assert {(m.row, m.turn, m.field) for m in report.mismatches} == {
        (multi_turn[0], 2, "reward"),
        *(() if saved[multi_turn[0]].outcome == "win" else [(multi_turn[0], None, "outcome")]),
    }
    result = runner.invoke(app, ["replay", str(run_copy)])
    assert result.exit_code == 1
    assert f"row {multi_turn[0]} (seed {saved[multi_turn[0]].seed}" in result.output
    assert "1 differ" in result.output


def test_an_edited_reply_shows_up_as_the_observation_it_no_longer_gives(run_copy):
    saved = records(run_copy)
    row = next(i for i, r in enumerate(saved) if len(r.turns) >= 2)
    legal = re.search(r"Legal moves: ([0-9, ]+)\.", saved[row].messages[1]["content"]).group(1)
    played = re.search(r"<move>(\d)</move>", saved[row].turns[0].action).group(1)
    other = next(cell for cell in legal.split(", ") if cell != played)

    def change_first_reply(data):
        data["turns"][0]["action"] = f"<move>{other}</move>"

    edit_row(run_copy, row, change_first_reply)
    mismatches = replay_run(run_copy).mismatches
    assert {m.row for m in mismatches} == {row}
    assert (mismatches[0].turn, mismatches[0].field) == (1, "observation")
    assert f"You played cell {other}." in mismatches[0].replayed


def test_a_changed_env_is_caught_then_rescored(runs, tmp_path, monkeypatch):
    run = runs["tictactoe"]
    saved = records(run)
    draws = {row for row, r in enumerate(saved) if r.outcome == "draw"}
    assert draws and len(draws) < len(saved)
    monkeypatch.setitem(tictactoe.WIN_REWARD, "draw", 0.25)

    report = replay_run(run)
    assert {m.row for m in report.mismatches} == draws
    last_turn = {row: len(saved[row].turns) for row in draws}
    assert {(m.row, m.turn, m.field) for m in report.mismatches} == {
        (row, turn, field)
        for row in draws
        for turn, field in [
            (last_turn[row], "reward"),
            (last_turn[row], "reward_components"),
            (None, "total_reward"),
            (None, "reward_components"),
        ]
    }

    result = rescore_run(run, tmp_path / "rescored")
    assert {change.row for change in result.changes} == draws
    assert all(c.new_reward == pytest.approx(c.saved_reward - 0.25) for c in result.changes)
    for label, before in result.saved_summaries.items():
        after = result.new_summaries[label]
        draw_rate = before.outcome_rates.get("draw", 0.0)
        assert after.total_reward_mean == pytest.approx(before.total_reward_mean - 0.25 * draw_rate)
        assert after.outcome_rates == before.outcome_rates
    summary = json.loads((tmp_path / "rescored" / SUMMARY_FILE).read_text())
    assert summary["settings"]["strong"]["total_reward"]["mean"] == pytest.approx(
        result.new_summaries["strong"].total_reward_mean
    )
    metadata = json.loads((tmp_path / "rescored" / METADATA_FILE).read_text())
    assert metadata["rescored"]["from"] == str(run)
    assert metadata["settings"] == json.loads((run / METADATA_FILE).read_text())["settings"]
    assert replay_run(tmp_path / "rescored").matches  # the new run is what the changed env gives

    monkeypatch.undo()
    assert {m.row for m in replay_run(tmp_path / "rescored").mismatches} == draws


def test_rescore_with_the_same_env_changes_nothing(runs, tmp_path):
    result = rescore_run(runs["tools"], tmp_path / "same")
    assert result.changes == []
    for label, before in result.saved_summaries.items():
        assert result.new_summaries[label].as_dict() == before.as_dict()
    assert [r.to_dict() for r in records(tmp_path / "same")] == [
        r.to_dict() for r in records(runs["tools"])
    ]


def test_a_row_missing_replies_is_an_error_row_in_the_rescore(run_copy, tmp_path):
    saved = records(run_copy)
    row = next(i for i, r in enumerate(saved) if len(r.turns) >= 2)

    def drop_last_turn(data):
        data["turns"].pop()

    edit_row(run_copy, row, drop_last_turn)
    mismatches = replay_run(run_copy).mismatches
    assert [(m.row, m.turn, m.field) for m in mismatches] == [(row, None, "replay")]
    assert "RepliesExhaustedError" in mismatches[0].replayed

    result = rescore_run(run_copy, tmp_path / "rescored")
    (change,) = result.changes
    assert change.row == row and "RepliesExhaustedError" in change.note
    rescored = records(tmp_path / "rescored")
    assert rescored[row].error is not None
    assert sum(s.episodes for s in result.new_summaries.values()) == len(saved) - 1


def test_rescore_never_writes_over_a_run(runs, tmp_path):
    with pytest.raises(ValueError, match="must differ from RUN_DIR"):
        rescore_run(runs["tools"], runs["tools"])
    rescore_run(runs["tools"], tmp_path / "out")
    with pytest.raises(OutputExistsError, match="--overwrite"):
        rescore_run(runs["tools"], tmp_path / "out")
    rescore_run(runs["tools"], tmp_path / "out", overwrite=True)
    result = runner.invoke(app, ["rescore", str(runs["tools"]), "-o", str(tmp_path / "out")])
    assert result.exit_code == 2
    result = runner.invoke(app, ["replay", str(tmp_path / "none")], env={"COLUMNS": "200"})
    assert result.exit_code == 2
    assert "results.jsonl not found" in result.output


def test_rescore_command_shows_what_changed(runs, tmp_path, monkeypatch):
    monkeypatch.setitem(tictactoe.WIN_REWARD, "draw", 0.25)
    result = runner.invoke(
        app,
        ["rescore", str(runs["tictactoe"]), "-o", str(tmp_path / "new")],
        env={"COLUMNS": "200"},
    )
    assert result.exit_code == 0, result.output
    assert "saved -> rescored" in result.output
    assert "rows changed" in result.output
    assert "draw -> draw" in result.output
    assert (tmp_path / "new" / RESULTS_FILE).exists()
