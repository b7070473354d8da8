"""``llm-gym match``: two policies play two-player text tic-tac-toe; results per side."""

from __future__ import annotations

import json
from pathlib import Path

import typer
from rich.console import Console

from adapters.cli import app
from adapters.policies.base import ChatPolicy

console = Console()

PLAYER_HELP = "A player: scripted:random or scripted:optimal."


def resolve_player(spec: str, *, seed: int) -> ChatPolicy:
    """Build a player from its command-line spec (``kind:name``)."""
    from adapters.match import ScriptedPlayer

    kind, _, name = spec.partition(":")
    if kind == "scripted" and name:
        try:
            return ScriptedPlayer(name, seed=seed)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
    raise typer.BadParameter(f"unknown player {spec!r}; {PLAYER_HELP}")


@app.command("match")
def match(
    player_a: str = typer.Argument(..., help=PLAYER_HELP),
    player_b: str = typer.Argument(..., help=PLAYER_HELP),
    games: int = typer.Option(100, "--games", "-n", min=1, help="Games; sides swap every game."),
    seed: int = typer.Option(0, "--seed", help="Game g is reset with seed + g."),
    concurrency: int = typer.Option(4, "--concurrency", min=1, help="Games in flight at once."),
    require_think: bool = typer.Option(
        False, "--require-think", help="Replies must reason in <think> before the move."
    ),
    max_turns: int = typer.Option(8, "--max-turns", min=5, help="Replies per player per game."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for results.jsonl (both sides) and summary.json."
    ),
) -> None:
    """Play PLAYER_A against PLAYER_B on two-player text tic-tac-toe and report each side.

    Both players get the prompts of LLMTicTacToe-v0; A plays X in even games and O in odd ones.
    """
    from adapters.match import match_table, play_match_sync
    from adapters.records import append_record

    policy_a = resolve_player(player_a, seed=seed)
    policy_b = resolve_player(player_b, seed=seed + 1)
    env_kwargs = {"require_think": require_think, "max_turns": max_turns}
    results = None
    if output is not None:
        output.mkdir(parents=True, exist_ok=True)
        results = output / "results.jsonl"
        results.unlink(missing_ok=True)

    def save(game) -> None:
        if results is not None:
            for record in game.records.values():
                append_record(results, record)

    result = play_match_sync(
        policy_a,
        policy_b,
        games=games,
        seed=seed,
        env_kwargs=env_kwargs,
        concurrency=concurrency,
        on_game=save,
    )
    console.print(match_table(result, title=f"{player_a} (A) vs {player_b} (B), {games} games"))
    h2h = result.head_to_head()
    console.print(
        f"A won {h2h['wins']}, drew {h2h['draws']}, lost {h2h['losses']}"
        + (f", {h2h['truncated']} hit the turn cap" if h2h["truncated"] else "")
    )
    if output is not None:
        (output / "summary.json").write_text(json.dumps(result.as_dict(), indent=2) + "\n")
        console.print(f"Records and summary written to {output}")
