"""Text-mode GRPO on TRL: :class:`EnvGRPOTrainer`, the trainer of ``llm-gym train-grpo``.

Text mode plays whole episodes through TRL's public ``rollout_func``
(:class:`~adapters.training.grpo_rollout.MultiTurnRollout`): it returns each episode's tokens
with an ``env_mask`` that keeps the env's messages out of the loss, so it works with any chat
template (SmolLM2's included, which TRL cannot parse tool calls from) and scores the raw reply
format (``<move>``, ``<think>``). The rollout's other columns reach the reward functions, which
log the episode metrics through TRL's ``log_metric``. Tool mode
(:mod:`adapters.training.grpo_tools`) needs none of this module.

TRL 1.16 has no public hook for two things, so :class:`EnvGRPOTrainer` overrides exactly two
private ``GRPOTrainer`` methods:

- ``_get_train_sampler``: the trainer builds its data loader around this sampler and takes none
  as an argument, and difficulty-balanced generation batches need
  :class:`~adapters.training.grpo.StratifiedRepeatSampler`. (``shuffle_dataset=False`` over an
  interleaved data set would balance batches too, but plays one fixed batch order every epoch.)
- ``_generate_and_score_completions``: ``rollout_func`` receives only the prompts, while each
  episode's seed and env arguments are other columns of its data-set row; the override keeps
  the batch's rows in ``rollout_rows`` for the duration of the call.

Private methods change without notice, so importing this module checks the installed TRL
against :data:`TRL_REQUIREMENT`, the range these overrides are tested with; the ``train`` extra
pins the same range.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

from adapters.models import require
from adapters.training.grpo import StratifiedRepeatSampler

TRL_REQUIREMENT = "trl>=1.16,<1.17"
"""The TRL releases text mode is tested with (``pyproject.toml``'s ``train`` extra agrees)."""


def check_trl_version(version: str) -> None:
    """Refuse a TRL release outside :data:`TRL_REQUIREMENT`.

    Raises:
        ImportError: naming the version found, the range needed and how to install it.
    """
    from packaging.requirements import Requirement

    if not Requirement(TRL_REQUIREMENT).specifier.contains(version, prereleases=True):
        raise ImportError(
            f"text-mode GRPO overrides private GRPOTrainer methods and is tested with "
            f"{TRL_REQUIREMENT}, but trl {version} is installed: pip install '{TRL_REQUIREMENT}'"
        )


def require_tested_trl() -> ModuleType:
    """TRL's module, once it is known to be a release in :data:`TRL_REQUIREMENT`."""
    trl = require("trl", "train")
    check_trl_version(trl.__version__)
    return trl


trl = require_tested_trl()


class EnvGRPOTrainer(trl.GRPOTrainer):
    """``GRPOTrainer`` for env rollouts: stratified batches, rows handed to the rollout.

    Args:
        strata_column: the data-set column of difficulty strata; ``None`` (or a data set
            without it) keeps TRL's shuffled ``RepeatSampler``.
    """

    def __init__(self, *args: Any, strata_column: str | None = "stratum", **kwargs: Any):
        self.strata_column = strata_column
        self.rollout_rows: list[dict[str, Any]] | None = None
        super().__init__(*args, **kwargs)

    def _get_train_sampler(self, dataset: Any = None) -> Any:
        dataset = dataset if dataset is not None else self.train_dataset
        if self.strata_column is None or self.strata_column not in dataset.column_names:
            return super()._get_train_sampler(dataset)
        return StratifiedRepeatSampler(
            dataset[self.strata_column],
            mini_repeat_count=self.num_generations,
            batch_size=self.args.generation_batch_size // self.num_generations,
            repeat_count=self.num_iterations * self.args.steps_per_generation,
            shuffle=self.shuffle_dataset,
            seed=self.args.seed,
        )

    def _generate_and_score_completions(self, inputs: list[dict[str, Any]]) -> Any:
        self.rollout_rows = [dict(row) for row in inputs]
        try:
            return super()._generate_and_score_completions(inputs)
        finally:
            self.rollout_rows = None
