"""``llm-gym match``: two policies play an env's two-player view; results per side."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console

from adapters.cli import app
from adapters.cli.options import (
    ApiKeyVarOption,
    ConcurrencyOption,
    MaxRetriesOption,
    MaxTokensOption,
    ModelContextOption,
    SeedOption,
    TemperatureOption,
    TimeoutOption,
    TopPOption,
    model_prompting,
    model_specs,
    policy_spec,
)
from adapters.policies.base import ChatPolicy
from adapters.policies.defaults import DEFAULT_API_KEY_VAR, MAX_RETRIES, REQUEST_TIMEOUT_S

if TYPE_CHECKING:
    from adapters.policies.factory import PolicySpec

console = Console()
err_console = Console(stderr=True)

PLAYER_HELP = model_specs("that side's --base-url-a or --base-url-b") + "."
BASE_URL_HELP = "OpenAI-compatible endpoint serving player {}, e.g. http://127.0.0.1:8080/v1."


def resolve_player(spec: PolicySpec, *, env_id: str) -> ChatPolicy:
    """The chat policy of one side of ``env_id``'s two-player view.

    Scripted players are reseeded from each game's seed (:class:`~adapters.match.ScriptedPlayer`)
    so that two of them do not replay one game; every other model is built by
    :func:`adapters.policies.factory.make_policy`, as in ``llm-gym eval``. Both are shown
    ``spec.context``.
    """
    from adapters.context import with_context
    from adapters.match import ScriptedPlayer
    from adapters.policies.factory import SCRIPTED_PREFIX, make_policy

    if spec.kind == "scripted":
        try:
            player = ScriptedPlayer(
                spec.model[len(SCRIPTED_PREFIX) :], seed=spec.seed, env_id=env_id
            )
            return with_context(player, spec.context)
        except ValueError as error:
            raise typer.BadParameter(str(error)) from error
    try:
        return make_policy(spec, env_id=env_id)
    except (ValueError, ImportError) as error:
        err_console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error


@app.command("match")
def match(
    player_a: str = typer.Argument(..., help=f"Player A: {PLAYER_HELP}"),
    player_b: str = typer.Argument(..., help=f"Player B: {PLAYER_HELP}"),
    env_id: str | None = typer.Option(
        None,
        "--env",
        help="An env with a two-player view (default: the only one, LLMTicTacToe-v0).",
    ),
    games: int = typer.Option(100, "--games", "-n", min=1, help="Games; sides swap every game."),
    seed: SeedOption = 0,
    concurrency: ConcurrencyOption = 4,
    base_url_a: str | None = typer.Option(None, "--base-url-a", help=BASE_URL_HELP.format("A")),
    base_url_b: str | None = typer.Option(None, "--base-url-b", help=BASE_URL_HELP.format("B")),
    api_key_var: ApiKeyVarOption = DEFAULT_API_KEY_VAR,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    max_tokens: MaxTokensOption = None,
    timeout: TimeoutOption = REQUEST_TIMEOUT_S,
    max_retries: MaxRetriesOption = MAX_RETRIES,
    context: ModelContextOption = None,
    require_think: bool = typer.Option(
        False, "--require-think", help="Replies must reason in <think> before the move."
    ),
    max_turns: int = typer.Option(8, "--max-turns", min=5, help="Replies per player per game."),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Folder for results.jsonl (both sides) and summary.json."
    ),
) -> None:
    """Play PLAYER_A against PLAYER_B on an env's two-player view and report each side.

    Both players get the prompts of the single-player env (tic-tac-toe by default) and keep
    their own chat; A moves first in even games and second in odd ones. Examples:

      llm-gym match scripted:optimal scripted:random -n 200

      llm-gym match qwen scripted:optimal --base-url-a http://127.0.0.1:8080/v1 -n 20

      llm-gym match model-a model-b --base-url-a URL_A --base-url-b URL_B -o runs/match
    """
    from adapters.cli.eval import gym_errors
    from adapters.match import match_table, play_match, two_player_game
    from adapters.policies.factory import close_policy
    from adapters.records import append_record

    try:
        env_id, _ = two_player_game(env_id)
    except (ValueError, *gym_errors()) as error:
        raise typer.BadParameter(str(error)) from error
    options = {
        "api_key_var": api_key_var,
        "temperature": temperature,
        "top_p": top_p,
        "concurrency": concurrency,
        "timeout": timeout,
        "max_retries": max_retries,
    }

    def player_spec(player: str, base_url: str | None, player_seed: int) -> PolicySpec:
        player_context, player_max_tokens = model_prompting(
            env_id, player, base_url=base_url, context=context, max_tokens=max_tokens
        )
        return policy_spec(
            player,
            base_url=base_url,
            seed=player_seed,
            context=player_context,
            max_tokens=player_max_tokens,
            **options,
        )

    spec_a = player_spec(player_a, base_url_a, seed)
    spec_b = player_spec(player_b, base_url_b, seed + 1)
    policy_a = resolve_player(spec_a, env_id=env_id)
    if (player_b, base_url_b) == (player_a, base_url_a) and spec_a.kind != "scripted":
        policy_b = policy_a  # one model plays itself: load or connect once
    else:
        policy_b = resolve_player(spec_b, env_id=env_id)
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

    async def run():
        try:
            return await play_match(
                policy_a,
                policy_b,
                games=games,
                seed=seed,
                env_kwargs=env_kwargs,
                concurrency=concurrency,
                on_game=save,
                env_id=env_id,
            )
        finally:
            await close_policy(policy_a)
            if policy_b is not policy_a:
                await close_policy(policy_b)

    result = asyncio.run(run())
    console.print(match_table(result, title=f"{player_a} (A) vs {player_b} (B), {games} games"))
    h2h = result.head_to_head()
    console.print(
        f"A won {h2h['wins']}, drew {h2h['draws']}, lost {h2h['losses']}"
        + (f", {h2h['truncated']} hit the turn cap" if h2h["truncated"] else "")
    )
    if output is not None:
        contexts = {"A": spec_a.context, "B": spec_b.context}
        summary = {
            **result.as_dict(),
            "context": spec_a.context if spec_a.context == spec_b.context else contexts,
        }
        (output / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
        console.print(f"Records and summary written to {output}")
