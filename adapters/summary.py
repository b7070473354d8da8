"""Summary statistics over episode records, shared by evaluation, baselines and training."""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from statistics import fmean, pstdev

from rich.table import Table

from adapters.records import EpisodeRecord
from llm_gym.envs.card import DEFAULT_SUCCESS_OUTCOMES

SUCCESS_OUTCOMES = DEFAULT_SUCCESS_OUTCOMES
"""Success outcomes where no env says otherwise (an env declares its own in ``card``)."""


@dataclass
class Summary:
    """Aggregates of a set of episodes (one env, one policy).

    ``pass_at_k`` maps k to the unbiased pass@k estimate over examples (episodes sharing a
    seed), with success meaning an outcome in ``success_outcomes``.
    """

    episodes: int
    examples: int
    total_reward_mean: float
    total_reward_std: float
    components: dict[str, tuple[float, float]]
    outcome_rates: dict[str, float]
    format_rate: float | None
    invalid_action_rate: float
    episodes_with_invalid_rate: float
    pass_at_k: dict[int, float]
    completion_tokens: int
    prompt_tokens: int
    wall_time_s: float
    errors: int
    success_outcomes: tuple[str, ...] = SUCCESS_OUTCOMES
    metrics: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, object]:
        return {
            "episodes": self.episodes,
            "examples": self.examples,
            "total_reward": {"mean": self.total_reward_mean, "std": self.total_reward_std},
            "components": {k: {"mean": m, "std": s} for k, (m, s) in self.components.items()},
            "outcome_rates": self.outcome_rates,
            "format_rate": self.format_rate,
            "invalid_action_rate": self.invalid_action_rate,
            "episodes_with_invalid_rate": self.episodes_with_invalid_rate,
            "pass_at_k": {str(k): v for k, v in self.pass_at_k.items()},
            "completion_tokens": self.completion_tokens,
            "prompt_tokens": self.prompt_tokens,
            "wall_time_s": self.wall_time_s,
            "errors": self.errors,
            "success_outcomes": list(self.success_outcomes),
            "metrics": self.metrics,
        }


def pass_at_k(samples: int, successes: int, k: int) -> float:
    """Unbiased pass@k estimate from ``samples`` rollouts with ``successes`` successes."""
    if k > samples:
        raise ValueError(f"k={k} exceeds the {samples} rollouts available")
    if samples - successes < k:
        return 1.0
    return 1.0 - math.comb(samples - successes, k) / math.comb(samples, k)


def summarize(
    records: Iterable[EpisodeRecord], *, success_outcomes: Sequence[str] = SUCCESS_OUTCOMES
) -> Summary:
    """Aggregate episode records; records carrying an ``error`` count only as errors."""
    all_records = list(records)
    done = [r for r in all_records if r.error is None]
    if not done:
        raise ValueError("no completed episodes to summarize")
    totals = [r.total_reward for r in done]
    names = sorted({name for r in done for name in r.reward_components})
    components = {
        name: _mean_std([r.reward_components.get(name, 0.0) for r in done]) for name in names
    }
    outcomes = Counter(r.outcome or "none" for r in done)
    turns = sum(len(r.turns) for r in done)
    format_rates = [r.metrics["format_rate"] for r in done if "format_rate" in r.metrics]
    by_seed: dict[int, list[EpisodeRecord]] = defaultdict(list)
    for r in done:
        by_seed[r.seed].append(r)
    smallest_group = min(len(group) for group in by_seed.values())
    ks = [k for k in (1, 2, 4, 8, 16, 32) if k <= smallest_group]
    if smallest_group not in ks:
        ks.append(smallest_group)
    pass_k = {
        k: fmean(
            pass_at_k(len(group), sum(r.outcome in success_outcomes for r in group), k)
            for group in by_seed.values()
        )
        for k in ks
    }
    numeric_metrics: dict[str, list[float]] = defaultdict(list)
    for r in done:
        for key, value in r.metrics.items():
            if (isinstance(value, (int, float)) and not isinstance(value, bool)) or isinstance(
                value, bool
            ):
                numeric_metrics[key].append(float(value))
    return Summary(
        episodes=len(done),
        examples=len(by_seed),
        total_reward_mean=fmean(totals),
        total_reward_std=pstdev(totals),
        components=components,
        outcome_rates={k: v / len(done) for k, v in sorted(outcomes.items())},
        format_rate=fmean(format_rates) if format_rates else None,
        invalid_action_rate=sum(r.invalid_actions for r in done) / max(turns, 1),
        episodes_with_invalid_rate=sum(r.invalid_actions > 0 for r in done) / len(done),
        pass_at_k=pass_k,
        completion_tokens=sum(r.completion_tokens for r in done),
        prompt_tokens=sum(r.prompt_tokens for r in done),
        wall_time_s=sum(r.wall_time_s for r in done),
        errors=len(all_records) - len(done),
        success_outcomes=tuple(success_outcomes),
        metrics={k: fmean(v) for k, v in sorted(numeric_metrics.items())},
    )


def summary_table(summary: Summary, *, title: str = "Summary") -> Table:
    """A rich table of a summary, for the terminal."""
    table = Table(title=title, show_header=True, header_style="bold")
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("episodes (examples)", f"{summary.episodes} ({summary.examples})")
    table.add_row(
        "total reward", f"{summary.total_reward_mean:.3f} ± {summary.total_reward_std:.3f}"
    )
    for name, (mean, std) in summary.components.items():
        table.add_row(f"  {name}", f"{mean:.3f} ± {std:.3f}")
    for outcome, rate in summary.outcome_rates.items():
        table.add_row(f"outcome: {outcome}", f"{rate:.1%}")
    if summary.format_rate is not None:
        table.add_row("format rate", f"{summary.format_rate:.1%}")
    table.add_row("invalid actions (per turn)", f"{summary.invalid_action_rate:.1%}")
    table.add_row("episodes with an invalid action", f"{summary.episodes_with_invalid_rate:.1%}")
    success = "/".join(summary.success_outcomes)
    for k, value in summary.pass_at_k.items():
        table.add_row(f"pass@{k} ({success})", f"{value:.1%}")
    for key, value in summary.metrics.items():
        if key != "format_rate":
            table.add_row(f"metric: {key}", f"{value:.3f}")
    table.add_row(
        "tokens (prompt / completion)", f"{summary.prompt_tokens} / {summary.completion_tokens}"
    )
    table.add_row("episode time, summed (s)", f"{summary.wall_time_s:.1f}")
    if summary.errors:
        table.add_row("[red]failed episodes[/red]", str(summary.errors))
    return table


def _mean_std(values: list[float]) -> tuple[float, float]:
    return fmean(values), pstdev(values)
