"""Exact evaluation: the outcome distribution of a greedy policy, from its whole game tree.

Instead of sampling episodes, :func:`evaluate_exact` walks every branch of the env's chance
events for each setting (:mod:`adapters.exact`) and weighs each distinct game by its
probability. The run folder holds the files of a sampled evaluation:

- ``results.jsonl``: one record per distinct game, with its ``probability``;
- ``summary.json``: per setting, the exact summary (outcome probabilities, mean reward and
  components), its split by the model's side, and the number of decisions; the model calls;
- ``metadata.json``: as for sampled runs, with ``"exact": true``.

The sampled-run fields keep their meaning as expectations: ``outcome_rates`` are probabilities,
``total_reward`` the exact mean and standard deviation, ``pass_at_k`` has k = 1 only,
``episodes`` counts distinct games and the token counts cover the distinct model calls.

With ``context="last"`` (:mod:`adapters.context`) the policy is asked once per distinct visible
conversation (system prompt and latest observation), so a position reached by several histories
costs one call; ``decisions`` count those visible conversations.
"""

from __future__ import annotations

import json
import math
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from adapters.context import DEFAULT_CONTEXT, Context, check_context, with_context
from adapters.evaluation import (
    METADATA_FILE,
    RESULTS_FILE,
    SUMMARY_FILE,
    EvalConfig,
    EvalResult,
    build_metadata,
    prepare_output,
)
from adapters.exact import (
    MemoPolicy,
    decision_key,
    decision_prompts,
    decision_weights,
    walk,
)
from adapters.policies.base import ChatPolicy
from adapters.records import EpisodeRecord, append_record
from adapters.summary import Summary

SAMPLING_ONLY_KEYS = ("num_examples", "rollouts_per_example", "seed_offset")
"""Metadata of sampled runs that an exact run does not use."""


@dataclass
class ExactEvalResult(EvalResult):
    """An :class:`~adapters.evaluation.EvalResult` plus what only exact evaluation knows."""

    model_calls: int = 0
    decisions: dict[str | None, int] = field(default_factory=dict)
    by_side: dict[str | None, dict[str, tuple[float, Summary]]] = field(default_factory=dict)
    """Per setting: side -> (probability of playing it, summary of its games)."""


def _weighted_mean_std(pairs: Iterable[tuple[float, float]]) -> tuple[float, float]:
    pairs = list(pairs)
    total = sum(weight for weight, _ in pairs)
    mean = sum(weight * value for weight, value in pairs) / total
    variance = sum(weight * (value - mean) ** 2 for weight, value in pairs) / total
    return mean, math.sqrt(max(variance, 0.0))


def exact_summary(
    games: Sequence[EpisodeRecord],
    *,
    success_outcomes: Sequence[str],
    wall_time_s: float = 0.0,
    context: Context = DEFAULT_CONTEXT,
) -> Summary:
    """The expectation over ``games`` weighted by their ``probability`` (renormalised to 1).

    Token counts sum over the distinct decisions of the games (what the policy generated; told
    apart in the policy's ``context``).
    """
    if not games:
        raise ValueError("no games to summarize")
    weights = [game.probability or 0.0 for game in games]
    total = sum(weights)
    if total <= 0.0:
        raise ValueError("the games have no probability")
    weights = [weight / total for weight in weights]
    names = sorted({name for game in games for name in game.reward_components})
    components = {
        name: _weighted_mean_std(
            (w, g.reward_components.get(name, 0.0)) for w, g in zip(weights, games, strict=True)
        )
        for name in names
    }
    outcomes: dict[str, float] = defaultdict(float)
    for weight, game in zip(weights, games, strict=True):
        outcomes[game.outcome or "none"] += weight
    expected_turns = sum(w * len(g.turns) for w, g in zip(weights, games, strict=True))
    expected_invalid = sum(w * g.invalid_actions for w, g in zip(weights, games, strict=True))
    metric_values: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for weight, game in zip(weights, games, strict=True):
        for key, value in game.metrics.items():
            if isinstance(value, (int, float)):
                metric_values[key].append((weight, float(value)))
    metrics = {key: _weighted_mean_std(pairs)[0] for key, pairs in sorted(metric_values.items())}
    prompt_tokens, completion_tokens = _decision_tokens(games, context)
    mean, std = _weighted_mean_std((w, g.total_reward) for w, g in zip(weights, games, strict=True))
    return Summary(
        episodes=len(games),
        examples=len(games),
        total_reward_mean=mean,
        total_reward_std=std,
        components=components,
        outcome_rates=dict(sorted(outcomes.items())),
        format_rate=metrics.get("format_rate"),
        invalid_action_rate=expected_invalid / max(expected_turns, 1e-12),
        episodes_with_invalid_rate=sum(
            w for w, g in zip(weights, games, strict=True) if g.invalid_actions
        ),
        pass_at_k={1: sum(outcomes.get(o, 0.0) for o in success_outcomes)},
        completion_tokens=completion_tokens,
        prompt_tokens=prompt_tokens,
        wall_time_s=wall_time_s,
        errors=0,
        success_outcomes=tuple(success_outcomes),
        metrics=metrics,
    )


def _decision_tokens(games: Sequence[EpisodeRecord], context: Context) -> tuple[int, int]:
    seen: dict[str, tuple[int, int]] = {}
    for game in games:
        for prompt, turn in zip(decision_prompts(game), game.turns, strict=False):
            seen[decision_key(prompt, context)] = (
                turn.prompt_tokens or 0,
                turn.completion_tokens or 0,
            )
    return sum(p for p, _ in seen.values()), sum(c for _, c in seen.values())


def side_of(game: EpisodeRecord) -> str | None:
    """The model's side (tic-tac-toe's ``model_mark``) as the game's infos give it."""
    for turn in game.turns:
        if "model_mark" in turn.info:
            return str(turn.info["model_mark"])
    return None


def split_by_side(
    games: Sequence[EpisodeRecord],
    *,
    success_outcomes: Sequence[str],
    context: Context = DEFAULT_CONTEXT,
) -> dict[str, tuple[float, Summary]]:
    """Side -> (its probability, the summary of its games); empty for envs without sides."""
    sides: dict[str, list[EpisodeRecord]] = defaultdict(list)
    for game in games:
        side = side_of(game)
        if side is None:
            return {}
        sides[side].append(game)
    total = sum(game.probability or 0.0 for game in games)
    return {
        side: (
            sum(g.probability or 0.0 for g in side_games) / total,
            exact_summary(side_games, success_outcomes=success_outcomes, context=context),
        )
        for side, side_games in sorted(sides.items())
    }


async def evaluate_exact(
    config: EvalConfig,
    policy: ChatPolicy,
    *,
    output: Path | None = None,
    overwrite: bool = False,
    command: Sequence[str] | None = None,
    on_setting: Callable[[str | None, int], None] | None = None,
) -> ExactEvalResult:
    """Walk the game tree of a deterministic ``policy`` under every setting of ``config``.

    Args:
        config: the env, settings and policy description (its example counts are not used).
        policy: a deterministic chat policy (greedy model, scripted player); it is asked once
            per distinct conversation across all settings, shown ``config.policy.context``
            (:func:`adapters.context.with_context`).
        output: the run folder (``None``: keep everything in memory).
        overwrite: replace the results already in ``output``.
        command: the command line for the metadata (default ``sys.argv``).
        on_setting: called with ``(setting label, model calls so far)`` after each setting.
    """
    started = time.perf_counter()
    context = check_context(config.policy.context, config.env_id)
    policy = with_context(policy, context)
    if output is not None:
        prepare_output(output, config, resume=False, overwrite=overwrite)
        meta = build_metadata(config, command)
        for key in SAMPLING_ONLY_KEYS:
            meta.pop(key, None)
        meta["exact"] = True
        (output / METADATA_FILE).write_text(
            json.dumps(meta, indent=2, default=str) + "\n", encoding="utf-8"
        )
    memo = policy if isinstance(policy, MemoPolicy) else MemoPolicy(policy)
    records: list[EpisodeRecord] = []
    summaries: dict[str | None, Summary] = {}
    decisions: dict[str | None, int] = {}
    by_side: dict[str | None, dict[str, tuple[float, Summary]]] = {}
    for arm in config.arms():
        arm_started = time.perf_counter()
        games = await walk(config.env_id, memo, env_kwargs=arm.env_kwargs, setting=arm.label)
        success = config.success_outcomes
        summaries[arm.label] = exact_summary(
            games,
            success_outcomes=success,
            wall_time_s=time.perf_counter() - arm_started,
            context=context,
        )
        decisions[arm.label] = len(decision_weights(games, context))
        by_side[arm.label] = split_by_side(games, success_outcomes=success, context=context)
        records.extend(games)
        if output is not None:
            for game in games:
                append_record(output / RESULTS_FILE, game)
        if on_setting is not None:
            on_setting(arm.label, memo.calls)
    result = ExactEvalResult(
        config,
        records,
        summaries,
        time.perf_counter() - started,
        output,
        model_calls=memo.calls,
        decisions=decisions,
        by_side=by_side,
    )
    if output is not None:
        write_exact_summary(result)
    return result


def write_exact_summary(result: ExactEvalResult) -> None:
    """``summary.json``: the sampled-run layout plus sides, decisions and model calls."""
    assert result.output is not None
    settings = {}
    for label, summary in result.summaries.items():
        settings[str(label)] = {
            **summary.as_dict(),
            "decisions": result.decisions.get(label),
            "by_side": {
                side: {"probability": probability, **side_summary.as_dict()}
                for side, (probability, side_summary) in result.by_side.get(label, {}).items()
            },
        }
    data = {
        "env_id": result.config.env_id,
        "exact": True,
        "context": result.config.policy.context,
        "rows": len(result.records),
        "failed_rows": 0,
        "model_calls": result.model_calls,
        "wall_time_s": result.wall_time_s,
        "settings": settings,
    }
    (result.output / SUMMARY_FILE).write_text(
        json.dumps(data, indent=2, default=str) + "\n", encoding="utf-8"
    )
