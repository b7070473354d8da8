"""Multi-turn GRPO on any registered env with TRL's ``GRPOTrainer``.

Pieces, each usable alone:

- :func:`build_episode_dataset`: rows ``prompt`` (the env's opening chat), ``seed``, ``stratum``
  (its name) and ``env_kwargs`` (JSON); strata are named env-argument sets of graded difficulty,
  the env card's unless the run names others (:func:`~adapters.training.strata.resolve_strata`).
- :class:`StratifiedRepeatSampler`: TRL's ``RepeatSampler`` ordering (each row
  ``num_generations`` times in a row, the generation batch repeated for ``num_iterations`` x
  ``steps_per_generation``) but every generation batch holds the same number of rows of every
  stratum, so no batch is all easy or all hard opponents.
- :class:`EnvGRPOTrainer`: ``GRPOTrainer`` with that sampler, which hands each batch's rows to the
  rollout function (:class:`~adapters.training.grpo_rollout.MultiTurnRollout`).
- :func:`make_eval_callback`: greedy evaluation games (``adapters.evaluation``) every N steps on
  the card's settings, logged as ``eval_env/...``.
- :func:`train_grpo`: all of it from one :class:`GRPORunConfig`, with curves saved as PNGs.
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Hashable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import gymnasium as gym

import llm_gym  # noqa: F401  (registers the envs)
from adapters.config_fields import trl_settings
from adapters.models import require, resolve_model_path
from adapters.rollout import run_sync
from adapters.training.grpo_finish import finish_grpo_run
from adapters.training.grpo_rollout import MultiTurnRollout, reward_functions
from adapters.training.grpo_settings import GRPORunConfig
from adapters.training.sft import bf16_autocast_available
from adapters.training.strata import StrataSpec, resolve_strata
from llm_gym.envs.describe import describe

logger = logging.getLogger(__name__)


def build_episode_dataset(
    env_id: str,
    *,
    rows: int,
    strata: StrataSpec = None,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> Any:
    """A ``datasets.Dataset`` of episodes, row ``i`` in stratum ``i % k`` of the ``k`` strata.

    ``strata`` are the card's training strata unless named otherwise (:func:`resolve_strata`);
    the ``stratum`` column holds their names. The env seeds are distinct seeds of the card's
    ``training_seeds``, from ``seed`` seeds into the range (:meth:`~llm_gym.SeedRange.window`).
    ``prompt`` is the chat the env opens with (system prompt and first observation) for that
    seed and stratum: TRL shows it in its logs; the rollout replays it from the seed.
    """
    datasets = require("datasets", "train")
    if rows < 1:
        raise ValueError(f"rows must be >= 1, got {rows}")
    named = resolve_strata(env_id, strata)
    names = list(named)
    seeds = describe(env_id).card.training_seeds.window(seed, rows)
    base = dict(env_kwargs or {})
    columns: dict[str, list[Any]] = {"prompt": [], "seed": [], "stratum": [], "env_kwargs": []}
    envs = {name: gym.make(env_id, **{**base, **arguments}) for name, arguments in named.items()}
    try:
        for i, env_seed in enumerate(seeds):
            name = names[i % len(names)]
            observation, info = envs[name].reset(seed=env_seed)
            columns["prompt"].append(
                [
                    {"role": "system", "content": info["system_prompt"]},
                    {"role": info.get("role", "user"), "content": observation},
                ]
            )
            columns["seed"].append(env_seed)
            columns["stratum"].append(name)
            columns["env_kwargs"].append(json.dumps(named[name], sort_keys=True))
    finally:
        for env in envs.values():
            env.close()
    return datasets.Dataset.from_dict(columns)


class StratifiedRepeatSampler:
    """Like TRL's ``RepeatSampler``, with every generation batch balanced across strata.

    Each batch of ``batch_size`` distinct rows holds ``batch_size / k`` rows of each of the
    ``k`` strata, interleaved; each row is yielded ``mini_repeat_count`` times in a row (one
    GRPO group) and each batch ``repeat_count`` times. ``strata`` labels each row (a stratum's
    name or number); a batch takes them in the order they first appear. Rows are shuffled within
    their stratum (seeded, a new order every epoch); a stratum's leftover rows that cannot fill a
    batch wait for the next epoch.

    >>> sampler = StratifiedRepeatSampler([0, 1, 0, 1, 0, 1], mini_repeat_count=2, batch_size=2,
    ...                                   shuffle=False)
    >>> list(sampler)
    [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5]
    """

    def __init__(
        self,
        strata: Sequence[Hashable],
        mini_repeat_count: int,
        batch_size: int = 1,
        repeat_count: int = 1,
        shuffle: bool = True,
        seed: int | None = None,
    ):
        self.strata = list(strata)
        self.labels = list(dict.fromkeys(self.strata))
        if batch_size % len(self.labels):
            raise ValueError(
                f"a generation batch of {batch_size} rows cannot hold the {len(self.labels)} "
                "strata equally: make generation_batch_size / num_generations a multiple of the "
                "number of strata"
            )
        self.per_stratum = batch_size // len(self.labels)
        self.mini_repeat_count = mini_repeat_count
        self.batch_size = batch_size
        self.repeat_count = repeat_count
        self.shuffle = shuffle
        self.seed = seed
        self.epoch = 0
        self.members = {s: [i for i, v in enumerate(self.strata) if v == s] for s in self.labels}
        self.num_batches = min(len(m) for m in self.members.values()) // self.per_stratum
        if self.num_batches == 0:
            raise ValueError(
                f"each stratum needs at least {self.per_stratum} rows for one batch; sizes "
                f"{ {s: len(m) for s, m in self.members.items()} }"
            )

    def batches(self) -> list[list[int]]:
        """The distinct-row batches of the next epoch (each interleaving the strata)."""
        import torch

        generator = torch.Generator()
        if self.seed is not None:
            generator.manual_seed(self.seed + self.epoch)
        orders = {}
        for s, members in self.members.items():
            if self.shuffle:
                perm = torch.randperm(len(members), generator=generator).tolist()
                orders[s] = [members[p] for p in perm]
            else:
                orders[s] = list(members)
        batches = []
        for b in range(self.num_batches):
            chunk = {
                s: orders[s][b * self.per_stratum : (b + 1) * self.per_stratum] for s in orders
            }
            batches.append([chunk[s][j] for j in range(self.per_stratum) for s in self.labels])
        if self.shuffle:
            perm = torch.randperm(len(batches), generator=generator).tolist()
            batches = [batches[p] for p in perm]
        return batches

    def __iter__(self) -> Iterator[int]:
        batches = self.batches()
        self.epoch += 1
        for batch in batches:
            for _ in range(self.repeat_count):
                for index in batch:
                    for _ in range(self.mini_repeat_count):
                        yield index

    def __len__(self) -> int:
        return self.num_batches * self.batch_size * self.mini_repeat_count * self.repeat_count

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch


def __getattr__(name: str) -> Any:
    if name == "EnvGRPOTrainer":
        from adapters.training.trl_text import EnvGRPOTrainer

        return EnvGRPOTrainer
    raise AttributeError(name)


def evaluate_model(
    model: Any,
    tokenizer: Any,
    env_id: str,
    *,
    games: int,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    seed: int | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    max_tokens_per_turn: int = 128,
    batch_size: int = 16,
    temperature: float = 0.0,
) -> dict[str | None, Any]:
    """Evaluate an in-memory model through ``adapters.evaluation`` (what ``llm-gym eval`` runs).

    ``games`` seeds per setting (``seed``, ``seed + 1``, ...; default: the first of the card's
    ``evaluation_seeds``), greedy by default, replies batched by ``LocalChatPolicy``. Settings
    default to the card's default settings (the env's own arguments when it declares none).
    Returns ``{setting: adapters.summary.Summary}``.
    """
    import copy

    from adapters.evaluation import EvalConfig, EvalSetting, evaluate
    from adapters.policies.factory import PolicySpec
    from adapters.policies.local import LocalChatPolicy

    card = describe(env_id).card
    settings = settings if settings is not None else card.chosen_settings()
    seed = seed if seed is not None else card.evaluation_seeds.start
    policy = LocalChatPolicy(
        "in-training",
        model_obj=model,
        tokenizer=copy.deepcopy(tokenizer),
        max_new_tokens=max_tokens_per_turn,
        temperature=temperature,
        max_batch_size=batch_size,
        seed=seed,
    )
    config = EvalConfig(
        env_id=env_id,
        policy=PolicySpec(model="in-training"),
        env_kwargs=dict(env_kwargs or {}),
        settings=[EvalSetting(name, dict(kwargs)) for name, kwargs in settings.items()],
        num_examples=games,
        seed_offset=seed,
        concurrency=batch_size,
    )
    was_training = model.training
    model.eval()
    try:
        result = run_sync(evaluate(config, policy))
    finally:
        model.train(was_training)
    return result.summaries


def summary_metrics(prefix: str, summary: Any) -> dict[str, float]:
    """Flat scalar metrics of a summary (total reward, components, outcome rates, invalid rate)."""
    metrics = {f"{prefix}/total_reward": summary.total_reward_mean}
    for component, (mean, _) in summary.components.items():
        metrics[f"{prefix}/{component}"] = mean
    for outcome, rate in summary.outcome_rates.items():
        metrics[f"{prefix}/outcome_{outcome}"] = rate
    metrics[f"{prefix}/invalid_action_rate"] = summary.invalid_action_rate
    return metrics


def make_eval_callback(
    env_id: str,
    *,
    every_steps: int,
    games: int,
    tokenizer: Any,
    output_dir: str | Path,
    settings: Mapping[str, Mapping[str, Any]] | None = None,
    env_kwargs: Mapping[str, Any] | None = None,
    max_tokens_per_turn: int = 128,
) -> Any:
    """A ``TrainerCallback`` playing evaluation games every ``every_steps`` steps and at the end.

    Metrics land in ``state.log_history`` as ``eval_env/<setting>/<metric>`` (drawn into
    ``eval.png``) and in ``output_dir/eval_env.jsonl``; gradient checkpointing is switched off
    while it plays so generation keeps its KV cache.
    """
    transformers = require("transformers", "train")
    output = Path(output_dir) / "eval_env.jsonl"
    done_steps: set[int] = set()

    def run(state: Any, model: Any) -> None:
        if model is None or state.global_step in done_steps:
            return
        done_steps.add(state.global_step)
        checkpointing = bool(getattr(model, "is_gradient_checkpointing", False))
        if checkpointing:
            model.gradient_checkpointing_disable()
        try:
            summaries = evaluate_model(
                model,
                tokenizer,
                env_id,
                games=games,
                settings=settings,
                env_kwargs=env_kwargs,
                max_tokens_per_turn=max_tokens_per_turn,
            )
        finally:
            if checkpointing:
                model.gradient_checkpointing_enable()
        entry: dict[str, Any] = {"step": state.global_step}
        for name, summary in summaries.items():
            entry.update(summary_metrics(f"eval_env/{name or 'default'}", summary))
        state.log_history.append(entry)
        output.parent.mkdir(parents=True, exist_ok=True)
        with open(output, "a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry) + "\n")

    class EnvEvalCallback(transformers.TrainerCallback):
        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if every_steps > 0 and state.global_step % every_steps == 0:
                run(state, kwargs.get("model"))
            return control

        def on_train_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            run(state, kwargs.get("model"))
            return control

    return EnvEvalCallback()


@dataclass
class GRPOResult:
    output_dir: Path
    steps: int
    wall_time_s: float
    reward_names: list[str]
    reward_weights: list[float]
    plots: dict[str, Path]
    last_log: dict[str, Any]


DEFAULT_MICRO_BATCH = 8
"""Episodes per forward/backward pass when the run names no micro-batch size."""

MAX_SEED_REPLAYS = 3
"""More plays of each data-set seed than this get a warning: the run learns those seeds."""


@dataclass(frozen=True)
class BatchPlan:
    """How a generation batch splits into micro-batches and optimiser steps (per process)."""

    generation_batch: int
    micro_batch_size: int
    optimizer_steps_per_batch: int

    @property
    def micro_batches(self) -> int:
        return self.generation_batch // self.micro_batch_size

    @property
    def gradient_accumulation_steps(self) -> int:
        return self.micro_batches // self.optimizer_steps_per_batch

    @classmethod
    def of(cls, config: GRPORunConfig) -> BatchPlan:
        """The plan of ``config`` (its ``groups_per_step`` must be set).

        >>> plan = BatchPlan.of(GRPORunConfig("LLMTicTacToe-v0", "out", groups_per_step=4))
        >>> plan.generation_batch, plan.micro_batch_size, plan.gradient_accumulation_steps
        (32, 8, 4)
        """
        if config.groups_per_step is None:
            raise ValueError("groups_per_step must be set before planning batches")
        batch = config.num_generations * config.groups_per_step
        micro = config.micro_batch_size
        if micro is None:
            micro = max(d for d in range(1, min(batch, DEFAULT_MICRO_BATCH) + 1) if batch % d == 0)
        if micro < 1 or batch % micro:
            raise ValueError(
                f"micro_batch_size must divide the generation batch of {batch} episodes "
                f"(num_generations {config.num_generations} x groups_per_step "
                f"{config.groups_per_step}), got {micro}"
            )
        steps = config.optimizer_steps_per_batch
        if steps < 1 or (batch // micro) % steps:
            raise ValueError(
                f"optimizer_steps_per_batch must divide the {batch // micro} micro-batches of a "
                f"generation batch, got {steps}"
            )
        return cls(batch, micro, steps)

    def generation_batches(self, max_steps: int) -> int:
        """Generation batches played in ``max_steps`` optimiser steps."""
        return math.ceil(max_steps / self.optimizer_steps_per_batch)


def default_rows(config: GRPORunConfig) -> int:
    """Rows that let every seed of the run be played by exactly one group."""
    plan = BatchPlan.of(config)
    assert config.groups_per_step is not None
    return config.groups_per_step * plan.generation_batches(config.max_steps)


def grpo_config(config: GRPORunConfig, reward_weights: Sequence[float]) -> Any:
    """TRL ``GRPOConfig`` of a run: one generation batch = ``groups_per_step`` groups, split
    into micro-batches (:class:`BatchPlan`); the fields that are TRL's settings pass by name."""
    trl = require("trl", "train")
    torch = require("torch", "train")
    plan = BatchPlan.of(config)
    epsilon_high = config.epsilon_high
    if epsilon_high is None and config.loss_type == "cispo":
        epsilon_high = 5.0  # the ScaleRL value TRL's docs recommend for CISPO
    extra = dict(config.extra_args)
    vllm: dict[str, Any] = {}
    if config.use_vllm:
        vllm = {
            "use_vllm": True,
            "vllm_mode": config.vllm_mode,
            # each vLLM call generates one turn
            "generation_kwargs": {
                **(extra.pop("generation_kwargs", None) or {}),
                "max_tokens": config.max_tokens_per_turn,
            },
        }
        if config.vllm_server_base_url:
            vllm["vllm_server_base_url"] = config.vllm_server_base_url
    settings: dict[str, Any] = dict(
        trl_settings(config),
        output_dir=str(config.output_dir),
        per_device_train_batch_size=plan.micro_batch_size,
        steps_per_generation=plan.micro_batches,
        gradient_accumulation_steps=plan.gradient_accumulation_steps,
        epsilon_high=epsilon_high,
        top_k=config.top_k or 0,
        reward_weights=list(reward_weights),
        bf16=bf16_autocast_available(),
        use_cpu=not torch.cuda.is_available(),
        save_strategy="steps" if config.save_steps else "no",
        save_steps=config.save_steps or 500,
        report_to="none",
        dataloader_num_workers=0,
    )
    return trl.GRPOConfig(**{**settings, **vllm, **extra})


def train_grpo(config: GRPORunConfig, callbacks: Sequence[Any] = ()) -> GRPOResult:
    """Multi-turn GRPO on ``config.env_id``; saves the model, curves and evaluation metrics.

    ``callbacks`` are further ``transformers.TrainerCallback`` objects for the trainer.
    """
    torch = require("torch", "train")
    transformers = require("transformers", "train")
    from adapters.training.trl_text import EnvGRPOTrainer  # checks the TRL release first

    started = time.perf_counter()
    output_dir = Path(config.output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    strata = resolve_strata(config.env_id, config.strata)
    eval_settings = describe(config.env_id).card.chosen_settings(config.eval_settings or ())
    if config.groups_per_step is None:
        config = replace(config, groups_per_step=len(strata) if len(strata) > 1 else 2)
    if config.groups_per_step % len(strata):
        raise ValueError(
            f"groups_per_step={config.groups_per_step} cannot hold {len(strata)} strata equally"
        )
    plan = BatchPlan.of(config)
    rows = config.rows if config.rows is not None else default_rows(config)
    replays = plan.generation_batches(config.max_steps) * config.groups_per_step / rows
    if replays > MAX_SEED_REPLAYS:
        logger.warning(
            "%d rows for %d generation batches of %d groups: each seed is played about %.0f "
            "times (leave rows unset for one play per seed)",
            rows,
            plan.generation_batches(config.max_steps),
            config.groups_per_step,
            replays,
        )
    funcs, weights = reward_functions(config.env_id, config.env_kwargs)
    dataset = build_episode_dataset(
        config.env_id,
        rows=rows,
        strata=strata,
        seed=config.seed,
        env_kwargs=config.env_kwargs,
    )
    model_path = resolve_model_path(config.model)
    tokenizer = transformers.AutoTokenizer.from_pretrained(model_path)
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    # float32 master weights: adding an lr-1e-6 update to bf16 weights changes only ~1% of them
    model = transformers.AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32)
    rollout = MultiTurnRollout(
        config.env_id,
        env_kwargs=config.env_kwargs,
        max_turns=config.max_turns,
        max_tokens_per_turn=config.max_tokens_per_turn,
        max_completion_length=config.max_completion_length,
    )
    args = grpo_config(config, weights)
    callbacks = list(callbacks)
    if config.eval_steps > 0:
        callbacks.append(
            make_eval_callback(
                config.env_id,
                every_steps=config.eval_steps,
                games=config.eval_games,
                tokenizer=tokenizer,
                output_dir=output_dir,
                settings=eval_settings,
                env_kwargs=config.env_kwargs,
                max_tokens_per_turn=config.max_tokens_per_turn,
            )
        )
    trainer = EnvGRPOTrainer(
        model=model,
        reward_funcs=funcs,
        args=args,
        train_dataset=dataset,
        processing_class=tokenizer,
        rollout_func=rollout,
        peft_config=(
            config.lora.peft_config(model.config.num_hidden_layers)
            if config.lora is not None
            else None
        ),
        callbacks=callbacks,
    )
    trainer.train()
    return finish_grpo_run(
        trainer,
        tokenizer,
        output_dir,
        started=started,
        result_type=GRPOResult,
        result_file="grpo_result.json",
        reward_names=[f.__name__ for f in funcs],
        reward_weights=list(weights),
    )
