"""GRPO in tool mode: TRL's ``GRPOTrainer(environment_factory=...)`` over one or more envs.

What ``llm-gym train-grpo-tools`` runs. The envs are played through the typed tools of
:mod:`adapters.training.trl_env`; TRL generates, parses the model's tool calls, masks the tool
results out of the loss and scores each rollout with the env's ``get_reward``. It needs a model
whose chat template TRL can parse tool calls from (Qwen 2.5/3, Llama 3.1/3.2, LFM2, Gemma 4,
GPT-OSS, ...); other models (the embedded SmolLM2 among them) train in text mode
(:mod:`adapters.training.grpo`). Like text mode, it reads each env's card: the rows cycle through
its training strata and play its training seeds.
"""

from __future__ import annotations

import inspect
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from adapters.config_fields import trl_settings
from adapters.models import require, resolve_model_path
from adapters.training.grpo_finish import finish_grpo_run
from adapters.training.grpo_settings import ToolGRPORunConfig
from adapters.training.sft import bf16_autocast_available
from adapters.training.strata import resolve_strata
from adapters.training.trl_env import (
    EnvRows,
    build_tool_dataset,
    component_rewards,
    environment_factories,
)


@dataclass
class ToolGRPOResult:
    output_dir: Path
    steps: int
    wall_time_s: float
    reward_names: list[str]
    plots: dict[str, Path]
    last_log: dict[str, Any]


def require_environment_factory() -> Any:
    """TRL's module, once it is known to support ``environment_factory``.

    Raises:
        ImportError: the installed TRL (< 0.29) or transformers (< 5.2) cannot run it.
    """
    trl = require("trl", "train")
    transformers = require("transformers", "train")
    if "environment_factory" not in inspect.signature(trl.GRPOTrainer.__init__).parameters:
        raise ImportError(
            f"tool mode needs GRPOTrainer(environment_factory=...), which TRL {trl.__version__} "
            "lacks: install trl>=0.29"
        )
    major, minor = (int(part) for part in transformers.__version__.split(".")[:2])
    if (major, minor) < (5, 2):
        raise ImportError(
            f"tool mode needs transformers>=5.2 (installed {transformers.__version__})"
        )
    return trl


def check_tool_calling_template(tokenizer: Any, model_name: str) -> None:
    """Make sure TRL can render tool calls for ``tokenizer`` and parse them back.

    Sets the tokenizer's response template as TRL would.

    Raises:
        ValueError: the chat template is not one TRL recognises, or it drops tool messages.
    """
    from trl.chat_template_utils import add_response_schema, supports_tool_calling

    advice = (
        f"{model_name}'s chat template is not one TRL parses tool calls from (it knows Qwen "
        "2.5/3, Llama 3.1/3.2, LFM2, Gemma 4, GPT-OSS, ...): train it in text mode with "
        "`llm-gym train-grpo`, which works with any chat template"
    )
    has_parser = any(
        getattr(tokenizer, name, None) is not None
        for name in ("response_template", "response_schema")
    )
    if not has_parser:
        try:
            add_response_schema(tokenizer)
        except ValueError as error:
            raise ValueError(advice) from error
    if not supports_tool_calling(tokenizer):
        raise ValueError(advice)


def tool_dataset(config: ToolGRPORunConfig) -> Any:
    """The run's data set (:func:`~adapters.training.trl_env.build_tool_dataset`): each env's
    card's training strata (``config.env_kwargs`` under each) on its card's training seeds from
    ``config.seed_offset``.

    Raises:
        ValueError: no env ids, or ``env_kwargs`` with several envs.
    """
    if not config.env_ids:
        raise ValueError("give at least one env id")
    if config.env_kwargs and len(config.env_ids) > 1:
        raise ValueError("env_kwargs apply to a single env; mix envs with their defaults")
    return build_tool_dataset(
        [
            EnvRows(env_id, env_kwargs=config.env_kwargs, strata=resolve_strata(env_id, None))
            for env_id in config.env_ids
        ],
        rows_per_env=config.rows_per_env,
        seed_offset=config.seed_offset,
    )


def train_grpo_tools(config: ToolGRPORunConfig) -> ToolGRPOResult:
    """GRPO over ``config.env_ids`` in tool mode; saves the model, curves and a result file.

    Raises:
        ValueError: a bad setting, or a model whose template TRL cannot parse tool calls from.
    """
    trl = require_environment_factory()
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    started = time.perf_counter()
    dataset = tool_dataset(config)
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    model_path = resolve_model_path(config.model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    check_tool_calling_template(tokenizer, config.model or "the embedded SmolLM2")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    rewards = component_rewards(config.env_ids)
    settings: dict[str, Any] = dict(
        trl_settings(config),
        output_dir=str(output_dir),
        per_device_train_batch_size=config.num_generations * config.groups_per_step,
        max_tool_calling_iterations=config.max_tool_calls,
        reward_weights=[0.0] * len(rewards),
        bf16=bf16_autocast_available(),
        use_cpu=not torch.cuda.is_available(),
        logging_steps=1,
        save_strategy="no",
        report_to="none",
    )
    args = trl.GRPOConfig(**{**settings, **config.extra_args})
    # float32 master weights (bf16 autocast above): lr-sized updates vanish in bf16 weights
    model = transformers.AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    trainer = trl.GRPOTrainer(
        model=model,
        reward_funcs=rewards,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        environment_factory=environment_factories(config.env_ids),
    )
    trainer.train()
    return finish_grpo_run(
        trainer,
        tokenizer,
        output_dir,
        started=started,
        result_type=ToolGRPOResult,
        result_file="grpo_tools_result.json",
        reward_names=list(trainer.reward_func_names),
    )
