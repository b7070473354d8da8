"""``llm-gym show`` on a results file and ``llm-gym play`` driven through stdin."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.cli.show import select_records, split_reasoning
from adapters.evaluation import EvalConfig, evaluate_sync
from adapters.policies.factory import PolicySpec
from adapters.policies.scripted import ScriptedChatPolicy
from adapters.records import read_records

ROOT = Path(__file__).resolve().parents[2]
runner = CliRunner()


@pytest.fixture(scope="module")
def run_folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("run")
    config = EvalConfig(
        "LLMTicTacToe-v0", PolicySpec(model="scripted:random"), num_examples=6, concurrency=2
    )
    evaluate_sync(config, ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "random"), output=out)
    return out


def test_split_reasoning():
    assert split_reasoning("<think>a</think><think>b</think> <move>1</move>") == (
        ["a", "b"],
        "<move>1</move>",
    )
    assert split_reasoning("no tags") == ([], "no tags")


def test_select_records_filters(run_folder):
    records = list(read_records(run_folder / "results.jsonl"))
    losses = select_records(records, outcomes=["loss"])
    assert losses and all(r.outcome == "loss" for _, r in losses)
    assert [i for i, _ in select_records(records, indices=[2, 4])] == [2, 4]
    assert [r.seed for _, r in select_records(records, seeds=[3])] == [3]
    assert len(select_records(records, limit=2)) == 2


def test_show_prints_the_chat_reasoning_and_rewards(run_folder):
    result = runner.invoke(app, ["show", str(run_folder), "--seed", "1", "--system"])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "seed 1" in out and "outcome" in out
    assert "reasoning: I pick a free cell at random." in out
    assert "reward +0.200" in out  # the format reward of the first well-formatted turn
    assert "---+---+---" in out  # the board is drawn
    assert "You are playing tic-tac-toe" in out
    assert runner.invoke(app, ["show", str(run_folder), "--outcome", "nope"]).exit_code == 1


def play(stdin: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "adapters.cli", "play", "LLMTicTacToe-v0", *args],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=120,
        env={"COLUMNS": "100", "PATH": "", "PYTHONPATH": str(ROOT)},
    )


def test_play_against_the_optimal_player_never_wins():
    # the person types cells (one of them taken: the env explains and asks again)
    result = play("4\n4\n0\n8\n2\n6\n7\n5\n3\n1\n", "-m", "scripted:optimal")
    assert result.returncode == 0, result.stderr
    assert "already taken" in result.stdout
    assert "scripted:optimal" in result.stdout
    assert "game 1: draw for you" in result.stdout or "game 1: loss for you" in result.stdout


def test_play_as_o_and_quit():
    result = play("q\n", "-m", "scripted:random", "--as", "O")
    assert result.returncode == 0, result.stderr
    assert "You play O" in result.stdout
    assert "bye" in result.stdout


def test_play_rejects_other_envs():
    result = runner.invoke(app, ["play", "LLMReverseText-v0", "-m", "scripted:optimal"])
    assert result.exit_code == 2
