"""Exact evaluation of a local checkpoint: batched calls, one per conversation, CLI files."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import RESULTS_FILE, SUMMARY_FILE
from adapters.exact import MemoPolicy, decision_weights, walk_sync
from adapters.policies.local import LocalChatPolicy
from adapters.records import read_records
from llm_gym.envs.tictactoe import OPPONENT_SETTINGS

ENV = "LLMTicTacToe-v0"


@pytest.mark.slow
def test_a_local_model_is_asked_once_per_conversation_in_batches(tiny_model):
    model, tokenizer = tiny_model
    local = LocalChatPolicy(
        model_obj=model, tokenizer=tokenizer, max_new_tokens=4, temperature=0.0, max_batch_size=16
    )
    memo = MemoPolicy(local)
    games = walk_sync(ENV, memo, env_kwargs={**OPPONENT_SETTINGS["optimal"], "max_turns": 2})
    assert sum(game.probability for game in games) == pytest.approx(1.0)
    assert memo.calls == len(decision_weights(games)) == sum(local.batch_sizes)
    assert max(local.batch_sizes) > 1


@pytest.mark.slow
def test_eval_cli_exact_on_a_checkpoint_folder(tiny_model_dir, tmp_path):
    out = tmp_path / "run"
    args = ["eval", ENV, "--exact", "-m", str(tiny_model_dir), "--opponent", "optimal"]
    args += ["-a", "max_turns=2", "--max-tokens", "4", "-o", str(out), "--no-progress"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    summary = json.loads((out / SUMMARY_FILE).read_text())
    games = list(read_records(out / RESULTS_FILE))
    assert summary["model_calls"] == len(decision_weights(games))
    assert sum(summary["settings"]["optimal"]["outcome_rates"].values()) == pytest.approx(1.0)
