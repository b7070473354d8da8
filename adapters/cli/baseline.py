"""``llm-gym baseline``: train and evaluate a classic-RL agent on the numeric view of a text env."""

from __future__ import annotations

import json
import shlex
import sys
import time
from pathlib import Path

import typer
from rich.console import Console
from rich.table import Table

from adapters.cli import app
from adapters.summary import Summary, summarize, summary_table

console = Console()


@app.command("baseline")
def baseline(
    env_id: str = typer.Argument("LLMTicTacToe-v0", help="A text env with a numeric view."),
    algo: str = typer.Option(
        "maskable_ppo", "--algo", help="maskable_ppo (sb3-contrib), ppo or dqn (stable-baselines3)."
    ),
    steps: int = typer.Option(1_000_000, "--steps", min=1, help="Training steps (model replies)."),
    n_envs: int = typer.Option(32, "--n-envs", min=1, help="Parallel training envs."),
    seed: int = typer.Option(0, "--seed", help="Seed of the algorithm and the training envs."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Run folder (default: runs/baselines/ENV-ALGO-seedSEED)."
    ),
    load: Path | None = typer.Option(
        None, "--load", help="Evaluate this saved model instead of training one."
    ),
    eval_games: int = typer.Option(
        1000, "--eval-games", min=1, help="Evaluation games per opponent setting."
    ),
    eval_seed: int | None = typer.Option(
        None,
        "--eval-seed",
        help="First env seed of the evaluation games (default: the env's evaluation seeds).",
    ),
    opponents: list[str] = typer.Option(
        [],
        "--opponent",
        "--setting",
        help="Settings the env declares to evaluate against; repeat (default: all of them).",
    ),
    reference: bool = typer.Option(
        False,
        "--reference",
        help="Also score the scripted random and optimal players on every opponent setting and "
        "write the reference scores (needs all three settings).",
    ),
    reference_path: Path | None = typer.Option(
        None,
        "--reference-path",
        help="Where --reference writes (default: the shipped llm_gym/data/reference_scores.json).",
    ),
    progress: bool = typer.Option(True, "--progress/--no-progress", help="Training progress bar."),
) -> None:
    """Train a stable-baselines3 agent on a text env's numeric view, save it and evaluate it.

    The agent steps the text env itself (same opponent, seeds and rewards as an LLM) and is
    evaluated through the chat rollout of ``llm-gym eval``, so the tables compare directly.
    """
    from adapters.baselines import (
        BaselineConfig,
        evaluate_baseline,
        load_baseline,
        train_baseline,
    )
    from adapters.records import append_record
    from llm_gym.envs.describe import describe

    card = describe(env_id).card
    opponents = opponents or list(card.settings)
    unknown = [name for name in opponents if name not in card.settings]
    if unknown:
        known = ", ".join(card.settings) or "none"
        raise typer.BadParameter(f"unknown setting(s) {', '.join(unknown)}; {env_id} has: {known}")
    if reference and set(opponents) != set(card.settings):
        raise typer.BadParameter("--reference needs every setting of the env (the default)")
    if eval_seed is None:
        eval_seed = card.evaluation_seeds.start
    config = BaselineConfig(env_id=env_id, algo=algo, steps=steps, n_envs=n_envs, seed=seed)
    run_dir = output or Path("runs") / "baselines" / f"{env_id}-{algo}-seed{seed}"
    run_dir.mkdir(parents=True, exist_ok=True)
    command = "llm-gym " + shlex.join(sys.argv[1:])

    if load is None:
        console.print(f"Training {algo} on {env_id} for {steps:,} steps ({n_envs} envs)")
        model = train_baseline(config, progress_bar=progress, save_path=run_dir / "model.zip")
        train_seconds = float(model.llm_gym_train_seconds)
        console.print(f"Trained in {train_seconds:.1f} s; model saved to {run_dir / 'model.zip'}")
    else:
        model = load_baseline(load, algo)
        train_seconds = None

    summaries: dict[str, Summary] = {}
    for opponent in opponents:
        results = run_dir / f"results-{opponent}.jsonl"
        results.unlink(missing_ok=True)
        started = time.perf_counter()
        records = evaluate_baseline(
            model,
            env_id,
            setting=opponent,
            games=eval_games,
            seed=eval_seed,
            name=f"sb3:{algo}",
            on_record=lambda record, path=results: append_record(path, record),
        )
        summaries[opponent] = summarize(records)
        console.print(
            summary_table(
                summaries[opponent],
                title=f"{algo} vs the {opponent} opponent "
                f"({eval_games} games, {time.perf_counter() - started:.1f} s)",
            )
        )
    console.print(outcome_table(summaries, title=f"{algo} on {env_id}"))

    run_info = {
        "command": command,
        "config": config.as_dict(),
        "model": str(load or run_dir / "model.zip"),
        "train_seconds": train_seconds,
        "eval_games": eval_games,
        "eval_seed": eval_seed,
        "summaries": {name: summary.as_dict() for name, summary in summaries.items()},
    }
    (run_dir / "summary.json").write_text(json.dumps(run_info, indent=2) + "\n")
    console.print(f"Summaries written to {run_dir / 'summary.json'}")

    if reference:
        from adapters.reference import compute_reference_scores, reference_scores_path

        scores = compute_reference_scores(
            env_id,
            summaries,
            games=eval_games,
            seed=eval_seed,
            baseline={
                "algo": algo,
                "steps": steps,
                "n_envs": n_envs,
                "seed": seed,
                "train_seconds": train_seconds,
                "command": command,
            },
        )
        path = reference_path or reference_scores_path()
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(scores, indent=2) + "\n")
        console.print(reference_overview(scores))
        console.print(f"Reference scores written to {path}")


def outcome_table(summaries: dict[str, Summary], *, title: str) -> Table:
    """One row per opponent setting: outcome rates and reward."""
    table = Table(title=title, show_header=True, header_style="bold")
    for column in ("opponent", "games", "win", "draw", "loss", "truncated", "total reward"):
        table.add_column(column, justify="left" if column == "opponent" else "right")
    for opponent, summary in summaries.items():
        rates = summary.outcome_rates
        table.add_row(
            opponent,
            str(summary.episodes),
            *(f"{rates.get(o, 0.0):.1%}" for o in ("win", "draw", "loss", "truncated")),
            f"{summary.total_reward_mean:.3f} ± {summary.total_reward_std:.3f}",
        )
    return table


def reference_overview(scores: dict) -> Table:
    """The reference file as a table: player x opponent setting."""
    table = Table(title="Reference scores (total reward; win / draw / loss)", header_style="bold")
    table.add_column("player")
    settings = list(scores["scores"])
    for setting in settings:
        table.add_column(f"vs {setting}", justify="right")
    for player in scores["scores"][settings[0]]:
        cells = []
        for setting in settings:
            data = scores["scores"][setting][player]
            rates = data["outcome_rates"]
            cells.append(
                f"{data['total_reward']['mean']:.3f}; "
                + " / ".join(f"{rates.get(o, 0.0):.1%}" for o in ("win", "draw", "loss"))
            )
        table.add_row(player.replace("_", " "), *cells)
    return table
