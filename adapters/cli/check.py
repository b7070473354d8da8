"""``llm-gym check``: conformance checks of any text env, one row per check."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text

from adapters.cli import app

STATUS_STYLE = {"pass": "green", "fail": "bold red", "skipped": "yellow"}


@app.command("check")
def check_command(
    env_id: str = typer.Argument(
        ..., help="A registered env id, or package.module:EnvName-v0 for a user's env."
    ),
    env_arg: list[str] = typer.Option(
        [], "--env-arg", "-a", help="Env argument key=value (Python literal or string); repeat."
    ),
    as_json: bool = typer.Option(False, "--json", help="Print the report as JSON (for CI)."),
    only: list[str] = typer.Option([], "--only", help="Run only this check; repeat."),
    seeds: int = typer.Option(3, "--seeds", min=2, help="Seeds of the compared episodes."),
    step_budget: float = typer.Option(
        0.5, "--step-budget", min=0.001, help="Seconds one step may take on a hostile reply."
    ),
    scripted_episodes: int = typer.Option(
        8, "--scripted-episodes", min=1, help="Episodes per scripted player for the score range."
    ),
) -> None:
    """Check that ENV_ID keeps the text-env contract; exit 1 when any check fails.

    Examples:

      llm-gym check LLMTicTacToe-v0

      llm-gym check mypackage.envs:MyEnv-v0 -a difficulty=hard --json
    """
    from adapters.evaluation import parse_env_args
    from llm_gym.conformance import CHECKS, CheckResult, check_text_env

    console = Console()
    try:
        env_kwargs = parse_env_args(env_arg)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    table = Table(title=f"llm-gym check {env_id}", show_lines=True)
    table.add_column("check", style="bold", no_wrap=True, min_width=len(max(CHECKS, key=len)))
    table.add_column("result")
    table.add_column("s", justify="right")
    table.add_column("detail")

    status = Console(stderr=True, quiet=as_json).status(f"checking {env_id}")

    def show_progress(result: CheckResult) -> None:
        status.update(f"checking {env_id}: {result.name} {result.status.value}")

    try:
        with status:
            report = check_text_env(
                env_id,
                env_kwargs,
                only=only or None,
                seeds=range(seeds),
                step_budget_s=step_budget,
                scripted_episodes=scripted_episodes,
                on_result=show_progress,
            )
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    if as_json:
        typer.echo(json.dumps(report.as_dict(), indent=2))
    else:
        for result in report.results:
            status = result.status.value
            table.add_row(
                result.name,
                Text(status, style=STATUS_STYLE[status]),
                f"{result.seconds:.2f}",
                Text(result.detail),
            )
        console.print(table)
        failed = len(report.failures)
        verdict = "passed" if report.passed else f"{failed} of {len(report.results)} checks failed"
        console.print(f"{env_id}: {verdict}", style="green" if report.passed else "bold red")
    if not report.passed:
        raise typer.Exit(1)
