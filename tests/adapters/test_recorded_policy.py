"""recorded:RUN_DIR replays a saved greedy run: same exact results and DAgger rows, no model."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.exact import MemoPolicy, walk_sync
from adapters.policies.factory import PolicySpec, make_policy
from adapters.policies.recorded import ConversationNotRecordedError, RecordedChatPolicy
from adapters.rollout import run_sync

ENV_ID = "LLMTicTacToe-v0"
runner = CliRunner()


@pytest.fixture(scope="module")
def exact_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("exact-random-player")
    command = ["eval", ENV_ID, "--exact", "--opponent", "random", "-m", "scripted:random"]
    result = runner.invoke(app, [*command, "-o", str(run_dir)])
    assert result.exit_code == 0, result.output
    return run_dir


def test_recorded_policy_gives_the_walk_of_the_recorded_player(exact_run) -> None:
    recorded = make_policy(PolicySpec(model=f"recorded:{exact_run}"), env_id=ENV_ID)
    assert isinstance(recorded, RecordedChatPolicy)
    memo = MemoPolicy(recorded)
    games = walk_sync(ENV_ID, memo, env_kwargs={"min_random_move_prob": 1.0})
    summary = json.loads((exact_run / "summary.json").read_text())
    assert memo.calls == summary["model_calls"] == len(recorded)
    win = sum(g.probability for g in games if g.outcome == "win")
    assert win == pytest.approx(summary["settings"]["random"]["outcome_rates"]["win"])


def test_dagger_on_a_recorded_student_equals_dagger_on_the_student(exact_run, tmp_path) -> None:
    rows = {}
    for name, student in [("live", "scripted:random"), ("recorded", f"recorded:{exact_run}")]:
        output = tmp_path / f"{name}.jsonl"
        result = runner.invoke(
            app,
            ["dagger", ENV_ID, "--student", student, "--opponent", "random", "-o", str(output)],
        )
        assert result.exit_code == 0, result.output
        rows[name] = [json.loads(line) for line in output.read_text().splitlines()]
    assert rows["live"] and rows["live"] == rows["recorded"]


def test_an_unrecorded_conversation_is_an_error(exact_run) -> None:
    policy = RecordedChatPolicy(exact_run)
    with pytest.raises(ConversationNotRecordedError, match="no reply to this 1-message"):
        run_sync(policy.reply([{"role": "user", "content": "hello"}]))


def test_a_folder_without_results_is_refused(tmp_path) -> None:
    with pytest.raises(FileNotFoundError, match=r"no results\.jsonl in"):
        RecordedChatPolicy(tmp_path)
