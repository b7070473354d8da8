"""Gymnasium vector envs (sync and async) over every registered text env.

Parametrized over ``llm_gym.ENV_SPECS``: an env that is registered but cannot be built fails
here instead of being skipped.

``AsyncVectorEnv`` must be built with ``shared_memory=False`` for text envs: with shared memory
(its default) Gymnasium 1.x reads a ``Text`` observation buffer once, at construction, and
returns that stale snapshot from every ``reset``/``step`` (the non-Box case of Gymnasium issue
#1164). Strings travel through the worker pipes instead, which is what these tests use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import gymnasium as gym
import numpy as np
import pytest
from gymnasium.vector import AsyncVectorEnv, AutoresetMode, SyncVectorEnv

import llm_gym
from llm_gym.policies import make_scripted_policy, scripted_policy_names

ENV_IDS = sorted(llm_gym.ENV_SPECS)
NUM_ENVS = 3
STEPS = 40


def env_fns(env_id: str) -> list[Callable[[], gym.Env]]:
    return [lambda: gym.make(env_id) for _ in range(NUM_ENVS)]


def env_info(infos: dict[str, Any], index: int) -> dict[str, Any]:
    """The info dict of sub-env ``index`` out of a vector env's batched (nested) infos."""
    return {
        key: env_info(value, index) if isinstance(value, dict) else value[index]
        for key, value in infos.items()
        if not key.startswith("_") and infos[f"_{key}"][index]
    }


def make_actor(env_id: str, seed: int) -> Callable[[str, dict[str, Any], gym.Space], str]:
    """The env's first scripted policy when it has one (real play), else random or empty text."""
    names = scripted_policy_names(env_id)
    if names:
        policy = make_scripted_policy(env_id, names[0])
        return lambda observation, info, _space: policy(observation, info)
    rng = np.random.default_rng(seed)
    return lambda _observation, _info, space: space.sample() if rng.random() < 0.5 else ""


def rollout(vector_env: gym.vector.VectorEnv, env_id: str, seed: int) -> list[Any]:
    """Step a vector env with replies; return everything it gave back, flattened to Python."""
    space = vector_env.single_action_space
    space.seed(seed)
    actor = make_actor(env_id, seed)
    observations, infos = vector_env.reset(seed=[seed + i for i in range(NUM_ENVS)])
    trace: list[Any] = [list(observations)]
    previous_done = np.zeros(NUM_ENVS, dtype=bool)
    for _ in range(STEPS):
        # a sub-env whose episode ended last step is reset by this step: its action is ignored
        actions = tuple(
            "" if previous_done[i] else actor(observations[i], env_info(infos, i), space)
            for i in range(NUM_ENVS)
        )
        observations, rewards, terminated, truncated, infos = vector_env.step(actions)
        for i in range(NUM_ENVS):
            assert isinstance(observations[i], str)
            assert vector_env.single_observation_space.contains(observations[i])
            if previous_done[i]:  # next-step autoreset: this step was a reset
                assert rewards[i] == 0.0 and not terminated[i] and not truncated[i]
                assert "system_prompt" in env_info(infos, i)
        previous_done = terminated | truncated
        trace.append(
            (list(observations), rewards.tolist(), terminated.tolist(), truncated.tolist())
        )
    return trace


@pytest.mark.parametrize("env_id", ENV_IDS)
@pytest.mark.parametrize(
    "make_vector_env",
    [
        pytest.param(lambda env_id: SyncVectorEnv(env_fns(env_id)), id="sync"),
        pytest.param(
            lambda env_id: AsyncVectorEnv(env_fns(env_id), shared_memory=False), id="async"
        ),
        pytest.param(
            lambda env_id: gym.make_vec(env_id, NUM_ENVS, vectorization_mode="sync"),
            id="make_vec-sync",
        ),
        pytest.param(
            lambda env_id: gym.make_vec(
                env_id,
                NUM_ENVS,
                vectorization_mode="async",
                vector_kwargs={"shared_memory": False},
            ),
            id="make_vec-async",
        ),
    ],
)
def test_vector_env_matches_single_envs(env_id: str, make_vector_env) -> None:
    vector_env = make_vector_env(env_id)
    try:
        assert vector_env.metadata["autoreset_mode"] == AutoresetMode.NEXT_STEP
        assert isinstance(vector_env.single_observation_space, gym.spaces.Text)
        assert isinstance(vector_env.single_action_space, gym.spaces.Text)
        vector_trace = rollout(vector_env, env_id, seed=11)
    finally:
        vector_env.close()
    # the same rollout through one SyncVectorEnv more gives the same trace: the envs are
    # deterministic given seeds and replies, in this process and in worker processes alike
    reference = SyncVectorEnv(env_fns(env_id))
    try:
        assert rollout(reference, env_id, seed=11) == vector_trace
    finally:
        reference.close()
    episodes_ended = sum(sum(t) + sum(u) for _, _, t, u in vector_trace[1:])
    assert episodes_ended >= 1, "no episode ended in the rollout: the test saw no autoreset"


@pytest.mark.parametrize("env_id", ENV_IDS)
def test_async_vector_env_seeds_like_separate_envs(env_id: str) -> None:
    vector_env = AsyncVectorEnv(env_fns(env_id), shared_memory=False)
    try:
        observations, _ = vector_env.reset(seed=[5, 6, 7])
    finally:
        vector_env.close()
    for index, seed in enumerate((5, 6, 7)):
        single = gym.make(env_id)
        observation, _ = single.reset(seed=seed)
        assert observations[index] == observation
