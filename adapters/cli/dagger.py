"""``llm-gym dagger``: relabel a student's wrong replies with the teacher's, for the next SFT."""

from __future__ import annotations

import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from adapters.cli import app
from adapters.cli.options import (
    BaseUrlOption,
    ConcurrencyOption,
    MaxTokensOption,
    ModelContextOption,
    SeedOption,
    StudentOption,
    TeacherOption,
    TemperatureOption,
    checked_context,
    model_prompting,
    teacher_spec,
)
from adapters.context import Context

console = Console()


@app.command("dagger")
def dagger_command(
    env_id: str = typer.Argument(..., help="LLMTicTacToe-v0."),
    output: Path = typer.Option(..., "--output", "-o", help="The rows JSONL file to write."),
    student: StudentOption = ...,
    base_url: BaseUrlOption = None,
    teacher: TeacherOption = None,
    opponent: list[str] = typer.Option(
        [],
        "--opponent",
        help="Opponent settings to play: random, mixed, optimal; repeat "
        "(default random and optimal).",
    ),
    env_kwargs: str | None = typer.Option(None, "--env-kwargs", help="JSON env arguments."),
    episodes: int | None = typer.Option(
        None,
        "--episodes",
        "-n",
        min=1,
        help="Sample this many games per opponent instead of walking the student's whole "
        "greedy tree (the default).",
    ),
    temperature: TemperatureOption = None,
    max_tokens: MaxTokensOption = None,
    concurrency: ConcurrencyOption = 8,
    seed: SeedOption = 0,
    context: ModelContextOption = None,
    keep_correct: bool = typer.Option(
        False,
        "--keep-correct",
        help="Also write the student's own reply at every decision it got right (rehearsal "
        "rows, so the next round keeps what this one does right).",
    ),
    copies_per_weight: float = typer.Option(
        0.0,
        "--copies-per-weight",
        min=0.0,
        help="Write each row 1 + floor(N * w) times, w its highest probability of being met "
        "in a game against an opponent setting, so training weighs decisions as exact "
        "evaluation does (exact walk only).",
    ),
) -> None:
    """Play a student, and write the teacher's reply at every wrong decision (DAgger rows).

    A reply is wrong when it is invalid or badly formatted, its move is not value-optimal, or
    its reasoning states a false fact about the board. Each row is a prompt-completion pair:
    the student's real history, the teacher's reply; train on it with train-sft.
    --keep-correct adds the student's own reply at every right decision (rehearsal), and
    --copies-per-weight repeats each row by its chance of being met in a game.

    --base-url, --temperature and --max-tokens are the student's; it plays greedily unless
    --episodes samples games (--seed is the first game's seed).

    --context is what the student and the teacher are shown and what each row's prompt holds
    (last: the system prompt and the latest board only); a recorded:RUN_DIR student takes the
    context it was recorded with.

    Example: llm-gym dagger LLMTicTacToe-v0 --student runs/sft/model -o runs/dagger/rows.jsonl
    """
    from adapters.cli.train import _json_option, opponent_settings
    from adapters.policies.factory import close_policy
    from adapters.rollout import run_sync
    from adapters.training.dagger import collect_dagger_rows
    from adapters.training.teachers import make_teacher

    if episodes is None and temperature is not None and temperature > 0:
        raise typer.BadParameter(
            f"the exact walk plays the greedy student: add --episodes N to sample at "
            f"temperature {temperature}"
        )
    settings = opponent_settings(
        env_id, opponent, _json_option(env_kwargs, "--env-kwargs"), walk=True
    )
    context, max_tokens = student_prompting(
        env_id, student, base_url=base_url, context=context, max_tokens=max_tokens
    )
    try:
        student_policy = make_teacher(
            env_id,
            student,
            base_url=base_url,
            seed=seed,
            temperature=0.0 if episodes is None else temperature,
            max_tokens=max_tokens,
            context=context,
        )
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--student") from error
    teacher = teacher_spec(env_id, teacher)
    teacher_policy = make_teacher(env_id, teacher, seed=seed, temperature=0.0, context=context)

    async def run():
        try:
            return await collect_dagger_rows(
                student_policy,
                teacher_policy,
                settings=settings,
                output=output,
                episodes=episodes,
                seed=seed,
                concurrency=concurrency,
                env_id=env_id,
                context=context,
                keep_correct=keep_correct,
                copies_per_weight=copies_per_weight,
            )
        finally:
            await close_policy(student_policy)
            await close_policy(teacher_policy)

    started = time.perf_counter()
    try:
        report = run_sync(run())
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    table = Table(title=f"DAgger: {student} corrected by {teacher}")
    table.add_column("")
    table.add_column("value", justify="right")
    mode = "exact walk" if episodes is None else f"{episodes} sampled games per opponent"
    table.add_row("student play", mode)
    table.add_row("context", context)
    table.add_row("student calls", str(report.student_calls))
    table.add_row("distinct decisions seen", str(report.decisions))
    table.add_row("relabelled", str(report.relabelled))
    if keep_correct:
        table.add_row("kept (the student's own reply)", str(report.kept))
    table.add_row("rows written", str(len(report.rows)))
    for reason, count in sorted(report.reasons.items()):
        table.add_row(f"  reason: {reason}", str(count))
    for label, (seen, wrong) in report.per_setting.items():
        table.add_row(f"vs {label}: wrong / seen", f"{wrong} / {seen}")
    table.add_row("wall time", f"{time.perf_counter() - started:.1f} s")
    console.print(table)
    console.print(f"wrote {len(report.rows)} rows to {output}")


def student_prompting(
    env_id: str,
    student: str,
    *,
    base_url: str | None,
    context: Context | None,
    max_tokens: int | None,
) -> tuple[Context, int | None]:
    """``--context`` and ``--max-tokens`` of the student: a ``recorded:RUN_DIR`` student takes
    the context it was recorded with, any other what :func:`model_prompting` gives.

    Raises:
        typer.BadParameter: ``--context`` differs from the recorded run's, or does not suit the
            env, or the student's ``llm_gym.json`` is malformed.
    """
    from adapters.policies.factory import RECORDED_PREFIX
    from adapters.policies.recorded import recorded_context

    if base_url is not None or not student.startswith(RECORDED_PREFIX):
        return model_prompting(
            env_id, student, base_url=base_url, context=context, max_tokens=max_tokens
        )
    recorded = recorded_context(student[len(RECORDED_PREFIX) :])
    if context is not None and context != recorded:
        raise typer.BadParameter(
            f"{student} was recorded with --context {recorded}; its replies cannot stand for "
            f"the student's under --context {context} (leave the option out, or record again)",
            param_hint="--context",
        )
    return checked_context(env_id, recorded), max_tokens
