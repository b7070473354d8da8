"""The end of a GRPO run, shared by text and tool mode: model, curves, result file."""

from __future__ import annotations

import json
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import transformers

from adapters.training.grpo import GRPOResult
from adapters.training.grpo_finish import finish_grpo_run
from adapters.training.grpo_tools import ToolGRPOResult

LOGS = [
    {"step": 1, "reward": 0.5, "rewards/win_reward/mean": 0.5, "loss": 0.1},
    {"step": 2, "reward": 0.75, "rewards/win_reward/mean": 0.75, "loss": 0.05},
    {"step": 2, "eval_env/optimal/total_reward": 0.0},
]


def test_both_modes_save_the_model_curves_and_result(tiny_model, tmp_path) -> None:
    model, tokenizer = tiny_model
    trainer = SimpleNamespace(model=model, state=SimpleNamespace(log_history=LOGS, global_step=2))
    runs = {
        "grpo_result.json": (GRPOResult, {"reward_names": ["win_reward"], "reward_weights": [1.0]}),
        "grpo_tools_result.json": (ToolGRPOResult, {"reward_names": ["win_reward"]}),
    }
    for result_file, (result_type, fields) in runs.items():
        output = tmp_path / result_file.removesuffix(".json")
        started = time.perf_counter()
        result = finish_grpo_run(
            trainer,
            tokenizer,
            output,
            started=started,
            result_type=result_type,
            result_file=result_file,
            **fields,
        )
        assert isinstance(result, result_type)
        assert result.steps == 2 and result.last_log == LOGS[1]
        assert 0 < result.wall_time_s <= time.perf_counter() - started
        written = json.loads((output / result_file).read_text())
        assert written["last_log"] == LOGS[1] and written["reward_names"] == ["win_reward"]
        assert (output / "rewards.png").stat().st_size > 0
        assert json.loads((output / "log_history.json").read_text()) == LOGS
        transformers.AutoModelForCausalLM.from_pretrained(output)


@pytest.mark.slow
def test_a_tool_mode_run_ends_with_its_result_file(tiny_model_dir, tmp_path, monkeypatch) -> None:
    import trl

    from adapters.training.grpo_tools import ToolGRPORunConfig, train_grpo_tools

    monkeypatch.setenv("TRL_EXPERIMENTAL_SILENCE", "1")
    tokenizer = transformers.AutoTokenizer.from_pretrained(tiny_model_dir)
    template = Path(trl.__file__).parent / "chat_templates" / "qwen2_5.jinja"
    tokenizer.chat_template = template.read_text()
    model_dir = tmp_path / "qwen-templated"
    transformers.AutoModelForCausalLM.from_pretrained(tiny_model_dir).save_pretrained(model_dir)
    tokenizer.save_pretrained(model_dir)
    output = tmp_path / "run"
    result = train_grpo_tools(
        ToolGRPORunConfig(
            env_ids=["LLMTicTacToe-v0"],
            output_dir=output,
            model=str(model_dir),
            rows_per_env=2,
            num_generations=2,
            groups_per_step=1,
            max_steps=1,
            max_completion_length=16,
            max_tool_calls=1,
            extra_args={"use_cpu": True, "bf16": False},
        )
    )
    assert result.steps == 1 and "reward" in result.last_log
    assert "TicTacToeTRLEnv" in result.reward_names
    written = json.loads((output / "grpo_tools_result.json").read_text())
    assert written["steps"] == 1
    assert (output / "config.json").is_file()
