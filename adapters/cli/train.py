"""``llm-gym sft-data`` and ``llm-gym train-sft``: the training recipe up to GRPO
(:mod:`adapters.cli.train_grpo`)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from adapters.cli import app
from adapters.cli.config_options import config_options
from adapters.cli.options import (
    BaseModelOption,
    BaseUrlOption,
    ConcurrencyOption,
    ContextOption,
    LoraAlphaOption,
    LoraDropoutOption,
    LoraOption,
    LoraRankOption,
    LoraTargetsOption,
    LoraTopLayersOption,
    MaxTokensOption,
    SeedOption,
    TeacherOption,
    TemperatureOption,
    checked_context,
    lora_options,
    teacher_spec,
)
from adapters.context import DEFAULT_CONTEXT
from adapters.training.lora_options import LoraOptions
from adapters.training.sft import SFTRunConfig

if TYPE_CHECKING:
    from adapters.policies.base import ChatPolicy

console = Console()


def _json_option(value: str | None, name: str) -> dict:
    if not value:
        return {}
    try:
        parsed = json.loads(value)
    except json.JSONDecodeError as error:
        raise typer.BadParameter(f"{name} must be a JSON object: {error}") from error
    if not isinstance(parsed, dict):
        raise typer.BadParameter(f"{name} must be a JSON object, got {value!r}")
    return parsed


def teacher_policy(env_id: str, spec: str | None, **options: Any) -> ChatPolicy:
    """:func:`~adapters.training.teachers.make_teacher` with a command-line error for a teacher
    it cannot build (an unknown scripted player, an env with no default teacher)."""
    from adapters.training.teachers import make_teacher

    try:
        return make_teacher(env_id, spec, **options)
    except ValueError as error:
        raise typer.BadParameter(str(error), param_hint="--teacher") from error


def _checkpoint(value: str | None) -> str | bool | None:
    if value is None:
        return None
    if value == "last":
        return True
    if not Path(value).is_dir():
        raise typer.BadParameter(
            f"--resume-from-checkpoint expects a checkpoint-N folder or 'last', got {value!r}"
        )
    return value


@app.command("sft-data")
def sft_data(
    env_id: str = typer.Argument(..., help="A registered env id, e.g. LLMTicTacToe-v0."),
    output: Path = typer.Option(..., "--output", "-o", help="The chat JSONL file to write."),
    teacher: TeacherOption = None,
    base_url: BaseUrlOption = None,
    temperature: TemperatureOption = None,
    max_tokens: MaxTokensOption = None,
    episodes: int = typer.Option(200, "--episodes", "-n", min=1, help="Teacher episodes."),
    seed: SeedOption = 0,
    env_kwargs: str | None = typer.Option(
        None, "--env-kwargs", help="JSON env arguments, e.g. '{\"max_random_move_prob\": 0.5}'."
    ),
    outcomes: str | None = typer.Option(
        None,
        "--outcomes",
        help="Comma-separated outcomes to keep (default: win,draw for tic-tac-toe, else "
        "success outcomes); 'any' keeps all.",
    ),
    min_format_rate: float = typer.Option(
        1.0, "--min-format-rate", min=0.0, max=1.0, help="Smallest share of formatted replies."
    ),
    max_invalid: int = typer.Option(
        0, "--max-invalid", min=-1, help="Most invalid replies per episode (-1: no limit)."
    ),
    min_reward: float | None = typer.Option(None, "--min-reward", help="Smallest episode score."),
    concurrency: ConcurrencyOption = 8,
    records: Path | None = typer.Option(
        None, "--records", help="Also write every teacher episode record (kept or not) here."
    ),
    rows: str = typer.Option(
        "episode",
        "--rows",
        help="episode: one chat per game ({'messages'}); position: one prompt-completion row "
        "per teacher reply, the real history (what --context shows of it) as prompt (TRL's "
        "conversational format).",
    ),
    cover: bool = typer.Option(
        False,
        "--cover",
        help="Walk the (greedy) teacher against every opponent reply and both sides of each "
        "--opponent and write each distinct game or position once, instead of sampling "
        "--episodes games. Tic-tac-toe.",
    ),
    opponent: list[str] = typer.Option(
        [],
        "--opponent",
        help="Settings of the env's card to cover (--cover) and to report coverage against (a "
        "scripted teacher); repeat. Default: the card's default settings (tic-tac-toe: random "
        "and optimal).",
    ),
    context: ContextOption = DEFAULT_CONTEXT,
) -> None:
    """Play ENV_ID with a teacher, keep the good episodes, write chat JSONL for SFT.

    With --context last the teacher sees, and each position row's prompt holds, only the system
    prompt and the env's latest message (--rows position only).
    """
    from adapters.training.sft_data import (
        ROW_SHAPES,
        EpisodeFilter,
        default_filter,
        generate_sft_data_sync,
    )

    if rows not in ROW_SHAPES:
        raise typer.BadParameter(f"--rows must be one of {', '.join(ROW_SHAPES)}, got {rows!r}")
    if rows == "episode" and context != DEFAULT_CONTEXT:
        raise typer.BadParameter(
            f"--rows episode trains on whole conversations and cannot show --context {context}: "
            "use --rows position",
            param_hint="--context",
        )
    if cover:
        if temperature is not None and temperature > 0:
            raise typer.BadParameter(
                f"--cover walks a greedy teacher: use --temperature 0 or leave it out, got "
                f"{temperature}"
            )
        temperature = 0.0
    kwargs = _json_option(env_kwargs, "--env-kwargs")
    settings = opponent_settings(env_id, opponent, kwargs, walk=cover)
    context = checked_context(env_id, context)
    teacher = teacher_spec(env_id, teacher)
    policy = teacher_policy(
        env_id,
        teacher,
        base_url=base_url,
        seed=seed,
        temperature=temperature,
        max_tokens=max_tokens,
        context=context,
    )
    default = default_filter(env_id)
    if outcomes is None:
        allowed = default.outcomes
    elif outcomes.strip().lower() == "any":
        allowed = None
    else:
        allowed = frozenset(o.strip() for o in outcomes.split(",") if o.strip())
    episode_filter = EpisodeFilter(
        outcomes=allowed,
        min_format_rate=min_format_rate,
        max_invalid_actions=None if max_invalid < 0 else max_invalid,
        min_total_reward=min_reward,
    )
    started = time.perf_counter()
    if cover:
        from adapters.training.sft_cover import generate_cover_data_sync

        try:
            report = generate_cover_data_sync(
                env_id,
                policy,
                settings=settings,
                output=output,
                rows=rows,
                episode_filter=episode_filter,
                context=context,
            )
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
        coverage = report.coverage
    else:
        report = generate_sft_data_sync(
            env_id,
            policy,
            episodes=episodes,
            output=output,
            seed=seed,
            env_kwargs=kwargs,
            episode_filter=episode_filter,
            concurrency=concurrency,
            records_path=records,
            rows=rows,
            context=context,
        )
        coverage = sampled_coverage(env_id, policy, teacher, settings, report)
    table = Table(title=f"SFT data: {env_id}, teacher {getattr(policy, 'name', teacher)}")
    table.add_column("")
    table.add_column("value", justify="right")
    table.add_row("kept / total", f"{report.kept} / {report.total} ({report.kept_rate:.1%})")
    for outcome, count in sorted(report.outcomes.items()):
        kept = report.kept_outcomes.get(outcome, 0)
        table.add_row(f"outcome {outcome}", f"{count} (kept {kept})")
    for reason, count in sorted(report.dropped.items()):
        table.add_row(f"dropped: {reason}", str(count))
    table.add_row("wall time", f"{time.perf_counter() - started:.1f} s")
    console.print(table)
    if coverage:
        console.print(coverage_table(coverage))
    console.print(f"wrote {len(report.examples)} {rows} rows to {output}")
    if report.kept == 0:
        raise typer.Exit(1)


def opponent_settings(
    env_id: str, names: list[str], env_kwargs: dict, *, walk: bool
) -> dict[str, dict]:
    """Label -> env arguments to walk or measure coverage against.

    The named settings of the env's card, else its default settings (``EnvCard.chosen_settings``,
    e.g. tic-tac-toe's random and optimal opponents). An env without settings: its own arguments
    when walking (``--cover``, dagger), else nothing.
    """
    from adapters.cli.eval import gym_errors
    from llm_gym.envs.describe import describe

    try:
        settings = describe(env_id).card.chosen_settings(names)
    except ValueError as error:
        raise typer.BadParameter(f"{env_id}: {error}", param_hint="--opponent") from error
    except gym_errors() as error:
        raise typer.BadParameter(f"{env_id}: {error}", param_hint="ENV_ID") from error
    if not settings:
        return {"default": env_kwargs} if walk else {}
    return {name: {**env_kwargs, **arguments} for name, arguments in settings.items()}


def sampled_coverage(env_id: str, policy, teacher: str, settings: dict, report) -> dict | None:
    """Coverage of sampled data against each setting, for a scripted (deterministic) teacher on
    an env whose chance events can be walked."""
    if not settings or not teacher.startswith("scripted:"):
        return None
    from adapters.context import context_of
    from adapters.exact import MemoPolicy, check_chance_support

    try:
        check_chance_support(env_id, next(iter(settings.values())))
    except ValueError:
        return None
    from adapters.rollout import run_sync
    from adapters.training.sft_cover import coverage, teacher_trees

    trees = run_sync(teacher_trees(env_id, MemoPolicy(policy), settings))
    context = context_of(policy)
    return {label: coverage(tree, report.decisions, context) for label, tree in trees.items()}


def coverage_table(coverage: dict) -> Table:
    table = Table(title="Coverage of the teacher's decisions, per opponent")
    for column in ("opponent", "decisions met", "in the data", "share", "weighted share"):
        table.add_column(column, justify="left" if column == "opponent" else "right")
    for label, cover in coverage.items():
        table.add_row(
            label,
            str(cover.decisions),
            str(cover.covered),
            f"{cover.share:.1%}",
            f"{cover.weighted:.1%}",
        )
    return table


@app.command("train-sft")
@config_options(SFTRunConfig, shared={"model": BaseModelOption})
def train_sft_command(
    data: list[Path] = typer.Argument(
        ...,
        exists=True,
        dir_okay=False,
        help='One or more JSONL files, concatenated: {"messages": [...]} rows (sft-data games; '
        'loss on every assistant reply) and/or {"prompt": [...], "completion": [...]} rows '
        "(loss on the completion only), mixed as you like.",
    ),
    output_dir: Path = typer.Option(..., "--output-dir", "-o", help="Where the model goes."),
    lora: LoraOption = False,
    lora_r: LoraRankOption = LoraOptions.r,
    lora_alpha: LoraAlphaOption = LoraOptions.alpha,
    lora_dropout: LoraDropoutOption = LoraOptions.dropout,
    lora_targets: LoraTargetsOption = None,
    lora_top_layers: LoraTopLayersOption = None,
    full_loss: bool = typer.Option(
        False, "--full-loss", help="Loss over every token, not only the replies/completions."
    ),
    resume_from_checkpoint: str | None = typer.Option(
        None,
        "--resume-from-checkpoint",
        help="Continue from a checkpoint-N folder, or 'last' (newest in OUTPUT_DIR); same data "
        "and options as the interrupted run.",
    ),
    **settings: Any,
) -> None:
    """Supervised fine-tuning (TRL SFTTrainer) on SFT JSONL rows; saves a loadable checkpoint."""
    from adapters.training.sft import train_sft
    from adapters.training.sft_rows import SFTRowError

    try:
        config = SFTRunConfig(
            data=data,
            output_dir=output_dir,
            lora=lora_options(
                lora, lora_r, lora_alpha, lora_dropout, lora_targets, lora_top_layers
            ),
            assistant_only_loss=not full_loss,
            resume_from_checkpoint=_checkpoint(resume_from_checkpoint),
            **settings,
        )
        result = train_sft(config)
    except SFTRowError as error:
        raise typer.BadParameter(str(error), param_hint="DATA") from error
    except ValueError as error:
        raise typer.BadParameter(str(error)) from error
    data_stats = result.data
    kinds = ", ".join(f"{count} {kind}" for kind, count in sorted(data_stats.rows.items()))
    console.print(
        f"SFT done: {result.steps} steps on {result.train_rows} rows ({kinds}), loss "
        f"{result.final_loss:.4f}, {result.loss_mode}, bf16 {'on' if result.bf16 else 'off'}, "
        f"{result.wall_time_s:.0f} s"
    )
    if result.train_tokens_per_s:
        console.print(f"training speed: {result.train_tokens_per_s:.0f} tokens/s")
    if data_stats.truncated_rows:
        console.print(
            f"[yellow]{data_stats.truncated_rows} rows cut at --max-length {config.max_length}, "
            f"{data_stats.dropped_rows} of them left out (no loss token left)[/yellow]"
        )
    console.print(f"model: {result.output_dir} (use --model {result.output_dir})")
    if result.prompting is not None:
        declared = result.prompting
        console.print(
            f"it declares (llm_gym.json): context {declared.context or 'not stated'}, "
            f"max tokens {declared.max_tokens} — eval, match, play and dagger use them unless "
            "--context/--max-tokens are given"
        )
    if result.adapter_bytes is not None:
        console.print(
            f"LoRA adapter: {result.output_dir / 'adapter'} "
            f"({result.adapter_bytes / 1e6:.1f} MB, {config.adapter_dtype})"
        )
    for name, path in result.plots.items():
        console.print(f"plot {name}: {path}")
