"""Exact play of a deterministic policy: every branch of an env's chance events, each once.

A greedy policy (a scripted player, a local model at temperature 0, an endpoint at temperature
0) answers a conversation the same way every time, so its outcome distribution against an env's
randomness is a finite tree: the env's chance events (which side the model plays, each opponent
reply, ...) branch it, the policy's replies do not. :func:`walk` plays every branch with the real
env, chosen through the env's chance hook (:mod:`llm_gym.envs.chance`), and returns one record
per distinct game with its probability.

Each branch is replayed from ``reset``; :class:`MemoPolicy` asks the policy once per distinct
conversation (per distinct visible part of it when the policy sees only the latest turn,
:mod:`adapters.context`), so a replay costs no model call, and the branches run concurrently:
the requests of one depth reach the policy together (a local model batches them, an endpoint
runs them in parallel).

>>> from adapters.policies import ScriptedChatPolicy
>>> policy = MemoPolicy(ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal"))
>>> games = walk_sync("LLMTicTacToe-v0", policy, env_kwargs={"max_random_move_prob": 0.0})
>>> round(sum(game.probability for game in games), 9), {game.outcome for game in games}
(1.0, {'draw'})
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any

import gymnasium as gym

import llm_gym  # noqa: F401  (registers the envs)
from adapters.context import DEFAULT_CONTEXT, Context, context_of, visible_messages
from adapters.policies.base import ChatPolicy, PolicyReply
from adapters.records import EpisodeRecord, Message
from adapters.rollout import run_episode, run_sync
from llm_gym.envs.chance import CHANCE_OPTION, ChancePath, UndecidedChance

MESSAGE_KEYS = ("role", "content", "tool_calls", "tool_call_id", "name")


def conversation_key(messages: Sequence[Message]) -> str:
    """A canonical text of a chat (the keys chat templates read), for use as a dict key."""
    return json.dumps(
        [{k: m[k] for k in MESSAGE_KEYS if m.get(k) is not None} for m in messages],
        ensure_ascii=False,
        sort_keys=True,
    )


def decision_key(messages: Sequence[Message], context: Context = DEFAULT_CONTEXT) -> str:
    """The :func:`conversation_key` of what a policy shown ``context`` sees of ``messages``: two
    conversations with the same key get the same reply from a deterministic policy."""
    return conversation_key(visible_messages(messages, context))


class MemoPolicy:
    """Asks ``policy`` once per distinct conversation and gives the same reply every time after.

    Only valid for a deterministic policy: one whose reply is a function of the conversation.
    Conversations are told apart by what ``policy`` is shown of them (its ``context``,
    :func:`adapters.context.context_of`): with ``"last"``, one position reached by different
    histories is one call.

    Attributes:
        infos: the env info of each conversation asked (by :func:`decision_key` in the policy's
            context), as the env gave it the first time (scripted players read it; so do reply
            checks).
    """

    def __init__(self, policy: ChatPolicy):
        self.policy = policy
        self.name = policy.name
        self.context = context_of(policy)
        self.infos: dict[str, dict[str, Any]] = {}
        self._replies: dict[str, asyncio.Future[PolicyReply]] = {}

    @property
    def calls(self) -> int:
        """Distinct conversations the wrapped policy was asked about."""
        return len(self._replies)

    async def reply(
        self,
        messages: Sequence[Message],
        *,
        tools: Sequence[Mapping[str, Any]] | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> PolicyReply:
        key = decision_key(messages, self.context)
        future = self._replies.get(key)
        if future is None:
            future = asyncio.ensure_future(
                self.policy.reply(list(messages), tools=tools, info=info)
            )
            self._replies[key] = future
            self.infos[key] = dict(info or {})
        return await asyncio.shield(future) if not future.done() else future.result()

    async def aclose(self) -> None:
        close = getattr(self.policy, "aclose", None)
        if close is not None:
            await close()


def check_chance_support(env_id: str, env_kwargs: Mapping[str, Any] | None = None) -> None:
    """Raise ``ValueError`` unless ``env_id`` lets a caller choose its chance events."""
    env = gym.make(env_id, disable_env_checker=True, **dict(env_kwargs or {}))
    try:
        if not getattr(env.unwrapped, "accepts_chance_chooser", False):
            raise ValueError(
                f"{env_id} does not expose its chance events, so it cannot be walked exactly; "
                "envs opt in as llm_gym.envs.chance describes (LLMTicTacToe-v0 does)"
            )
    finally:
        env.close()


async def walk(
    env_id: str,
    policy: ChatPolicy,
    *,
    env_kwargs: Mapping[str, Any] | None = None,
    setting: str | None = None,
) -> list[EpisodeRecord]:
    """Play every branch of the env's chance events with a deterministic ``policy``.

    Args:
        env_id: a registered env that accepts a chance chooser.
        policy: a deterministic chat policy; wrap it in :class:`MemoPolicy` so that each
            conversation is asked once (also across several walks).
        env_kwargs: keyword arguments for ``gymnasium.make``.
        setting: a label copied into the records.

    Returns:
        One record per distinct game (conversation and final observation), with its
        ``probability`` (they sum to 1), ordered by the chance choices that led to it; ``seed``
        numbers the games. Games that differ only in a value the conversation never shows (e.g.
        tic-tac-toe's quadrature points of the random-move probability) are merged, and the
        record's infos are those of its first branch.

    Raises:
        ValueError: the env does not accept a chance chooser.
    """
    kwargs = dict(env_kwargs or {})
    check_chance_support(env_id, kwargs)
    games: list[tuple[tuple[int, ...], float, EpisodeRecord]] = []
    idle_envs: list[gym.Env] = []

    async def explore(choices: tuple[int, ...], probability: float) -> None:
        env = idle_envs.pop() if idle_envs else gym.make(env_id, disable_env_checker=True, **kwargs)
        try:
            record = await run_episode(
                env_id,
                policy,
                seed=0,
                env=env,
                env_kwargs=kwargs,
                setting=setting,
                reset_options={CHANCE_OPTION: ChancePath(choices)},
            )
        except UndecidedChance as branch:
            event = branch.event
        else:
            games.append((choices, probability, record))
            return
        finally:
            idle_envs.append(env)
        await asyncio.gather(
            *(
                explore((*choices, index), probability * chance)
                for index, chance in enumerate(event.probabilities)
                if chance > 0.0
            )
        )

    try:
        await explore((), 1.0)
    finally:
        for env in idle_envs:
            env.close()
    return merge_games(games)


def merge_games(
    games: Sequence[tuple[tuple[int, ...], float, EpisodeRecord]],
) -> list[EpisodeRecord]:
    """One record per distinct game, its probabilities summed, in order of the choices."""
    merged: dict[str, EpisodeRecord] = {}
    for _, probability, record in sorted(games, key=lambda game: game[0]):
        key = conversation_key(record.messages) + "\n" + record.final_observation
        if key in merged:
            merged[key].probability = (merged[key].probability or 0.0) + probability
        else:
            record.probability = probability
            merged[key] = record
    records = list(merged.values())
    for index, record in enumerate(records):
        record.seed = index
    return records


def walk_sync(env_id: str, policy: ChatPolicy, **kwargs: Any) -> list[EpisodeRecord]:
    """:func:`walk` for synchronous code (a notebook's running loop is fine too)."""
    return run_sync(walk(env_id, policy, **kwargs))


def decision_weights(
    games: Sequence[EpisodeRecord], context: Context = DEFAULT_CONTEXT
) -> dict[str, float]:
    """The probability of meeting each decision (a conversation the policy answers, told apart
    by :func:`decision_key` in ``context``).

    A decision's probability is the summed probability of the games that pass through it (once
    per game, even where ``"last"`` shows it twice, e.g. after a repeated invalid reply).
    """
    weights: dict[str, float] = {}
    for game in games:
        for key in dict.fromkeys(
            decision_key(prompt, context) for prompt in decision_prompts(game)
        ):
            weights[key] = weights.get(key, 0.0) + (game.probability or 0.0)
    return weights


def decision_prompts(game: EpisodeRecord) -> list[list[Message]]:
    """The conversation before each of the game's replies, in order."""
    return [
        game.messages[:index]
        for index, message in enumerate(game.messages)
        if message.get("role") == "assistant"
    ]
