"""``llm-gym play``: a person plays a two-player env in the terminal against a model or a solver.

The game is the two-player view an env declares in its card (tic-tac-toe's is
:mod:`llm_gym.multiagent.tictactoe`): the model gets exactly the prompts of the single-player
env, the person sees the same board and types a move (a cell number for tic-tac-toe, which the
card's ``typed_move`` turns into ``<move>4</move>``) or a full reply.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TextIO

import typer
from rich.console import Console
from rich.panel import Panel

from adapters.cli import app
from adapters.cli.options import (
    ApiKeyVarOption,
    BaseUrlOption,
    MaxRetriesOption,
    MaxTokensOption,
    ModelContextOption,
    ModelOption,
    SeedOption,
    TemperatureOption,
    TimeoutOption,
    TopPOption,
    model_prompting,
    policy_spec,
)
from adapters.models import EMBEDDED_MODEL
from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.policies.defaults import DEFAULT_API_KEY_VAR, MAX_RETRIES, REQUEST_TIMEOUT_S
from adapters.records import Message

PLAY_MAX_TOKENS = 64
"""The reply budget of a model that declares none (a reply to a human should come quickly)."""

if TYPE_CHECKING:
    from adapters.policies.factory import PolicySpec

QUIT_WORDS = frozenset({"q", "quit", "exit"})


class QuitGameError(Exception):
    """The person ended the game (``q`` or end of input)."""


class HumanPolicy:
    """A chat policy that shows each prompt and reads the reply from a text stream.

    ``to_reply`` turns what the person typed into the reply (e.g. a bare cell number into
    ``<move>N</move>``, see :meth:`llm_gym.TwoPlayerGame.reply_to`); a person can also type a
    malformed reply and see the env's feedback.
    """

    name = "human"

    def __init__(
        self,
        console: Console,
        stream: TextIO | None = None,
        to_reply: Callable[[str], str] = str.strip,
    ):
        self.console = console
        self.stream = stream
        self.to_reply = to_reply

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        prompt = str(messages[-1].get("content", "")) if messages else ""
        self.console.print(Panel(prompt, title="you", title_align="left", style="cyan"))
        self.console.print("your move (q to quit): ", end="")
        line = await asyncio.to_thread((self.stream or sys.stdin).readline)
        if not line:
            raise QuitGameError("end of input")
        text = line.strip()
        if text.lower() in QUIT_WORDS:
            raise QuitGameError("quit")
        return PolicyReply(text=self.to_reply(text))


class ShownPolicy:
    """Wraps the opponent so its replies (reasoning included) are printed as they come."""

    def __init__(self, policy: ChatPolicy, console: Console):
        self.policy = policy
        self.console = console
        self.name = getattr(policy, "name", "opponent")

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        with self.console.status(f"{self.name} is thinking..."):
            reply = await self.policy.reply(messages, tools=tools, info=info)
        self.console.print(
            Panel(reply.text or "(empty reply)", title=self.name, title_align="left", style="green")
        )
        return reply


def make_opponent(spec: PolicySpec, *, env_id: str) -> ChatPolicy:
    """``scripted:NAME``, an endpoint model (``base_url``) or a local model (default embedded),
    shown ``spec.context``."""
    from adapters.context import with_context
    from adapters.policies.factory import SCRIPTED_PREFIX, make_policy

    if spec.kind == "scripted":
        from adapters.match import ScriptedPlayer

        player = ScriptedPlayer(spec.model[len(SCRIPTED_PREFIX) :], seed=spec.seed, env_id=env_id)
        return with_context(player, spec.context)
    return make_policy(spec, env_id=env_id)


@app.command("play")
def play(
    env_id: str | None = typer.Argument(
        None, help="An env with a two-player view (default: the only one, LLMTicTacToe-v0)."
    ),
    model: ModelOption = EMBEDDED_MODEL,
    base_url: BaseUrlOption = None,
    api_key_var: ApiKeyVarOption = DEFAULT_API_KEY_VAR,
    play_as: str | None = typer.Option(
        None, "--as", help="Your side, e.g. X (moves first) or O (default: the first side)."
    ),
    games: int = typer.Option(1, "--games", min=1, help="Games to play."),
    seed: SeedOption = 0,
    temperature: TemperatureOption = None,
    top_p: TopPOption = None,
    max_tokens: MaxTokensOption = None,
    timeout: TimeoutOption = REQUEST_TIMEOUT_S,
    max_retries: MaxRetriesOption = MAX_RETRIES,
    context: ModelContextOption = None,
    require_think: bool = typer.Option(False, "--require-think"),
) -> None:
    """Play an env's two-player view (tic-tac-toe) against a model, an endpoint or a solver."""
    from adapters.cli.eval import gym_errors
    from adapters.match import play_game, two_player_game

    try:
        env_id, game_view = two_player_game(env_id)
    except (ValueError, *gym_errors()) as error:
        raise typer.BadParameter(f"not playable: {error}") from error
    sides = {label.upper(): agent for agent, label in game_view.sides.items()}
    mark = (play_as or next(iter(sides))).upper()
    if mark not in sides:
        raise typer.BadParameter(f"--as must be one of {', '.join(sides)}, got {play_as!r}")
    context, max_tokens = model_prompting(
        env_id,
        model,
        base_url=base_url,
        context=context,
        max_tokens=max_tokens,
        fallback_max_tokens=PLAY_MAX_TOKENS,
    )
    console = Console()
    try:
        spec = policy_spec(
            model,
            base_url=base_url,
            api_key_var=api_key_var,
            temperature=temperature,
            top_p=top_p,
            max_tokens=max_tokens,
            concurrency=1,
            timeout=timeout,
            max_retries=max_retries,
            seed=seed,
            context=context,
        )
        opponent = make_opponent(spec, env_id=env_id)
    except (ValueError, ImportError) as error:
        console.print(f"[red]{error}[/red]")
        raise typer.Exit(2) from error
    human_agent = sides[mark]
    other = next(a for a in game_view.sides if a != human_agent)
    policies: dict[str, ChatPolicy] = {
        human_agent: HumanPolicy(console, to_reply=game_view.reply_to),
        other: ShownPolicy(opponent, console),
    }
    env_class = game_view.load()
    tally: dict[str, int] = {}
    for game in range(games):
        env = env_class(require_think=require_think)
        try:
            records = asyncio.run(play_game(env, policies, seed=seed + game))
        except QuitGameError:
            console.print("\nbye")
            break
        finally:
            env.close()
        mine = records[human_agent]
        console.print(Panel(mine.final_observation, title="final", title_align="left"))
        outcome = mine.outcome or "none"
        tally[outcome] = tally.get(outcome, 0) + 1
        console.print(f"[bold]game {game + 1}: {outcome} for you[/bold] (you played {mark})")
    if tally:
        console.print("result: " + ", ".join(f"{k} {v}" for k, v in sorted(tally.items())))
