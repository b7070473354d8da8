"""Runs side by side: the summaries of several ``llm-gym eval`` folders, one row per run and
opponent setting (sampled or exact), so a trained model can be read next to its base. Runs whose
model was shown another context (``--context``, :mod:`adapters.context`) say so in a column."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.table import Table

from adapters.context import DEFAULT_CONTEXT
from adapters.evaluation import METADATA_FILE, SUMMARY_FILE

OUTCOMES = ("win", "draw", "loss", "truncated")


@dataclass(frozen=True)
class RunRow:
    """One opponent setting of one run."""

    run: str
    model: str
    setting: str
    exact: bool
    games: int
    outcome_rates: dict[str, float]
    total_reward: float
    format_rate: float | None
    invalid_rate: float | None
    wall_time_s: float | None
    context: str = DEFAULT_CONTEXT


def load_run_rows(run_dir: str | Path) -> list[RunRow]:
    """The per-setting rows of a run folder.

    Raises:
        FileNotFoundError: the folder has no ``summary.json`` (the run did not finish).
    """
    folder = Path(run_dir)
    summary_path = folder / SUMMARY_FILE
    if not summary_path.is_file():
        raise FileNotFoundError(
            f"no {SUMMARY_FILE} in {folder}: is it a finished llm-gym eval run?"
        )
    summary = json.loads(summary_path.read_text(encoding="utf-8"))
    metadata: dict[str, Any] = {}
    if (folder / METADATA_FILE).is_file():
        metadata = json.loads((folder / METADATA_FILE).read_text(encoding="utf-8"))
    model = str(metadata.get("policy", {}).get("model", "?"))
    exact = bool(summary.get("exact", False))
    rows = []
    for setting, data in summary.get("settings", {}).items():
        rows.append(
            RunRow(
                run=folder.name,
                model=model,
                setting=setting,
                exact=exact,
                games=int(data.get("episodes", 0)),
                outcome_rates={k: float(v) for k, v in data.get("outcome_rates", {}).items()},
                total_reward=float(data.get("total_reward", {}).get("mean", 0.0)),
                format_rate=data.get("format_rate"),
                invalid_rate=data.get("invalid_action_rate"),
                wall_time_s=data.get("wall_time_s"),
                context=str(metadata.get("context", DEFAULT_CONTEXT)),
            )
        )
    return rows


def comparison_table(runs: Sequence[str | Path]) -> Table:
    """Every setting of every run, grouped by setting, runs in the order given."""
    rows = [row for run in runs for row in load_run_rows(run)]
    settings = list(dict.fromkeys(row.setting for row in rows))
    outcomes = [o for o in OUTCOMES if any(row.outcome_rates.get(o) for row in rows)]
    models = [row.model for row in rows if row.setting == settings[0]] if settings else []
    label_by_run = len(set(models)) < len(models)
    table = Table(title="Runs side by side", show_header=True, header_style="bold")
    table.add_column("setting")
    table.add_column("run" if label_by_run else "model")
    show_context = any(row.context != DEFAULT_CONTEXT for row in rows)
    if show_context:
        table.add_column("context")
    for column in ("games", *outcomes, "reward", "format", "invalid"):
        table.add_column(column, justify="right")
    for setting in settings:
        for row in (r for r in rows if r.setting == setting):
            table.add_row(
                setting,
                row.run if label_by_run else row.model,
                *([row.context] if show_context else []),
                "exact" if row.exact else str(row.games),
                *(f"{row.outcome_rates.get(o, 0.0):.1%}" for o in outcomes),
                f"{row.total_reward:.3f}",
                "-" if row.format_rate is None else f"{row.format_rate:.0%}",
                "-" if row.invalid_rate is None else f"{row.invalid_rate:.0%}",
            )
        table.add_section()
    return table
