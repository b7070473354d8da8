"""End to end on a tiny model: SFT (full and LoRA) and GRPO steps that save models and plots."""

from __future__ import annotations

import json

import pytest

from adapters.policies import ScriptedChatPolicy
from adapters.training.sft_data import generate_sft_data_sync

ENV = "LLMTicTacToe-v0"

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def sft_data(tmp_path_factory):
    path = tmp_path_factory.mktemp("sft") / "data.jsonl"
    teacher = ScriptedChatPolicy.for_env(ENV, "optimal")
    report = generate_sft_data_sync(ENV, teacher, episodes=8, output=path)
    assert report.kept == 8
    return path


@pytest.mark.parametrize("lora", [False, True])
def test_sft_saves_a_loadable_model_and_curves(tiny_model_dir, sft_data, tmp_path, lora) -> None:
    import transformers

    from adapters.policies.local import LocalChatPolicy
    from adapters.rollout import run_episode_sync
    from adapters.training.sft import LoraOptions, SFTRunConfig, train_sft

    output = tmp_path / "model"
    result = train_sft(
        SFTRunConfig(
            data=sft_data,
            output_dir=output,
            model=str(tiny_model_dir),
            lora=LoraOptions(r=4, alpha=8) if lora else None,
            max_steps=2,
            batch_size=2,
            gradient_accumulation_steps=1,
            learning_rate=1e-3,
        )
    )
    assert result.steps == 2
    assert result.loss_mode == "assistant only (chatml template)"
    assert (output / "training.png").stat().st_size > 0
    history = json.loads((output / "log_history.json").read_text())
    assert sum("loss" in entry for entry in history) == 2
    assert (output / "adapter").is_dir() == lora
    # a plain checkpoint (LoRA merged) with the model's own chat template, loadable by policies
    config = json.loads((output / "config.json").read_text())
    assert "quantization_config" not in config
    tokenizer = transformers.AutoTokenizer.from_pretrained(output)
    assert "{% generation %}" not in tokenizer.chat_template
    reloaded = transformers.AutoModelForCausalLM.from_pretrained(output)
    assert not hasattr(reloaded, "peft_config")
    base = transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir)
    changed = [
        name
        for (name, p), (_, q) in zip(
            reloaded.named_parameters(), base.named_parameters(), strict=True
        )
        if not p.detach().equal(q.detach())
    ]
    assert changed
    policy = LocalChatPolicy(str(output), max_new_tokens=4, temperature=0.0)
    record = run_episode_sync(ENV, policy, seed=0, env_kwargs={"max_turns": 1})
    assert len(record.turns) == 1


def test_grpo_runs_logs_every_component_and_plots(tiny_model_dir, tmp_path) -> None:
    from adapters.training.grpo import GRPORunConfig, train_grpo

    output = tmp_path / "grpo"
    result = train_grpo(
        GRPORunConfig(
            env_id=ENV,
            output_dir=output,
            model=str(tiny_model_dir),
            rows=8,
            num_generations=2,
            groups_per_step=2,
            max_steps=2,
            learning_rate=1e-4,
            max_turns=2,
            max_tokens_per_turn=6,
            max_completion_length=256,
            eval_steps=2,
            eval_games=2,
            save_steps=2,
        )
    )
    assert result.steps == 2
    assert result.reward_names == ["win_reward", "format_reward", "invalid_move_reward"]
    assert result.reward_weights == [1.0, 0.2, 1.0]
    history = json.loads((output / "log_history.json").read_text())
    train_logs = [e for e in history if "reward" in e]
    assert len(train_logs) == 2
    for entry in train_logs:
        for name in result.reward_names:
            assert f"rewards/{name}/mean" in entry
        weighted = sum(
            w * entry[f"rewards/{n}/mean"]
            for n, w in zip(result.reward_names, result.reward_weights, strict=True)
        )
        assert entry["reward"] == pytest.approx(weighted, abs=1e-5)
        # episode metrics, logged by a reward function through TRL's log_metric
        env_metrics = {k: v for k, v in entry.items() if k.startswith("env/")}
        assert {"env/num_turns", "env/invalid_action_rate", "env/cut_by_token_cap"} <= set(
            env_metrics
        )
        outcomes = [v for k, v in env_metrics.items() if k.startswith("env/outcome_")]
        assert outcomes and sum(outcomes) == pytest.approx(1.0)
    evals = [e for e in history if any(k.startswith("eval_env/") for k in e)]
    assert evals and "eval_env/optimal/total_reward" in evals[-1]
    for name in ("rewards", "training", "eval"):
        assert (output / f"{name}.png").stat().st_size > 0
    assert (output / "checkpoint-2").is_dir()
    assert (output / "config.json").is_file()
