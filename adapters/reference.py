"""Reference scores: where a policy stands between a random player and a perfect one.

``llm_gym/data/reference_scores.json`` holds, for each setting an env declares (its
``card.settings``; the shipped file is for ``LLMTicTacToe-v0``: ``random``, ``mixed``,
``optimal``), the figures of three players measured through the same rollout and summary code as
``llm-gym eval``: the env's scripted ``random`` player, the trained ``MaskablePPO`` baseline and
its scripted ``optimal`` player. It is written by ``llm-gym baseline ENV_ID --reference`` (see
:func:`compute_reference_scores`); the file says which env and settings it holds.

>>> scores = load_reference_scores()
>>> sorted(scores["scores"])
['mixed', 'optimal', 'random']
>>> normalized_score(0.7, scores["scores"]["optimal"])  # a draw every game, like the solver
1.0
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any

from rich.table import Table

from adapters.policies.base import ChatPolicy
from adapters.rollout import EpisodeJob, run_episodes
from adapters.summary import Summary, summarize
from llm_gym.envs.describe import describe

REFERENCE_ENV_ID = "LLMTicTacToe-v0"
"""The env of the shipped reference file; kept for ``adapters/cli/train.py`` (the code here reads
the file's own ``env_id``)."""
REFERENCE_PLAYERS = ("random_policy", "sb3_baseline", "optimal_player")
SCRIPTED_REFERENCE_PLAYERS = {"random_policy": "random", "optimal_player": "optimal"}
"""Reference player -> the env's scripted player that plays it."""


def scored_defaults(env_id: str) -> dict[str, Any]:
    """The env's defaults of the arguments that change the score scale (its card declares them).

    A result is placed on the reference scale only when it used these values.
    """
    description = describe(env_id)
    return {name: description.defaults[name] for name in description.card.score_scale_arguments}


def reference_scores_path() -> Path:
    """The shipped ``reference_scores.json`` inside the ``llm_gym`` package."""
    return Path(str(resources.files("llm_gym") / "data" / "reference_scores.json"))


def load_reference_scores(path: str | Path | None = None) -> dict[str, Any]:
    """The reference scores (shipped file unless ``path`` is given)."""
    with open(path or reference_scores_path(), encoding="utf-8") as handle:
        return json.load(handle)


def compact_summary(summary: Summary) -> dict[str, Any]:
    """The figures kept in the reference file for one player and opponent setting."""
    return {
        "episodes": summary.episodes,
        "total_reward": {"mean": summary.total_reward_mean, "std": summary.total_reward_std},
        "components": {name: mean for name, (mean, _) in summary.components.items()},
        "outcome_rates": dict(summary.outcome_rates),
        "invalid_action_rate": summary.invalid_action_rate,
    }


def opponent_setting_of(
    env_id: str, env_kwargs: Mapping[str, Any], scores: Mapping[str, Any] | None = None
) -> str | None:
    """The reference setting an eval's env arguments match, or ``None``.

    ``scores`` (default: the shipped file) names the env, its settings and the score-scale
    arguments it was measured with; an argument left out counts at the env's default.
    """
    scores = scores if scores is not None else load_reference_scores()
    if env_id.split(":")[-1] != scores.get("env_id"):
        return None
    defaults = describe(env_id).defaults
    for name, value in scores.get("env_kwargs", {}).items():
        if env_kwargs.get(name, defaults.get(name)) != value:
            return None
    for setting, kwargs in scores.get("opponent_settings", {}).items():
        if all(env_kwargs.get(k, defaults.get(k)) == v for k, v in kwargs.items()):
            return setting
    return None


def normalized_score(total_reward: float, setting_scores: Mapping[str, Any]) -> float:
    """Mean episode reward rescaled so the random player is 0 and the optimal player is 1."""
    low = setting_scores["random_policy"]["total_reward"]["mean"]
    high = setting_scores["optimal_player"]["total_reward"]["mean"]
    if high == low:
        raise ValueError("the reference players score the same; the scale is empty")
    return (total_reward - low) / (high - low)


def reference_table(
    summary: Summary,
    env_id: str,
    env_kwargs: Mapping[str, Any],
    *,
    name: str = "this policy",
    scores: Mapping[str, Any] | None = None,
) -> Table | None:
    """The reference players next to ``summary``, or ``None`` when no setting matches."""
    scores = scores if scores is not None else load_reference_scores()
    setting = opponent_setting_of(env_id, env_kwargs, scores)
    if setting is None:
        return None
    setting_scores = scores["scores"][setting]
    table = Table(
        title=f"{env_id} vs the {setting} opponent: reference scale",
        show_header=True,
        header_style="bold",
    )
    rows: list[tuple[str, Mapping[str, float], float]] = [
        (_player_label(player, scores), data["outcome_rates"], data["total_reward"]["mean"])
        for player, data in setting_scores.items()
    ]
    rows.append((name, summary.outcome_rates, summary.total_reward_mean))
    outcomes = ["win", "draw", "loss"]
    if any(rates.get("truncated", 0.0) for _, rates, _ in rows):
        outcomes.append("truncated")
    for column in ("player", *outcomes, "total reward", "scaled (random 0, optimal 1)"):
        table.add_column(column, justify="left" if column == "player" else "right")
    for label, rates, reward in sorted(rows, key=lambda row: row[2]):
        table.add_row(
            f"[bold]{label}[/bold]" if label == name else label,
            *(f"{rates.get(outcome, 0.0):.1%}" for outcome in outcomes),
            f"{reward:.3f}",
            f"{normalized_score(reward, setting_scores):.2f}",
        )
    return table


def _player_label(player: str, scores: Mapping[str, Any]) -> str:
    if player == "sb3_baseline":
        baseline = scores.get("baseline", {})
        return f"SB3 {baseline.get('algo', 'baseline')} ({baseline.get('steps', '?'):,} steps)"
    return player.replace("_", " ")


def evaluate_chat_policy(
    policy: ChatPolicy,
    env_id: str,
    *,
    games: int,
    seed: int,
    env_kwargs: Mapping[str, Any],
    concurrency: int = 1,
) -> Summary:
    """Summary of ``games`` episodes (seeds ``seed ..``) of a chat policy."""
    jobs = [EpisodeJob(env_id, seed + game, 0, dict(env_kwargs)) for game in range(games)]
    return summarize(asyncio.run(run_episodes(jobs, policy, concurrency=concurrency)))


def compute_reference_scores(
    env_id: str,
    baseline_summaries: Mapping[str, Summary],
    *,
    games: int,
    seed: int,
    baseline: Mapping[str, Any],
) -> dict[str, Any]:
    """Evaluate the env's scripted random and optimal players and add the baseline's summaries.

    Args:
        env_id: the env; every setting it declares is measured.
        baseline_summaries: setting -> summary of the trained baseline, evaluated over the same
            ``games`` seeds.
        games, seed: episodes per setting and the first env seed.
        baseline: what the baseline is (algo, steps, training time, command) for the record.
    """
    settings = {name: dict(kwargs) for name, kwargs in describe(env_id).card.settings.items()}
    missing = [name for name in settings if name not in baseline_summaries]
    if missing:
        raise ValueError(f"no baseline summary for the setting(s) {', '.join(missing)}")
    scores: dict[str, Any] = {
        "env_id": describe(env_id).env_id,
        "games_per_setting": games,
        "first_seed": seed,
        "opponent_settings": settings,
        "env_kwargs": scored_defaults(env_id),
        "baseline": dict(baseline),
        "scores": {name: {"sb3_baseline": None} for name in settings},
    }
    measured = refresh_scripted_players(scores)
    for name in settings:
        players = measured["scores"][name]
        players["sb3_baseline"] = compact_summary(baseline_summaries[name])
        measured["scores"][name] = {player: players[player] for player in REFERENCE_PLAYERS}
    return measured


def refresh_scripted_players(scores: Mapping[str, Any]) -> dict[str, Any]:
    """``scores`` with the scripted players re-measured on the same seeds, the baseline kept.

    For when a scripted player changes and retraining the baseline is not needed.
    """
    from adapters.policies import ScriptedChatPolicy

    env_id = scores["env_id"]
    refreshed = json.loads(json.dumps(scores))
    for setting, kwargs in scores["opponent_settings"].items():
        for player, name in SCRIPTED_REFERENCE_PLAYERS.items():
            summary = evaluate_chat_policy(
                ScriptedChatPolicy.for_env(env_id, name),
                env_id,
                games=scores["games_per_setting"],
                seed=scores["first_seed"],
                env_kwargs={**scores["env_kwargs"], **kwargs},
            )
            refreshed["scores"][setting][player] = compact_summary(summary)
    return refreshed


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--refresh-scripted"]:
        sys.exit("usage: python -m adapters.reference --refresh-scripted")
    path = reference_scores_path()
    path.write_text(
        json.dumps(refresh_scripted_players(load_reference_scores(path)), indent=2) + "\n",
        encoding="utf-8",
    )
    print(f"re-measured the scripted players in {path}")
