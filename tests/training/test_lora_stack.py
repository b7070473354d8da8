"""Stacked LoRA adapters equal the adapters applied one after another."""

from __future__ import annotations

import json

import pytest

torch = pytest.importorskip("torch")
peft = pytest.importorskip("peft")
transformers = pytest.importorskip("transformers")

from adapters.prompting import ModelPrompting, read_prompting, write_prompting  # noqa: E402
from adapters.training.lora_stack import stack_lora_adapters, truncate_lora  # noqa: E402

TARGETS = ["q_proj", "v_proj", "down_proj"]


def _tiny_model():
    torch.manual_seed(0)
    config = transformers.LlamaConfig(
        vocab_size=64,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
    )
    return transformers.LlamaForCausalLM(config).eval()


def _random_adapter(model, folder, seed: int, r: int = 4):
    lora = peft.LoraConfig(r=r, lora_alpha=2 * r, target_modules=TARGETS, init_lora_weights=False)
    torch.manual_seed(seed)
    wrapped = peft.get_peft_model(model, lora)
    wrapped.save_pretrained(folder)
    return wrapped.merge_and_unload()


def _two_rounds(tmp_path, r: int = 4):
    """Two adapter folders, the second trained over the first merged, and that merged model."""
    first = _random_adapter(_tiny_model(), tmp_path / "a", seed=1, r=r)
    second = _random_adapter(first, tmp_path / "b", seed=2, r=r)
    return [tmp_path / "a", tmp_path / "b"], second


def _update(model, base, module: str):
    """How far ``model``'s weight of ``module`` is from ``base``'s, in float64."""
    delta = model.get_submodule(module).weight - base.get_submodule(module).weight
    return delta.detach().double()


def test_stacked_adapter_equals_the_two_rounds(tmp_path) -> None:
    base = _tiny_model()
    ids = torch.randint(0, 64, (2, 7))
    rounds, second = _two_rounds(tmp_path)
    with torch.no_grad():
        expected = second(ids).logits
    write_prompting(rounds[0], ModelPrompting(context="full", max_tokens=300))
    write_prompting(rounds[1], ModelPrompting(context="last", max_tokens=160))
    stacked = stack_lora_adapters(rounds, tmp_path / "ab", dtype="float32").folder
    assert json.loads((stacked / "adapter_config.json").read_text())["r"] == 8
    assert read_prompting(str(stacked)) == ModelPrompting(context="last", max_tokens=160)
    merged = peft.PeftModel.from_pretrained(base, stacked).merge_and_unload()
    with torch.no_grad():
        got = merged(ids).logits
    assert torch.allclose(got, expected, atol=1e-5)


def test_adapters_with_different_scaling_do_not_stack(tmp_path) -> None:
    _random_adapter(_tiny_model(), tmp_path / "a", seed=1, r=4)
    folder_b = tmp_path / "b"
    _random_adapter(_tiny_model(), folder_b, seed=2, r=4)
    config = json.loads((folder_b / "adapter_config.json").read_text())
    (folder_b / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 4}))
    with pytest.raises(ValueError, match="must share lora_alpha / r"):
        stack_lora_adapters([tmp_path / "a", folder_b], tmp_path / "ab")


def test_a_rank_at_or_above_the_sum_keeps_the_stack_exact(tmp_path) -> None:
    rounds, expected_model = _two_rounds(tmp_path)
    stacked = stack_lora_adapters(rounds, tmp_path / "ab", dtype="float32", rank=8)
    assert (stacked.rank, stacked.stacked_rank) == (8, 8)
    assert stacked.max_relative_error == 0.0
    ids = torch.randint(0, 64, (2, 7))
    merged = peft.PeftModel.from_pretrained(_tiny_model(), stacked.folder).merge_and_unload()
    with torch.no_grad():
        assert torch.allclose(merged(ids).logits, expected_model(ids).logits, atol=1e-5)


def test_a_lower_rank_ships_the_best_approximation_of_the_summed_update(tmp_path) -> None:
    rounds, expected_model = _two_rounds(tmp_path)
    stacked = stack_lora_adapters(rounds, tmp_path / "ab", dtype="float32", rank=3)
    config = json.loads((stacked.folder / "adapter_config.json").read_text())
    assert (config["r"], config["lora_alpha"]) == (3, 6)
    assert stacked.stacked_rank == 8
    base = _tiny_model()
    merged = peft.PeftModel.from_pretrained(_tiny_model(), stacked.folder).merge_and_unload()
    errors = []
    for name in ("q_proj", "v_proj"):
        for layer in range(2):
            attention = f"model.layers.{layer}.self_attn.{name}"
            u, s, vh = torch.linalg.svd(
                _update(expected_model, base, attention), full_matrices=False
            )
            best = (u[:, :3] * s[:3]) @ vh[:3]
            assert torch.allclose(_update(merged, base, attention), best, atol=1e-5)
            errors.append(float((s[3:].square().sum() / s.square().sum()).sqrt()))
    assert 0 < max(errors) <= stacked.max_relative_error + 1e-6


def test_truncate_lora_factors_multiply_back_to_the_update_when_rank_allows() -> None:
    torch.manual_seed(3)
    a, b = torch.randn(5, 20), torch.randn(12, 5)
    new_a, new_b, error = truncate_lora(a, b, 9)
    assert new_a.shape == (5, 20) and new_b.shape == (12, 5)
    assert error < 1e-6
    assert torch.allclose(new_b @ new_a, b @ a, atol=1e-4)


def test_a_rank_wider_than_a_module_still_gives_every_module_that_rank(tmp_path) -> None:
    rounds, expected_model = _two_rounds(tmp_path, r=12)
    stacked = stack_lora_adapters(rounds, tmp_path / "ab", dtype="float32", rank=20)
    assert (stacked.rank, stacked.stacked_rank) == (20, 24)
    base = _tiny_model()
    merged = peft.PeftModel.from_pretrained(_tiny_model(), stacked.folder).merge_and_unload()
    for layer in range(2):
        v_proj = f"model.layers.{layer}.self_attn.v_proj"  # 16 outputs: its update has rank 16
        expected = _update(expected_model, base, v_proj)
        assert torch.allclose(_update(merged, base, v_proj), expected, atol=1e-5)


def test_stacking_to_rank_zero_is_refused(tmp_path) -> None:
    rounds, _ = _two_rounds(tmp_path)
    with pytest.raises(ValueError, match="rank must be >= 1"):
        stack_lora_adapters(rounds, tmp_path / "ab", rank=0)


def test_the_cli_reports_the_rank_and_the_error_it_left(tmp_path) -> None:
    from typer.testing import CliRunner

    from adapters.cli import app

    rounds, _ = _two_rounds(tmp_path)
    out = tmp_path / "ab"
    args = ["lora-stack", *map(str, rounds), "-o", str(out)]
    result = CliRunner().invoke(app, [*args, "--rank", "3"], env={"COLUMNS": "200"})
    assert result.exit_code == 0, result.output
    assert "rank 3" in result.output and "truncated from rank 8" in result.output
    assert json.loads((out / "adapter_config.json").read_text())["r"] == 3
    exact = CliRunner().invoke(app, args, env={"COLUMNS": "200"})
    assert exact.exit_code == 0 and "rank 8" in exact.output and "truncated" not in exact.output
    refused = CliRunner().invoke(app, [*args, "--rank", "0"])
    assert refused.exit_code == 2
