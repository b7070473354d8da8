"""The settings of a GRPO run, each default written once: :class:`GRPOSettings`, shared by text
mode (:class:`GRPORunConfig`, :mod:`adapters.training.grpo`) and tool mode
(:class:`ToolGRPORunConfig`, :mod:`adapters.training.grpo_tools`).

The fields that are command-line options carry their flags and help
(:func:`adapters.config_fields.option`); the ``llm-gym train-grpo`` and ``train-grpo-tools``
options are built from them. This module stays light (no torch, TRL or transformers), so the
command line imports it up front.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from adapters.config_fields import option, trl_setting
from adapters.training.sft import LoraOptions
from adapters.training.strata import StrataSpec


@dataclass(kw_only=True)
class GRPOSettings:
    """Start model, group size, schedule, loss and sampling temperature of a GRPO run
    (keyword-only).

    ``model`` is a checkpoint or Hugging Face id (``None``: the embedded model);
    ``temperature`` samples the training episodes (1.0: explore); ``extra_args`` are further
    ``GRPOConfig`` arguments, passed through: they win over the ones the run sets.
    """

    model: str | None = option(None)
    num_generations: int = option(8, "--num-generations", "-g", min=2, help="Group size.", trl=True)
    max_steps: int = option(10, min=1, trl=True)
    learning_rate: float = option(1e-6, "--learning-rate", "--lr", trl=True)
    loss_type: str = option("cispo", help="TRL loss: cispo, dapo, grpo...", trl=True)
    temperature: float = option(1.0, trl=True)
    extra_args: dict[str, Any] = field(default_factory=dict)


@dataclass
class GRPORunConfig(GRPOSettings):
    """Settings of :func:`train_grpo` (the ``llm-gym train-grpo`` options).

    One generation batch is ``groups_per_step`` groups of ``num_generations`` episodes (per
    process). Its forward and backward passes run ``micro_batch_size`` episodes at a time
    (default: the largest divisor of the batch up to
    :data:`~adapters.training.grpo.DEFAULT_MICRO_BATCH`) with the
    gradients accumulated, and it makes ``optimizer_steps_per_batch`` optimiser steps (default
    one). ``rows`` (default: enough that every seed is played once) is the number of distinct
    episode seeds; ``max_tokens_per_turn`` caps a reply, ``max_completion_length`` a whole
    episode (replies and env messages). Weights stay in float32; on a GPU with bf16 the passes
    run under bf16 autocast.

    ``strata`` name the training strata (:func:`~adapters.training.strata.resolve_strata`;
    ``None``: the env card's) and ``seed`` picks the data set's env seeds in the card's
    ``training_seeds``; ``eval_settings`` names the card's settings evaluated every
    ``eval_steps`` (``None``: its default settings).
    ``epsilon_high`` ``None`` is 5.0 for the cispo loss, else TRL's. The settings of the shared
    :class:`~adapters.training.grpo_settings.GRPOSettings` are keyword-only.
    """

    env_id: str
    output_dir: str | Path
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    strata: StrataSpec = None
    rows: int | None = option(
        None,
        min=1,
        help="Episode seeds in the data set (default: groups per step x generation batches, "
        "so each seed is played by one group).",
    )
    seed: int = option(
        0,
        min=0,
        help="Seeds the run; the episodes are the env card's training seeds from this offset.",
        trl=True,
    )
    groups_per_step: int | None = option(
        None,
        min=1,
        help="Groups (distinct seeds) per generation batch, a multiple of the strata "
        "(default: one per stratum, at least 2).",
    )
    micro_batch_size: int | None = option(
        None,
        min=1,
        help="Episodes per forward/backward pass, gradients accumulated over the generation "
        "batch (default: the largest divisor of the batch up to 8).",
    )
    optimizer_steps_per_batch: int = option(
        1,
        min=1,
        help="Optimiser steps per generation batch (it must split into that many equal parts).",
    )
    epsilon_high: float | None = None
    beta: float = option(0.0, min=0.0, help="KL coefficient (0: no ref model).", trl=True)
    top_p: float = option(1.0, trl=True)
    top_k: int | None = option(None, min=1)
    min_p: float | None = option(None, min=0.0, max=1.0, trl=True)
    repetition_penalty: float = option(1.0, min=0.0, trl=True)
    max_turns: int | None = option(None, min=1, help="Replies cap.")
    max_tokens_per_turn: int = option(256, min=1)
    max_completion_length: int = option(
        2048, min=16, help="Tokens per episode (replies + env).", trl=True
    )
    lora: LoraOptions | None = None
    gradient_checkpointing: bool = option(
        True,
        "--gradient-checkpointing/--no-gradient-checkpointing",
        help="Recompute activations in the backward pass: far less memory, a little slower.",
        trl=True,
    )
    save_steps: int | None = option(None, help="Checkpoint every N steps.")
    logging_steps: int = trl_setting(1)
    eval_steps: int = option(0, min=0, help="Evaluate every N steps.")
    eval_games: int = option(20, min=1, help="Games per eval setting.")
    eval_settings: list[str] | None = None
    use_vllm: bool = option(False, help="Generate with TRL's vLLM backend.")
    vllm_mode: str = option("colocate", help="colocate or server.")
    vllm_server_base_url: str | None = option(None)
    log_completions: bool = option(False, trl=True)


@dataclass
class ToolGRPORunConfig(GRPOSettings):
    """Settings of :func:`train_grpo_tools` (the ``llm-gym train-grpo-tools`` options).

    Attributes:
        env_ids: the envs to mix; each generation batch draws rows of all of them.
        model: a checkpoint or Hugging Face id whose chat template TRL recognises (the
            command line requires it).
        env_kwargs: env arguments for every env (only meaningful with one env), under each
            stratum's.
        seed_offset: where each env's episode seeds start in its card's ``training_seeds``.
        max_tool_calls: TRL's ``max_tool_calling_iterations`` (``None``: until
            ``max_completion_length``).

    Each env's rows cycle through its card's training strata and play distinct seeds of its
    card's ``training_seeds``, as text mode's do
    (:func:`~adapters.training.trl_env.build_tool_dataset`).
    The settings of the shared :class:`~adapters.training.grpo_settings.GRPOSettings` are
    keyword-only.
    """

    env_ids: list[str]
    output_dir: str | Path
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    rows_per_env: int = option(256, min=1, help="Episodes per env.")
    seed_offset: int = option(
        0,
        min=0,
        help="Each env's episodes are its card's training seeds from this offset.",
    )
    groups_per_step: int = option(2, min=1, help="Distinct rows (seeds) per generation batch.")
    max_completion_length: int = option(
        1024, min=16, help="Tokens per episode (calls + results).", trl=True
    )
    max_tool_calls: int | None = option(None, min=1, help="Tool-calling rounds per episode.")
    seed: int = option(0, help="Seeds the trainer (sampling, data order).", trl=True)
