"""``llm-gym eval``: evaluate a model (embedded, local, endpoint or scripted) on any env."""

from __future__ import annotations

import asyncio
import math
import sys
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from adapters.cli import app
from adapters.cli.eval_exact import EXACT_HELP, check_exact_options, run_exact_eval
from adapters.cli.options import (
    ApiKeyVarOption,
    BaseUrlOption,
    ConcurrencyOption,
    ExtraBodyOption,
    MaxRetriesOption,
    MaxTokensOption,
    ModelContextOption,
    ModelOption,
    NativeToolsOption,
    TemperatureOption,
    TimeoutOption,
    TopPOption,
    model_prompting,
    policy_spec,
)
from adapters.models import EMBEDDED_MODEL
from adapters.policies.defaults import DEFAULT_API_KEY_VAR, MAX_RETRIES, REQUEST_TIMEOUT_S

if TYPE_CHECKING:
    from adapters.evaluation import EvalSetting

console = Console()
err_console = Console(stderr=True)


@app.command("eval")
def eval_command(
    env_id: str = typer.Argument(..., help="A registered env id, e.g. LLMTicTacToe-v0."),
    env_arg: list[str] = typer.Option(
        [], "--env-arg", "-a", help="Env argument key=value (Python literal or string); repeat."
    ),
    setting: list[str] = typer.Option(
        [],
        "--setting",
        help="An arm of the run: a setting the env declares by NAME (see `llm-gym list`, e.g. "
        "optimal or hard), or 'LABEL:key=value key=value' with its own env arguments; repeat "
        "to compare settings in one run.",
    ),
    opponent: list[str] = typer.Option(
        [],
        "--opponent",
        help="Same as --setting NAME (tic-tac-toe's opponents: random, mixed, optimal); repeat.",
    ),
    num_examples: int = typer.Option(8, "--num-examples", "-n", min=1, help="Examples (seeds)."),
    rollouts_per_example: int = typer.Option(
        1, "--rollouts-per-example", "-r", min=1, help="Rollouts per example (pass@k)."
    ),
    concurrency: ConcurrencyOption = 8,
    model: ModelOption = EMBEDDED_MODEL,
    base_url: BaseUrlOption = None,
    api_key_var: ApiKeyVarOption = DEFAULT_API_KEY_VAR,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    max_tokens: MaxTokensOption = None,
    extra_body: ExtraBodyOption = None,
    native_tools: NativeToolsOption = True,
    timeout: TimeoutOption = REQUEST_TIMEOUT_S,
    max_retries: MaxRetriesOption = MAX_RETRIES,
    context: ModelContextOption = None,
    seed_offset: int = typer.Option(
        0, "--seed-offset", min=0, help="Example i uses seed offset + i."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Run folder (default outputs/evals/ENV--MODEL/TIME)."
    ),
    resume: bool = typer.Option(False, "--resume", help="Finish the interrupted run in --output."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Replace results in --output."),
    chart: bool = typer.Option(False, "--chart", help="Save outcomes.png in the run folder."),
    success: list[str] = typer.Option(
        [],
        "--success",
        help="Outcomes that count as success for pass@k; repeat (default: the env's own).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Show a progress bar."),
    exact: bool = typer.Option(False, "--exact", help=EXACT_HELP),
) -> None:
    """Evaluate a model on ENV_ID: summary table, results.jsonl, metadata.json (and a chart).

    Examples:

      llm-gym eval LLMTicTacToe-v0 -n 8 --max-tokens 64

      llm-gym eval LLMTicTacToe-v0 --opponent random --opponent optimal -m scripted:optimal --chart

      llm-gym eval LLMDoubleCheckMath-v0 --setting easy --setting hard -m scripted:oracle

      llm-gym eval LLMToolUse-v0 -b http://127.0.0.1:8080/v1 -m qwen -r 4 -o runs/tool

      llm-gym eval LLMTicTacToe-v0 --exact --opponent random --opponent optimal -m runs/sft/model

      llm-gym eval LLMTicTacToe-v0 --exact --context last -m runs/sft-last/model
    """
    from adapters.evaluation import (
        EvalConfig,
        OutputExistsError,
        ResumeMismatchError,
        default_output_dir,
        evaluate,
        parse_env_args,
    )
    from adapters.policies.factory import close_policy, make_policy

    if exact:
        check_exact_options(
            temperature=temperature, resume=resume, rollouts_per_example=rollouts_per_example
        )
        temperature = 0.0
    if resume and output is None:
        raise typer.BadParameter("--resume needs the --output folder of the run to finish")
    if resume and overwrite:
        raise typer.BadParameter(
            "--resume keeps the rows in --output and --overwrite deletes them: choose one"
        )
    for flag, value in (("--temperature", temperature), ("--top-p", top_p), ("--timeout", timeout)):
        if value is not None and not math.isfinite(value):
            raise typer.BadParameter(f"{flag} must be a finite number, got {value}")
    try:
        env_kwargs = parse_env_args(env_arg)
        settings = [parse_setting(env_id, text) for text in [*setting, *opponent]]
        success_outcomes = tuple(success) or declared_success_outcomes(env_id)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    context, max_tokens = model_prompting(
        env_id, model, base_url=base_url, context=context, max_tokens=max_tokens
    )
    spec = policy_spec(
        model,
        base_url=base_url,
        api_key_var=api_key_var,
        temperature=temperature,
        top_p=top_p,
        max_tokens=max_tokens,
        extra_body=extra_body,
        concurrency=concurrency,
        timeout=timeout,
        max_retries=max_retries,
        native_tools=native_tools,
        seed=seed_offset,
        context=context,
    )
    try:
        config = EvalConfig(
            env_id=env_id,
            policy=spec,
            env_kwargs=env_kwargs,
            settings=settings,
            num_examples=num_examples,
            rollouts_per_example=rollouts_per_example,
            seed_offset=seed_offset,
            concurrency=concurrency,
            success_outcomes=success_outcomes,
        )
        check_env(env_id, [arm.env_kwargs for arm in config.arms()])
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    output = output or default_output_dir(env_id, model)
    try:
        policy = make_policy(spec, env_id=env_id)
    except (ValueError, ImportError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    if exact:
        run_exact_eval(
            config, policy, output=output, overwrite=overwrite, chart=chart, model_label=model
        )
        return

    bar = Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        disable=not progress,
    )
    task = bar.add_task(env_id, total=None, stats="")
    outcomes: Counter[str] = Counter()

    def on_start(done: int, total: int) -> None:
        bar.update(task, completed=done, total=total)
        if done:
            err_console.print(f"resuming: {done} of {total} rollouts already done")

    def on_record(record) -> None:
        outcomes["error" if record.error else (record.outcome or "none")] += 1
        stats = " ".join(f"{k}={v}" for k, v in sorted(outcomes.items()))
        bar.update(task, advance=1, stats=stats)

    async def run():
        try:
            return await evaluate(
                config,
                policy,
                output=output,
                resume=resume,
                overwrite=overwrite,
                command=["llm-gym", *sys.argv[1:]],
                on_record=on_record,
                on_start=on_start,
            )
        finally:
            await close_policy(policy)

    try:
        with bar:
            result = asyncio.run(run())
    except (ResumeMismatchError, OutputExistsError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    report(result, model_label=model, chart=chart)
    if result.unreadable_lines:
        err_console.print(
            f"[yellow]resume set aside {result.unreadable_lines} line(s) of results.jsonl that "
            f"held no record (torn or not a record): see {output}/unreadable.jsonl; those rows "
            "were run again.[/yellow]"
        )
    if result.failed:
        err_console.print(
            f"[red]{len(result.failed)} rollouts failed after their retries "
            f"(first: {result.failed[0].error}).[/red] Rerun with --resume --output {output} "
            "to retry them."
        )
        raise typer.Exit(1)


def parse_setting(env_id: str, text: str) -> EvalSetting:
    """An :class:`~adapters.evaluation.EvalSetting` from ``NAME`` (declared by the env) or
    ``LABEL:key=value ...``.

    Raises:
        ValueError: an unknown name (the message lists the env's settings) or a bad argument.
    """
    from adapters.evaluation import EvalSetting

    if ":" in text:
        return EvalSetting.parse(text)
    return declared_setting(env_id, text.strip())


def declared_setting(env_id: str, name: str) -> EvalSetting:
    """The setting ``name`` of the env's card as an :class:`~adapters.evaluation.EvalSetting`."""
    from adapters.evaluation import EvalSetting
    from llm_gym.envs.describe import describe

    try:
        card = describe(env_id).card
    except gym_errors() as error:
        raise ValueError(f"{env_id}: {error}") from error
    try:
        return EvalSetting(name, card.setting(name))
    except ValueError as error:
        raise ValueError(f"{env_id}: {error}") from error


def opponent_setting(env_id: str, name: str) -> EvalSetting:
    """:func:`declared_setting` with a CLI error (``--opponent``, and the training commands)."""
    try:
        return declared_setting(env_id, name)
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error


def declared_success_outcomes(env_id: str) -> tuple[str, ...]:
    """The env's success outcomes (the defaults for an env that cannot be described)."""
    from adapters.summary import SUCCESS_OUTCOMES
    from llm_gym.envs.describe import describe

    try:
        return describe(env_id).card.success_outcomes
    except gym_errors():
        return SUCCESS_OUTCOMES


def gym_errors() -> tuple[type[Exception], ...]:
    """What describing an unknown or unimportable env id raises."""
    import gymnasium as gym

    return (gym.error.Error, ModuleNotFoundError, ImportError, AttributeError)


def check_env(env_id: str, kwargs_list) -> None:
    """Fail early, with the env's own message, on an unknown id or bad env arguments."""
    import gymnasium as gym

    import llm_gym  # noqa: F401

    for kwargs in kwargs_list:
        try:
            gym.make(env_id, **kwargs).close()
        except gym.error.Error as error:
            raise ValueError(f"{env_id}: {error}") from error
        except (TypeError, ValueError, ModuleNotFoundError) as error:
            raise ValueError(f"{env_id} with {kwargs}: {error}") from error


def report(result, *, model_label: str, chart: bool) -> None:
    """Print the summary of every setting (and its reference scale); save the chart."""
    from adapters.charts import eval_chart, load_reference_scores_if_any
    from adapters.reference import reference_table
    from adapters.summary import summary_table

    config = result.config
    scores = load_reference_scores_if_any()
    for arm in config.arms():
        summary = result.summaries.get(arm.label)
        if summary is None:
            continue
        title = f"{config.env_id} · {model_label}" + (f" · {arm.label}" if arm.label else "")
        console.print(summary_table(summary, title=title))
        if scores is not None:
            table = reference_table(
                summary, config.env_id, arm.env_kwargs, name=model_label, scores=scores
            )
            if table is not None:
                console.print(table)
    if result.output is not None:
        console.print(f"results: {result.output}/results.jsonl ({len(result.records)} rows)")
    if chart and result.summaries and result.output is not None:
        from adapters.evaluation import CHART_FILE

        path = eval_chart(
            config.env_id,
            [(arm.label, arm.env_kwargs) for arm in config.arms()],
            result.summaries,
            result.output / CHART_FILE,
            model_label=model_label,
            reference_scores=scores,
        )
        console.print(f"chart: {path}")
