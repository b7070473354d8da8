"""The trained model shipped inside the package: a small LoRA adapter over the embedded model that
loads offline by name and plays at the bar it was shipped for."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from adapters.cli import app
from adapters.evaluation import SUMMARY_FILE
from adapters.models import (
    ADAPTER_CONFIG_FILE,
    ADAPTER_WEIGHTS_FILE,
    EMBEDDED_MODEL,
    SHIPPED_MODELS_DIR,
    shipped_model_names,
)
from adapters.prompting import ModelPrompting, read_prompting

TICTACTOE_MODEL = "smollm2-135m-tictactoe"


def test_the_tictactoe_model_ships_as_a_small_float16_adapter_over_the_embedded_model() -> None:
    assert TICTACTOE_MODEL in shipped_model_names()
    folder = SHIPPED_MODELS_DIR / TICTACTOE_MODEL
    assert (folder / ADAPTER_WEIGHTS_FILE).stat().st_size <= 20_000_000
    config = json.loads((folder / ADAPTER_CONFIG_FILE).read_text())
    assert config["base_model_name_or_path"] == EMBEDDED_MODEL
    safetensors = pytest.importorskip("safetensors.torch")
    torch = pytest.importorskip("torch")
    weights = safetensors.load_file(folder / ADAPTER_WEIGHTS_FILE)
    assert {tensor.dtype for tensor in weights.values()} == {torch.float16}
    assert "--context last" in (folder / "README.md").read_text()
    assert read_prompting(TICTACTOE_MODEL) == ModelPrompting(context="last", max_tokens=241)


def test_the_model_option_names_the_shipped_model() -> None:
    result = CliRunner().invoke(app, ["eval", "--help"], env={"COLUMNS": "400"})
    assert f"'{TICTACTOE_MODEL}' (shipped, trained)" in result.output


@pytest.mark.slow
def test_the_shipped_model_loses_at_most_three_games_in_a_hundred_to_the_optimal_player(
    tmp_path,
) -> None:
    """Exact: every reply of the optimal opponent, both sides, greedy (the aim of issue 9; the
    model was measured at no loss, the bar leaves room for a decision flipped by another CPU).

    No --context and no --max-tokens: the model's own llm_gym.json supplies them, as it does for a
    newcomer who only names the model."""
    pytest.importorskip("peft")
    out = tmp_path / "exact"
    args = ["eval", "LLMTicTacToe-v0", "--exact", "-m", TICTACTOE_MODEL, "--opponent", "optimal"]
    result = CliRunner().invoke(app, [*args, "-c", "64", "-o", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    metadata = json.loads((out / "metadata.json").read_text())
    assert (metadata["context"], metadata["policy"]["sampling"]["max_tokens"]) == ("last", 241)
    rates = json.loads((out / SUMMARY_FILE).read_text())["settings"]["optimal"]["outcome_rates"]
    assert rates.get("loss", 0.0) <= 0.03, rates
