"""Run environment episodes as chats with a policy: one code path, sync or async.

>>> from adapters.policies import ScriptedChatPolicy
>>> policy = ScriptedChatPolicy.for_env("LLMTicTacToe-v0", "optimal")
>>> record = run_episode_sync("LLMTicTacToe-v0", policy, seed=0,
...                           env_kwargs={"max_random_move_prob": 0.0})
>>> record.outcome
'draw'
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Coroutine, Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any, TypeVar

import gymnasium as gym

import llm_gym  # noqa: F401  (registers the envs)
from adapters.policies.base import ChatPolicy
from adapters.recorder import (
    INFO_KEYS_SKIPPED_IN_TURNS,  # noqa: F401  (old import path)
    EpisodeRecorder,
    policy_name,
)
from adapters.records import EpisodeRecord

T = TypeVar("T")


@dataclass(frozen=True)
class EpisodeJob:
    """One rollout to run: ``rollout`` numbers the rollouts that share ``seed``."""

    env_id: str
    seed: int
    rollout: int = 0
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    setting: str | None = None
    """A label for ``env_kwargs`` when one run evaluates several settings."""

    @property
    def run_key(self) -> tuple[str | None, int, int]:
        return (self.setting, self.seed, self.rollout)


async def run_episode(
    env_id: str,
    policy: ChatPolicy,
    *,
    seed: int,
    rollout: int = 0,
    env_kwargs: Mapping[str, Any] | None = None,
    env: gym.Env | None = None,
    setting: str | None = None,
    record_errors: bool = False,
    reset_options: Mapping[str, Any] | None = None,
) -> EpisodeRecord:
    """Play one episode: system prompt, then observation/reply turns until the env ends it.

    Args:
        env_id: a registered id (``"pkg.module:EnvName-v0"`` imports a user's package first).
        policy: the chat policy that writes the replies.
        seed: the env seed; every rollout of one example uses the same seed.
        rollout: index of this rollout among those of ``seed`` (recorded, not used by the env).
        env_kwargs: keyword arguments for ``gymnasium.make``.
        env: an already-made env to reuse instead of making one (it is not closed).
        setting: a label for ``env_kwargs``, copied into the record.
        record_errors: return a record with ``error`` set (and the chat so far) when the
            policy raises, instead of raising.
        reset_options: the ``options`` of ``env.reset`` (e.g. a chance chooser, see
            :mod:`llm_gym.envs.chance`).

    Returns:
        The episode record. Without ``record_errors``, exceptions from the policy propagate: a
        failed request is an infrastructure error, not model behaviour.
    """
    kwargs = dict(env_kwargs or {})
    own_env = env is None
    env = gym.make(env_id, **kwargs) if env is None else env
    recorder = EpisodeRecorder(
        env_id,
        seed=seed,
        rollout=rollout,
        policy=policy_name(policy),
        env_kwargs=kwargs,
        setting=setting,
    )
    observation = ""
    terminated = truncated = False
    error: str | None = None
    try:
        observation, info = env.reset(
            seed=seed, options=dict(reset_options) if reset_options is not None else None
        )
        tools = info.get("tools")
        recorder.start(info)
        recorder.message(observation, info.get("role", "user"))
        while not (terminated or truncated):
            asked = time.perf_counter()
            try:
                reply = await policy.reply(recorder.messages, tools=tools, info=info)
            except Exception as exc:
                if not record_errors:
                    raise
                error = f"{type(exc).__name__}: {exc}"
                break
            recorder.reply(reply, time.perf_counter() - asked)
            observation, reward, terminated, truncated, info = env.step(reply.text)
            recorder.step(observation, reward, info)
            if not (terminated or truncated):
                recorder.message(observation, info.get("role", "user"))
    finally:
        if own_env:
            env.close()
    return recorder.finish(observation, terminated=terminated, truncated=truncated, error=error)


async def run_episodes(
    jobs: Iterable[EpisodeJob],
    policy: ChatPolicy,
    *,
    concurrency: int = 8,
    on_record: Callable[[EpisodeRecord], Awaitable[None] | None] | None = None,
    record_errors: bool = False,
) -> list[EpisodeRecord]:
    """Run many episodes with at most ``concurrency`` in flight; records come back in job order.

    ``on_record`` is called as each episode finishes (e.g. to append it to a results file).
    With ``record_errors`` a failed episode becomes a record with ``error`` set instead of
    cancelling the whole run.
    """
    if concurrency < 1:
        raise ValueError(f"concurrency must be >= 1, got {concurrency}")
    limiter = asyncio.Semaphore(concurrency)

    async def run(job: EpisodeJob) -> EpisodeRecord:
        async with limiter:
            record = await run_episode(
                job.env_id,
                policy,
                seed=job.seed,
                rollout=job.rollout,
                env_kwargs=job.env_kwargs,
                setting=job.setting,
                record_errors=record_errors,
            )
        if on_record is not None:
            result = on_record(record)
            if asyncio.iscoroutine(result):
                await result
        return record

    return list(await asyncio.gather(*(run(job) for job in jobs)))


def run_sync(coroutine: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` that also works where a loop already runs (Jupyter, callbacks).

    With a running loop the coroutine gets its own loop in a worker thread.
    """
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coroutine)
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coroutine).result()


def run_episode_sync(env_id: str, policy: ChatPolicy, **kwargs: Any) -> EpisodeRecord:
    """:func:`run_episode` for synchronous code (a notebook's running loop is fine too)."""
    return run_sync(run_episode(env_id, policy, **kwargs))
