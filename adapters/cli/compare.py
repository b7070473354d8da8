"""``llm-gym compare``: several evaluation runs side by side."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console

from adapters.cli import app


@app.command("compare")
def compare_command(
    runs: list[Path] = typer.Argument(..., help="Run folders written by llm-gym eval -o."),
) -> None:
    """Print the summaries of RUNS side by side: outcome rates, reward, format and invalid rates
    per opponent setting (exact runs say so).

    Example: llm-gym compare outputs/evals/base outputs/evals/trained
    """
    from adapters.comparison import comparison_table

    try:
        table = comparison_table(runs)
    except FileNotFoundError as error:
        raise typer.BadParameter(str(error)) from error
    Console().print(table)
