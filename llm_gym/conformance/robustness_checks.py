"""Checks of robustness: hostile replies, copies mid-episode, resets, vector envs."""

from __future__ import annotations

import copy
import math
import pickle
import time
from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np

from llm_gym.conformance.api_checks import text_space_problem
from llm_gym.conformance.hostile import hostile_replies
from llm_gym.conformance.report import CheckFailed, CheckSkipped
from llm_gym.conformance.subject import EnvUnderTest, describe_trace, is_real_number
from llm_gym.conformance.traces import (
    Trace,
    continue_play,
    play,
    steps_difference,
    trace_difference,
)

VECTOR_ENVS = 2
MAX_LISTED_PROBLEMS = 4
SHOWN_MESSAGE_CHARS = 120


def check_hostile_replies(env: EnvUnderTest) -> str:
    """Hostile replies as the first reply never raise, stay in budget and give valid output."""
    made = env.make()
    seed = env.seeds[0]
    raised: dict[str, tuple[list[str], str]] = {}
    problems: list[str] = []
    slowest = (0.0, "")
    replies = hostile_replies(getattr(made.action_space, "max_length", 16384))
    try:
        for label, reply in replies:
            made.reset(seed=seed)
            started = time.perf_counter()
            try:
                observation, reward, *_ = made.step(reply)
            except Exception as error:
                name = type(error).__name__
                raised.setdefault(name, ([], str(error)))[0].append(label)
                made.close()
                made = env.make()
                continue
            seconds = time.perf_counter() - started
            slowest = max(slowest, (seconds, label))
            if seconds > env.step_budget_s:
                problems.append(f"{label}: the step took {seconds:.2f} s")
            problem = text_space_problem(made.observation_space, observation)
            if problem is not None:
                problems.append(f"{label}: the observation is {problem}")
            if not is_real_number(reward) or not math.isfinite(reward):
                problems.append(f"{label}: reward {reward!r}")
    finally:
        made.close()
    problems = [
        f"raised {name} on {len(labels)} ({', '.join(labels[:3])}{', ...' * (len(labels) > 3)}): "
        f"{message[:SHOWN_MESSAGE_CHARS]}"
        for name, (labels, message) in raised.items()
    ] + problems
    if problems:
        more = len(problems) - MAX_LISTED_PROBLEMS
        failing = sum(len(labels) for labels, _ in raised.values()) + len(problems) - len(raised)
        raise CheckFailed(
            f"{failing} problems with {len(replies)} hostile replies (seed {seed}, step budget "
            f"{env.step_budget_s} s): "
            + "; ".join(problems[:MAX_LISTED_PROBLEMS])
            + (f" (and {more} more)" if more > 0 else "")
        )
    return (
        f"{len(replies)} hostile replies: none raised; slowest step {slowest[0]:.3f} s "
        f"({slowest[1]}; budget {env.step_budget_s} s)"
    )


def _copy_mid_episode(env: EnvUnderTest, copier: Callable[[Any], Any], how: str) -> str:
    """Copy the env halfway through every trace; copy and original both finish it identically."""
    copies = 0
    for player, trace in env.traces():
        if not trace.steps:
            continue
        cut = len(trace.steps) // 2
        made = env.make()
        try:
            made.reset(seed=trace.seed)
            continue_play(made, trace.replies[:cut])
            try:
                twin = copier(made.unwrapped)
            except Exception as error:
                raise CheckFailed(
                    f"{describe_trace(player, trace)} after step {cut}: {how} raised "
                    f"{type(error).__name__}: {error}"
                ) from error
            rest = trace.replies[cut:]
            for who, target in (("the copy", twin), ("the original", made)):
                difference = steps_difference(
                    trace.steps[cut:], continue_play(target, rest), first=cut + 1
                )
                if difference is not None:
                    raise CheckFailed(
                        f"{describe_trace(player, trace)}, copied by {how} after step {cut}: "
                        f"{who} went on differently: {difference}"
                    )
            copies += 1
        finally:
            made.close()
    return f"{copies} episodes copied halfway: copy and original finished them identically"


def check_pickle_mid_episode(env: EnvUnderTest) -> str:
    """``pickle`` round trip mid-episode; the copy and the original carry on identically."""
    return _copy_mid_episode(env, lambda target: pickle.loads(pickle.dumps(target)), "pickle")


def check_deepcopy_mid_episode(env: EnvUnderTest) -> str:
    """``copy.deepcopy`` mid-episode; the copy and the original carry on identically."""
    return _copy_mid_episode(env, copy.deepcopy, "copy.deepcopy")


def _finished_pairs(env: EnvUnderTest) -> list[tuple[str, Trace, Trace]]:
    pairs = []
    for player in env.trace_players:
        first, second = (env.trace(player, seed) for seed in env.seeds[:2])
        if first.done and second.done:
            pairs.append((player, first, second))
    return pairs


def check_reset_after_episode_end(env: EnvUnderTest) -> str:
    """After an episode ends, ``reset`` starts the next one exactly like a fresh env does."""
    pairs = _finished_pairs(env)
    if not pairs:
        raise CheckSkipped(f"no traced episode ended within {env.max_steps} replies")
    for player, first, second in pairs:
        made = env.make()
        try:
            for expected in (first, second, first):
                again = play(made, expected.seed, expected.replies, max_steps=env.max_steps)
                difference = trace_difference(expected, again)
                if difference is not None:
                    raise CheckFailed(
                        f"{describe_trace(player, expected)} on an env that had finished an "
                        f"episode: {difference}"
                    )
        finally:
            made.close()
    return (
        f"{len(pairs)} pairs of finished episodes replayed back to back on one env, as fresh "
        "envs play them"
    )


def _vector_difference(vector_env: gym.vector.VectorEnv, traces: list[Trace]) -> str | None:
    observations, _ = vector_env.reset(seed=[trace.seed for trace in traces])
    for index, trace in enumerate(traces):
        if observations[index] != trace.observation:
            return f"sub-env {index} (seed {trace.seed}) reset observation differs"
    for number in range(min(len(trace.steps) for trace in traces)):
        steps = [trace.steps[number] for trace in traces]
        observations, rewards, terminated, truncated, _ = vector_env.step(
            tuple(step.reply for step in steps)
        )
        for index, step in enumerate(steps):
            got = (observations[index], float(rewards[index]), terminated[index], truncated[index])
            want = (step.observation, float(step.reward), step.terminated, step.truncated)
            if got != want:
                seed = traces[index].seed
                return f"sub-env {index} (seed {seed}) step {number + 1}: {got} != {want}"
        if np.any(terminated | truncated):
            break
    return None


def check_vector_env(env: EnvUnderTest) -> str:
    """``gymnasium.make_vec`` (sync, and async without shared memory) matches single envs."""
    player = env.trace_players[-1]
    traces = [env.trace(player, seed) for seed in env.seeds[:VECTOR_ENVS]]
    for mode, vector_kwargs in (("sync", {}), ("async", {"shared_memory": False})):
        vector_env = gym.make_vec(
            env.env_id,
            num_envs=VECTOR_ENVS,
            vectorization_mode=mode,
            vector_kwargs=vector_kwargs,
            **env.env_kwargs,
        )
        try:
            difference = _vector_difference(vector_env, traces)
        finally:
            vector_env.close()
        if difference is not None:
            raise CheckFailed(f"{mode} vector env of {VECTOR_ENVS} ({player}): {difference}")
    return f"sync and async vector envs of {VECTOR_ENVS} step like single envs ({player})"
