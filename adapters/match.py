"""Matches between two chat policies on the two-player text tic-tac-toe (PettingZoo AEC).

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

from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.records import EpisodeRecord, Message, TurnRecord
from adapters.summary import Summary, summarize
from llm_gym.multiagent.tictactoe import AGENTS, MARK_OF, TicTacToeAECEnv
from llm_gym.policies import make_scripted_policy, scripted_policy_names
from llm_gym.seeding import derive_seed

ENV_NAME = TicTacToeAECEnv.metadata["name"]
SCRIPTED_ENV_ID = "LLMTicTacToe-v0"
"""The scripted players of the single-player env play the two-player game too."""
INFO_KEYS_SKIPPED_IN_TURNS = ("system_prompt", "reward_components", "role", "reward_weights")


class ScriptedPlayer:
    """A scripted tic-tac-toe player (``random``, ``optimal``, ...) that varies with the game seed.

    The scripted policies of ``llm_gym.policies`` are seeded once; two of them facing each other
    would replay one game forever. This player reseeds its policy from ``seed`` and the game's
    ``infos[agent]["seed"]``, so every game of a match is different and reproducible.
    """

    def __init__(self, policy_name: str, seed: int = 0, **kwargs: Any):
        if policy_name not in scripted_policy_names(SCRIPTED_ENV_ID):
            known = ", ".join(scripted_policy_names(SCRIPTED_ENV_ID))
            raise ValueError(f"no scripted tic-tac-toe player {policy_name!r}; known: {known}")
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
        policy = make_scripted_policy(
            SCRIPTED_ENV_ID, self.policy_name, seed=game_seed, **self.kwargs
        )
        observation = str(messages[-1].get("content", "")) if messages else ""
        return PolicyReply(text=policy(observation, info))


@dataclass
class MatchGame:
    """One game: which policy played which side, and each side's record."""

    index: int
    seats: dict[str, str]
    """agent (``player_1`` plays X) -> ``"A"`` or ``"B"``."""
    records: dict[str, EpisodeRecord]
    """agent -> that side's episode record."""

    def record_of(self, player: str) -> EpisodeRecord:
        agent = next(a for a, p in self.seats.items() if p == player)
        return self.records[agent]

    def mark_of(self, player: str) -> str:
        return next(MARK_OF[a] for a, p in self.seats.items() if p == player)


@dataclass
class MatchResult:
    """Games between policy ``A`` and policy ``B``."""

    names: dict[str, str]
    games: list[MatchGame] = field(default_factory=list)

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
            "env": ENV_NAME,
            "policies": dict(self.names),
            "games": len(self.games),
            "head_to_head_for_A": self.head_to_head(),
            "summaries": {
                player: {
                    side: self.summary(player, mark).as_dict()
                    for side, mark in (("all", None), ("X", "X"), ("O", "O"))
                    if self.records(player, mark)
                }
                for player in ("A", "B")
            },
        }


async def play_game(
    env: TicTacToeAECEnv,
    policies: Mapping[str, ChatPolicy],
    *,
    seed: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
) -> dict[str, EpisodeRecord]:
    """Play one game; ``policies`` maps each agent (``player_1``, ``player_2``) to its policy.

    Rewards that reach a player during its opponent's move (the result of a game the opponent
    ends) are added to that player's last turn, so each record's turn rewards sum to its total.
    """
    started = time.perf_counter()
    env.reset(seed=seed)
    chats: dict[str, list[Message]] = {
        agent: [{"role": "system", "content": env.infos[agent]["system_prompt"]}]
        for agent in AGENTS
    }
    turns: dict[str, list[TurnRecord]] = {agent: [] for agent in AGENTS}
    totals = {agent: dict.fromkeys(env.reward_weights, 0.0) for agent in AGENTS}
    while not env.outcome:
        agent = env.agent_selection
        chats[agent].append({"role": "user", "content": env.observe(agent)["prompt"]})
        asked = time.perf_counter()
        reply = await policies[agent].reply(chats[agent], info=env.infos[agent])
        latency = time.perf_counter() - asked
        chats[agent].append(reply.assistant_message())
        env.step(reply.text)
        info = env.infos[agent]
        turns[agent].append(
            TurnRecord(
                action=reply.text,
                observation=env.observe(agent)["prompt"],
                role="user",
                reward=0.0,
                reward_components=dict.fromkeys(env.reward_weights, 0.0),
                invalid_action=bool(info.get("invalid_action", False)),
                latency_s=latency,
                prompt_tokens=reply.prompt_tokens,
                completion_tokens=reply.completion_tokens,
                info={k: v for k, v in info.items() if k not in INFO_KEYS_SKIPPED_IN_TURNS},
            )
        )
        for each in AGENTS:
            components = env.infos[each].get("reward_components")
            if components is None:
                continue
            last = turns[each][-1]
            last.reward += float(env.rewards[each])
            for name, value in components.items():
                last.reward_components[name] += value
                totals[each][name] += value
    elapsed = time.perf_counter() - started
    return {
        agent: EpisodeRecord(
            env_id=ENV_NAME,
            env_kwargs=dict(env_kwargs or {}),
            seed=seed,
            rollout=0,
            policy=getattr(policies[agent], "name", type(policies[agent]).__name__),
            messages=chats[agent],
            turns=turns[agent],
            final_observation=env.observe(agent)["prompt"],
            total_reward=float(sum(t.reward for t in turns[agent])),
            reward_components=totals[agent],
            reward_weights=dict(env.reward_weights),
            outcome=env.outcome[agent],
            metrics=dict(env.infos[agent].get("metrics", {})),
            terminated=bool(env.terminations[agent]),
            truncated=bool(env.truncations[agent]),
            wall_time_s=elapsed,
        )
        for agent in AGENTS
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
) -> MatchResult:
    """Play ``games`` games; ``A`` plays X in even-numbered games and O in odd-numbered ones.

    Args:
        policy_a, policy_b: the two players (any chat policies: models or scripted).
        games: number of games, >= 1.
        seed: game ``g`` is reset with ``seed + g`` (passed on to the policies' records).
        env_kwargs: keyword arguments of :class:`TicTacToeAECEnv`.
        concurrency: games in flight at once (each with its own env).
        on_game: called as each game finishes (e.g. to append its records to a file).
    """
    if games < 1:
        raise ValueError(f"games must be >= 1, got {games}")
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    kwargs = dict(env_kwargs or {})
    result = MatchResult(
        names={"A": getattr(policy_a, "name", "A"), "B": getattr(policy_b, "name", "B")}
    )
    limiter = asyncio.Semaphore(concurrency)
    players = {"A": policy_a, "B": policy_b}

    async def run(index: int) -> MatchGame:
        seats = dict(zip(AGENTS, ("A", "B") if index % 2 == 0 else ("B", "A"), strict=True))
        async with limiter:
            env = TicTacToeAECEnv(**kwargs)
            try:
                records = await play_game(
                    env,
                    {agent: players[p] for agent, p in seats.items()},
                    seed=seed + index,
                    env_kwargs=kwargs,
                )
            finally:
                env.close()
        game = MatchGame(index=index, seats=seats, records=records)
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
        for side, mark in (("X", "X"), ("O", "O"), ("all", None)):
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
