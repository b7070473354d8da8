"""Outcome charts: stacked outcome shares per player, one panel per setting (PNG, no display).

For ``LLMTicTacToe-v0`` settings that match a reference opponent (see
:mod:`adapters.reference`), the reference players (random, the SB3 baseline, optimal) are drawn
next to the evaluated model when ``llm_gym/data/reference_scores.json`` exists.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from adapters.summary import Summary

OUTCOME_COLOURS = {
    "win": "#2e7d32",
    "correct": "#2e7d32",
    "draw": "#f9a825",
    "loss": "#c62828",
    "incorrect": "#c62828",
    "truncated": "#757575",
    "none": "#bdbdbd",
}
OUTCOME_ORDER = ("win", "correct", "draw", "loss", "incorrect", "truncated", "none")


def reference_rows(
    env_id: str, env_kwargs: Mapping[str, Any], scores: Mapping[str, Any] | None
) -> list[tuple[str, Mapping[str, float]]]:
    """``(player label, outcome rates)`` of the reference players for this setting, if any."""
    if scores is None:
        return []
    from adapters.reference import _player_label, opponent_setting_of

    setting = opponent_setting_of(env_id, env_kwargs, scores)
    if setting is None or setting not in scores.get("scores", {}):
        return []
    return [
        (_player_label(player, scores), data["outcome_rates"])
        for player, data in scores["scores"][setting].items()
    ]


def load_reference_scores_if_any() -> dict[str, Any] | None:
    """The shipped reference scores, or ``None`` when the file is not there."""
    from adapters.reference import load_reference_scores, reference_scores_path

    if not reference_scores_path().is_file():
        return None
    return load_reference_scores()


def outcome_chart(
    panels: Sequence[tuple[str, Sequence[tuple[str, Mapping[str, float]]]]],
    path: str | Path,
    *,
    title: str = "Outcomes",
) -> Path:
    """Draw one horizontal stacked-bar panel per ``(panel title, [(player, rates), ...])``.

    Returns the path of the written PNG.
    """
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    outcomes = sorted(
        {outcome for _, rows in panels for _, rates in rows for outcome in rates},
        key=lambda o: (OUTCOME_ORDER.index(o) if o in OUTCOME_ORDER else len(OUTCOME_ORDER), o),
    )
    height = max(2.5, sum(0.45 * len(rows) + 0.9 for _, rows in panels) + 0.6)
    figure, axes = plt.subplots(
        len(panels), 1, figsize=(8, height), squeeze=False, constrained_layout=True
    )
    for axis, (panel_title, rows) in zip(axes[:, 0], panels, strict=True):
        labels = [label for label, _ in rows]
        left = [0.0] * len(rows)
        for outcome in outcomes:
            shares = [float(rates.get(outcome, 0.0)) for _, rates in rows]
            bars = axis.barh(
                labels,
                shares,
                left=left,
                color=OUTCOME_COLOURS.get(outcome),
                label=outcome,
                edgecolor="white",
            )
            for bar, share in zip(bars, shares, strict=True):
                if share >= 0.08:
                    axis.text(
                        bar.get_x() + bar.get_width() / 2,
                        bar.get_y() + bar.get_height() / 2,
                        f"{share:.0%}",
                        ha="center",
                        va="center",
                        fontsize=8,
                        color="white",
                    )
            left = [a + b for a, b in zip(left, shares, strict=True)]
        axis.set_xlim(0, 1)
        axis.invert_yaxis()
        axis.set_title(panel_title, fontsize=10)
        axis.xaxis.set_major_formatter(matplotlib.ticker.PercentFormatter(1.0))
    handles, names = axes[0, 0].get_legend_handles_labels()
    figure.legend(handles, names, loc="outside lower center", ncol=max(1, len(outcomes)))
    figure.suptitle(title)
    path = Path(path)
    figure.savefig(path, dpi=120)
    plt.close(figure)
    return path


def eval_chart(
    env_id: str,
    arms: Sequence[tuple[str | None, Mapping[str, Any]]],
    summaries: Mapping[str | None, Summary],
    path: str | Path,
    *,
    model_label: str,
    reference_scores: Mapping[str, Any] | None = None,
) -> Path:
    """The outcome chart of an evaluation: one panel per setting, reference players included."""
    panels = []
    for label, env_kwargs in arms:
        if label not in summaries:
            continue
        rows = [*reference_rows(env_id, env_kwargs, reference_scores)]
        rows.append((model_label, summaries[label].outcome_rates))
        episodes = summaries[label].episodes
        panels.append((f"{label or env_id} ({episodes} episodes)", rows))
    if not panels:
        raise ValueError("no finished episodes to chart")
    return outcome_chart(panels, path, title=f"{env_id}: {model_label}")
