"""Teachers from model specs: scripted players with or without a seed, unknown names refused."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.rollout import run_episode_sync
from adapters.training.teachers import make_teacher


def test_a_scripted_teacher_without_a_seed_is_built_without_one():
    teacher = make_teacher("LLMReverseText-v0", "scripted:oracle", seed=3)
    assert teacher.name == "scripted:oracle"
    record = run_episode_sync("LLMReverseText-v0", teacher, seed=0)
    assert record.outcome == "correct"


def test_a_scripted_teacher_that_takes_a_seed_gets_it():
    teacher = make_teacher("LLMTicTacToe-v0", "scripted:random", seed=7)
    assert teacher.policy.seed == 7


def test_an_unknown_scripted_teacher_names_the_known_players():
    message = r"no scripted policy 'bogus' for LLMReverseText-v0; registered: careless, oracle"
    with pytest.raises(ValueError, match=message):
        make_teacher("LLMReverseText-v0", "scripted:bogus")


def test_sft_data_refuses_an_unknown_teacher_without_a_traceback(tmp_path):
    out = tmp_path / "rows.jsonl"
    args = ["sft-data", "LLMReverseText-v0", "-o", str(out), "-n", "2"]
    result = CliRunner().invoke(app, [*args, "--teacher", "scripted:bogus"])
    assert result.exit_code == 2
    assert "registered: careless, oracle" in result.output
    assert "Traceback" not in result.output and not out.exists()

    result = CliRunner().invoke(app, [*args, "--teacher", "scripted:oracle"])
    assert result.exit_code == 0, result.output
    assert len([json.loads(line) for line in out.read_text().splitlines()]) == 2
