"""``llm-gym replay`` and ``llm-gym rescore``: re-step a saved run with the current env code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.cli import app

if TYPE_CHECKING:
    from adapters.rescore import RescoreResult


@app.command("replay")
def replay_command(
    run_dir: Path = typer.Argument(..., help="An `llm-gym eval` run folder (results.jsonl)."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Mismatches to print at most."),
    as_json: bool = typer.Option(False, "--json", help="Print every mismatch as JSON."),
) -> None:
    """Re-step every saved rollout in a fresh env and check it against what was saved.

    Each observation, reward, component, info entry, outcome and total must match; every
    mismatch is reported with its row (as `llm-gym show -i ROW` numbers them) and turn. Exits 1
    on any mismatch: the env changed since the run, or the results file was edited.
    """
    from adapters.replay import replay_run

    console, err_console = Console(), Console(stderr=True)
    try:
        report = replay_run(run_dir)
    except FileNotFoundError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "rows": report.rows,
                    "skipped_failed_rows": report.skipped_failed_rows,
                    "matches": report.matches,
                    "mismatches": [m.as_dict() for m in report.mismatches],
                },
                indent=2,
                default=str,
            )
        )
    elif report.mismatches:
        table = Table(title=f"Mismatches in {run_dir}", show_lines=True)
        for column in ("where", "field", "saved", "now"):
            table.add_column(column)
        for mismatch in report.mismatches[:limit]:
            table.add_row(
                Text(mismatch.where()),
                Text(mismatch.field),
                Text(json.dumps(mismatch.saved, default=str)[:120]),
                Text(json.dumps(mismatch.replayed, default=str)[:120]),
            )
        console.print(table)
        if len(report.mismatches) > limit:
            console.print(f"... and {len(report.mismatches) - limit} more (--limit, --json)")
    if not as_json:
        skipped = (
            f" ({report.skipped_failed_rows} failed rows skipped)"
            if report.skipped_failed_rows
            else ""
        )
        if report.matches:
            console.print(f"{report.rows} rows replayed: every one matches{skipped}", style="green")
        else:
            console.print(
                f"{report.rows} rows replayed: {report.rows_with_mismatches} differ, "
                f"{len(report.mismatches)} mismatches{skipped}",
                style="bold red",
            )
    if not report.matches:
        raise typer.Exit(1)


@app.command("rescore")
def rescore_command(
    run_dir: Path = typer.Argument(..., help="An `llm-gym eval` run folder (results.jsonl)."),
    output: Path = typer.Option(..., "--output", "-o", help="The new run folder to write."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results in --output."),
    limit: int = typer.Option(20, "--limit", "-n", min=1, help="Changed rows to print at most."),
) -> None:
    """Recompute rewards and the summary of a saved run with the current env code.

    The saved replies are stepped again (no model is called); the new results, metadata and
    summary go to --output, and the changes against the saved run are printed.
    """
    from adapters.evaluation import OutputExistsError
    from adapters.rescore import rescore_run

    console, err_console = Console(), Console(stderr=True)
    try:
        result = rescore_run(run_dir, output, overwrite=overwrite)
    except (FileNotFoundError, OutputExistsError, ValueError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    for label in result.saved_summaries.keys() | result.new_summaries.keys():
        console.print(summary_change_table(result, label))
    if result.changes:
        table = Table(title=f"{len(result.changes)} rows changed", show_lines=False)
        for column in ("row", "seed", "rollout", "setting", "reward", "outcome", "note"):
            table.add_column(column)
        for change in result.changes[:limit]:
            record = change.record
            table.add_row(
                str(change.row),
                str(record.seed),
                str(record.rollout),
                record.setting or "",
                f"{change.saved_reward:+.3f} -> {change.new_reward:+.3f}",
                f"{change.saved_outcome} -> {change.new_outcome}",
                Text(change.note),
            )
        console.print(table)
    else:
        console.print("No row changed: the current env scores every saved reply as before.")
    console.print(f"rescored run: {result.output}")


def summary_change_table(result: RescoreResult, label: str | None) -> Table:
    """Saved and rescored summary figures of one setting, side by side."""
    saved, new = result.saved_summaries.get(label), result.new_summaries.get(label)
    title = f"{result.env_id}" + (f" · {label}" if label else "") + ": saved -> rescored"
    table = Table(title=title)
    for column in ("", "saved", "rescored", "change"):
        table.add_column(column, justify="right" if column else "left")

    def add(name: str, before: float | None, after: float | None) -> None:
        if before is None and after is None:
            return
        change = f"{after - before:+.3f}" if before is not None and after is not None else "n/a"
        table.add_row(
            name,
            _figure(before),
            _figure(after),
            change if change not in ("+0.000", "-0.000") else "",
        )

    add("episodes", saved and saved.episodes, new and new.episodes)
    add("total reward", saved and saved.total_reward_mean, new and new.total_reward_mean)
    components = {**(saved.components if saved else {}), **(new.components if new else {})}
    for name in components:
        add(
            f"  {name}",
            saved.components[name][0] if saved and name in saved.components else None,
            new.components[name][0] if new and name in new.components else None,
        )
    outcomes = {**(saved.outcome_rates if saved else {}), **(new.outcome_rates if new else {})}
    for name in sorted(outcomes):
        add(
            f"outcome {name}",
            saved.outcome_rates.get(name, 0.0) if saved else None,
            new.outcome_rates.get(name, 0.0) if new else None,
        )
    return table


def _figure(value: float | None) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3f}"
