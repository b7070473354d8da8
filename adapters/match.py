"""Matches between two chat policies on an env's two-player view (a PettingZoo AEC env).

The env declares that view in its card (:class:`llm_gym.TwoPlayerGame`; tic-tac-toe has one).
Each player keeps its own chat (system prompt, its observations, its replies), exactly as in a
single-player episode, and every game yields one :class:`~adapters.records.EpisodeRecord` per
side, so :func:`adapters.summary.summarize` reports each policy with the metrics of
``llm-gym eval``. The policies swap sides every game.

>>> result = play_match_sync(ScriptedPlayer("optimal"), ScriptedPlayer("random"), games=4)
>>> result.head_to_head()["losses"]
0
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from rich.table import Table

import llm_gym
from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.recorder import EpisodeRecorder, policy_name
from adapters.records import EpisodeRecord, Message
from adapters.summary import Summary, summarize
from llm_gym.envs.card import TwoPlayerGame
from llm_gym.envs.describe import describe
from llm_gym.policies import make_scripted_policy, scripted_policy_names
from llm_gym.seeding import derive_seed


def two_player_env_ids() -> list[str]:
    """The llm_gym envs that declare a two-player view."""
    return [env_id for env_id in llm_gym.ENV_SPECS if describe(env_id).card.two_player]


def two_player_game(env_id: str | None = None) -> tuple[str, TwoPlayerGame]:
    """``(env id, its two-player view)``; without ``env_id``, the one llm_gym env that has one.

    Raises:
        ValueError: the env declares no two-player view, or ``env_id`` is needed to choose.
    """
    if env_id is None:
        candidates = two_player_env_ids()
        if len(candidates) != 1:
            raise ValueError(f"name the env: two-player envs are {', '.join(candidates)}")
        env_id = candidates[0]
    game = describe(env_id).card.two_player
    if game is None:
        with_view = ", ".join(two_player_env_ids()) or "none"
        raise ValueError(f"{env_id} has no two-player view; envs with one: {with_view}")
    return env_id, game


class ScriptedPlayer:
    """A scripted player of a two-player env (``random``, ``optimal``, ...) that varies with the
    game seed.

    The scripted policies of ``llm_gym.policies`` are seeded once; two of them facing each other
    would replay one game forever. This player reseeds its policy from ``seed`` and the game's
    ``infos[agent]["seed"]``, so every game of a match is different and reproducible. The
    scripted players of the single-player env (``env_id``, default: see :func:`two_player_game`)
    play its two-player view.
    """

    def __init__(
        self, policy_name: str, seed: int = 0, *, env_id: str | None = None, **kwargs: Any
    ):
        self.env_id, _ = two_player_game(env_id)
        known = scripted_policy_names(self.env_id)
        if policy_name not in known:
            raise ValueError(
                f"no scripted player {policy_name!r} for {self.env_id}; known: {', '.join(known)}"
            )
        self.policy_name = policy_name
        self.seed = seed
        self.kwargs = kwargs
        self.name = f"scripted:{policy_name}"

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        info = info or {}
        game_seed = derive_seed(self.seed, "match-game", int(info.get("seed") or 0))
        policy = make_scripted_policy(self.env_id, self.policy_name, seed=game_seed, **self.kwargs)
        observation = str(messages[-1].get("content", "")) if messages else ""
        return PolicyReply(text=policy(observation, info))


@dataclass
class MatchGame:
    """One game: which policy played which side, and each side's record."""

    index: int
    seats: dict[str, str]
    """agent (``player_1`` moves first) -> ``"A"`` or ``"B"``."""
    records: dict[str, EpisodeRecord]
    """agent -> that side's episode record."""
    sides: Mapping[str, str]
    """agent -> the label of its side (tic-tac-toe: ``X``, ``O``)."""

    def record_of(self, player: str) -> EpisodeRecord:
        agent = next(a for a, p in self.seats.items() if p == player)
        return self.records[agent]

    def mark_of(self, player: str) -> str:
        return next(self.sides[a] for a, p in self.seats.items() if p == player)


@dataclass
class MatchResult:
    """Games between policy ``A`` and policy ``B`` on the two-player view ``env``."""

    names: dict[str, str]
    games: list[MatchGame] = field(default_factory=list)
    env: str = ""
    """The two-player env's name (its ``metadata["name"]``), recorded as the records' ``env_id``."""
    sides: tuple[str, ...] = ()
    """The side labels, in turn order."""

    def records(self, player: str, mark: str | None = None) -> list[EpisodeRecord]:
        """Records of ``player`` (``"A"`` or ``"B"``), or only those where it played ``mark``."""
        return [
            game.record_of(player)
            for game in self.games
            if mark is None or game.mark_of(player) == mark
        ]

    def summary(self, player: str, mark: str | None = None) -> Summary:
        return summarize(self.records(player, mark))

    def head_to_head(self) -> dict[str, int]:
        """Games won, drawn and lost by ``A`` (``truncated``: a side used up its turn cap)."""
        counts = {"wins": 0, "draws": 0, "losses": 0, "truncated": 0}
        key = {"win": "wins", "draw": "draws", "loss": "losses", "truncated": "truncated"}
        for game in self.games:
            counts[key[game.record_of("A").outcome or "truncated"]] += 1
        return counts

    def as_dict(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "policies": dict(self.names),
            "games": len(self.games),
            "head_to_head_for_A": self.head_to_head(),
            "summaries": {
                player: {
                    side: self.summary(player, mark).as_dict()
                    for side, mark in (("all", None), *((label, label) for label in self.sides))
                    if self.records(player, mark)
                }
                for player in ("A", "B")
            },
        }


async def play_game(
    env: Any,
    policies: Mapping[str, ChatPolicy],
    *,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, EpisodeRecord]:
    """Play one game of a two-player AEC env; ``policies`` maps each agent to its policy.

    Rewards that reach a player during its opponent's move (the result of a game the opponent
    ends) are added to that player's last turn, so each record's turn rewards sum to its total.
    """
    env.reset(seed=seed)
    agents = list(env.possible_agents)
    recorders = {
        agent: EpisodeRecorder(
            env.metadata["name"],
            seed=seed,
            policy=policy_name(policies[agent]),
            env_kwargs=env_kwargs,
        )
        for agent in agents
    }
    for agent in agents:
        recorders[agent].start(env.infos[agent])
    while not all(env.terminations[a] or env.truncations[a] for a in agents):
        agent = env.agent_selection
        recorder = recorders[agent]
        recorder.message(env.observe(agent)["prompt"], env.infos[agent].get("role", "user"))
        asked = time.perf_counter()
        reply = await policies[agent].reply(recorder.messages, info=env.infos[agent])
        recorder.reply(reply, time.perf_counter() - asked)
        env.step(reply.text)
        recorder.step(env.observe(agent)["prompt"], env.rewards[agent], env.infos[agent])
        for other in agents:
            if other != agent and "reward_components" in env.infos[other]:
                recorders[other].credit(env.rewards[other], env.infos[other])
    return {
        agent: recorders[agent].finish(
            env.observe(agent)["prompt"],
            terminated=env.terminations[agent],
            truncated=env.truncations[agent],
        )
        for agent in agents
    }


async def play_match(
    policy_a: ChatPolicy,
    policy_b: ChatPolicy,
    *,
    games: int,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    concurrency: int = 4,
    on_game: Callable[[MatchGame], Awaitable[None] | None] | None = None,
    env_id: str | None = None,
) -> MatchResult:
    """Play ``games`` games; ``A`` moves first in even-numbered games, second in odd ones.

    Args:
        policy_a, policy_b: the two players (any chat policies: models or scripted).
        games: number of games, >= 1.
        seed: game ``g`` is reset with ``seed + g`` (passed on to the policies' records).
        env_kwargs: keyword arguments of the two-player env.
        concurrency: games in flight at once (each with its own env).
        on_game: called as each game finishes (e.g. to append its records to a file).
        env_id: the single-player env whose two-player view is played (default: the one llm_gym
            env that has one, see :func:`two_player_game`).
    """
    if games < 1:
        raise ValueError(f"games must be >= 1, got {games}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    kwargs = dict(env_kwargs or {})
    _, game_view = two_player_game(env_id)
    env_class = game_view.load()
    agents = list(game_view.sides)
    result = MatchResult(
        names={"A": getattr(policy_a, "name", "A"), "B": getattr(policy_b, "name", "B")},
        env=env_class.metadata["name"],
        sides=tuple(game_view.sides.values()),
    )
    limiter = asyncio.Semaphore(concurrency)
    players = {"A": policy_a, "B": policy_b}

    async def run(index: int) -> MatchGame:
        seats = dict(zip(agents, ("A", "B") if index % 2 == 0 else ("B", "A"), strict=True))
        async with limiter:
            env = env_class(**kwargs)
            try:
                records = await play_game(
                    env,
                    {agent: players[p] for agent, p in seats.items()},
                    seed=seed + index,
                    env_kwargs=kwargs,
                )
            finally:
                env.close()
        game = MatchGame(index=index, seats=seats, records=records, sides=game_view.sides)
        if on_game is not None:
            outcome = on_game(game)
            if asyncio.iscoroutine(outcome):
                await outcome
        return game

    result.games = list(await asyncio.gather(*(run(i) for i in range(games))))
    return result


def play_match_sync(policy_a: ChatPolicy, policy_b: ChatPolicy, **kwargs: Any) -> MatchResult:
    """:func:`play_match` for code without an event loop."""
    return asyncio.run(play_match(policy_a, policy_b, **kwargs))


def match_table(result: MatchResult, *, title: str = "Match") -> Table:
    """Per policy and side: outcome rates, reward and format figures."""
    table = Table(title=title, show_header=True, header_style="bold")
    for column in ("policy", "side", "games", "win", "draw", "loss", "truncated"):
        table.add_column(column, justify="left" if column in ("policy", "side") else "right")
    table.add_column("total reward", justify="right")
    table.add_column("format rate", justify="right")
    table.add_column("invalid / turn", justify="right")
    for player in ("A", "B"):
        for side, mark in (*((label, label) for label in result.sides), ("all", None)):
            records = result.records(player, mark)
            if not records:
                continue
            s = summarize(records)
            rates = s.outcome_rates
            table.add_row(
                f"{player}: {result.names[player]}",
                side,
                str(s.episodes),
                *(f"{rates.get(o, 0.0):.1%}" for o in ("win", "draw", "loss", "truncated")),
                f"{s.total_reward_mean:.3f} ± {s.total_reward_std:.3f}",
                "-" if s.format_rate is None else f"{s.format_rate:.1%}",
                f"{s.invalid_action_rate:.1%}",
            )
    return table
