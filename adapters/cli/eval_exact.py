"""``llm-gym eval --exact``: the option checks and the run, apart from sampled evaluation."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

EXACT_HELP = (
    "Exact outcome probabilities of the greedy policy: walk every opponent reply and both sides "
    "(each distinct conversation asked once) instead of sampling games; -n, -r and "
    "--seed-offset do not apply. LLMTicTacToe-v0 only (envs that expose their chance events)."
)


def check_exact_options(
    *, temperature: float | None, resume: bool, rollouts_per_example: int
) -> None:
    """Reject options that contradict an exact walk of a greedy policy."""
    if temperature is not None and temperature > 0:
        raise typer.BadParameter(
            f"--exact evaluates the greedy policy: use --temperature 0 or leave it out, got "
            f"{temperature}"
        )
    if resume:
        raise typer.BadParameter(
            "--exact runs cannot be resumed (a walk asks each conversation once; rerun it "
            "with --overwrite)"
        )
    if rollouts_per_example != 1:
        raise typer.BadParameter(
            f"--exact plays each conversation once (a greedy policy repeats itself): drop -r "
            f"{rollouts_per_example}"
        )


def run_exact_eval(
    config, policy, *, output: Path, overwrite: bool, chart: bool, model_label: str
) -> None:
    """Walk, write the run folder, print the summaries, the sides and the model calls."""
    from adapters.cli.eval import report
    from adapters.evaluation import OutputExistsError
    from adapters.exact_evaluation import evaluate_exact
    from adapters.policies.factory import close_policy

    started = time.perf_counter()

    def on_setting(label: str | None, calls: int) -> None:
        err_console.print(
            f"{label or config.env_id}: walked, {calls} model calls so far "
            f"({time.perf_counter() - started:.1f} s)"
        )

    async def run():
        try:
            return await evaluate_exact(
                config,
                policy,
                output=output,
                overwrite=overwrite,
                command=["llm-gym", *sys.argv[1:]],
                on_setting=on_setting,
            )
        finally:
            await close_policy(policy)

    try:
        result = asyncio.run(run())
    except OutputExistsError as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    report(result, model_label=model_label, chart=chart)
    console.print(side_table(result))
    console.print(
        f"exact: {result.model_calls} model calls for {len(result.records)} distinct games "
        f"in {result.wall_time_s:.1f} s"
    )


def side_table(result) -> Table:
    """Outcome probabilities per setting and side, with the decisions the policy met."""
    table = Table(title="Exact outcomes by side", show_header=True, header_style="bold")
    outcomes = sorted({o for s in result.summaries.values() for o in s.outcome_rates})
    for column in ("setting", "side", "P(side)", *outcomes, "mean reward", "decisions"):
        table.add_column(column, justify="left" if column in ("setting", "side") else "right")
    for label, summary in result.summaries.items():
        rows = [("all", 1.0, summary)] + [
            (side, probability, side_summary)
            for side, (probability, side_summary) in result.by_side.get(label, {}).items()
        ]
        for side, probability, row in rows:
            table.add_row(
                str(label or "-"),
                side,
                f"{probability:.2f}",
                *(f"{row.outcome_rates.get(o, 0.0):.2%}" for o in outcomes),
                f"{row.total_reward_mean:.4f}",
                str(result.decisions.get(label, "")) if side == "all" else "",
            )
    return table
