"""Shipped LoRA adapters over the embedded model: found by name, merged offline, playable."""

from __future__ import annotations

import json

import pytest

from adapters.models import (
    EMBEDDED_MODEL,
    SHIPPED_ADAPTERS,
    resolve_model_path,
    shipped_adapter_dir,
)

TICTACTOE_MODEL = "smollm2-135m-tictactoe"
MAX_ADAPTER_BYTES = 20 * 1024 * 1024


def test_shipped_adapter_is_a_small_lora_over_the_embedded_model() -> None:
    assert TICTACTOE_MODEL in SHIPPED_ADAPTERS
    folder = shipped_adapter_dir(TICTACTOE_MODEL)
    config = json.loads((folder / "adapter_config.json").read_text())
    assert config["peft_type"] == "LORA"
    weights = folder / "adapter_model.safetensors"
    assert 0 < weights.stat().st_size <= MAX_ADAPTER_BYTES


def test_unknown_shipped_adapter_names_the_shipped_ones() -> None:
    with pytest.raises(ValueError, match=f"no shipped adapter 'nope'; shipped: {TICTACTOE_MODEL}"):
        shipped_adapter_dir("nope")


@pytest.mark.slow
def test_shipped_model_loads_offline_and_plays_a_valid_move(tmp_path, monkeypatch) -> None:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from adapters.policies.local import LocalChatPolicy
    from adapters.rollout import run_episode, run_sync

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    path = resolve_model_path(TICTACTOE_MODEL)
    assert path != resolve_model_path(EMBEDDED_MODEL)
    assert resolve_model_path(TICTACTOE_MODEL) == path  # merged once, then cached
    model = AutoModelForCausalLM.from_pretrained(path)
    tokenizer = AutoTokenizer.from_pretrained(path)
    policy = LocalChatPolicy(
        TICTACTOE_MODEL, max_new_tokens=96, temperature=0.0, model_obj=model, tokenizer=tokenizer
    )
    record = run_sync(
        run_episode(
            "LLMTicTacToe-v0",
            policy,
            seed=0,
            env_kwargs={"max_random_move_prob": 0.0, "model_plays": "X"},
        )
    )
    assert record.invalid_actions == 0
    assert record.outcome in {"win", "draw", "loss"}
    first_reply = record.turns[0].action
    assert first_reply.startswith("<think>I am X.") and "<move>" in first_reply
