"""Scripted text policies: reference players that reply like a model would.

A scripted policy is a callable ``(observation, info) -> reply``. It may read the structured
state an env puts in ``info`` (e.g. ``board``), so it never has to parse the prompt text.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable

import gymnasium as gym


@runtime_checkable
class ScriptedPolicy(Protocol):
    """Replies to the newest observation of an episode."""

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str: ...


ScriptedPolicyFactory = Callable[..., ScriptedPolicy]

_REGISTRY: dict[str, dict[str, ScriptedPolicyFactory]] = {}


def register_scripted_policy(env_id: str, name: str, factory: ScriptedPolicyFactory) -> None:
    """Make ``factory`` available as scripted policy ``name`` for ``env_id``."""
    _REGISTRY.setdefault(env_id, {})[name] = factory


def scripted_policy_names(env_id: str) -> list[str]:
    return sorted(_REGISTRY.get(_base_id(env_id), {}))


def make_scripted_policy(env_id: str, name: str, **kwargs: Any) -> ScriptedPolicy:
    """Build the scripted policy ``name`` for ``env_id``.

    A ``seed`` reaches only a factory that takes one: a player that draws nothing at random
    (e.g. an oracle) has none, and is built without it.

    Raises:
        ValueError: no such policy is registered for the env.
    """
    factories = _REGISTRY.get(_base_id(env_id), {})
    if name not in factories:
        known = ", ".join(sorted(factories)) or "none"
        raise ValueError(f"no scripted policy {name!r} for {env_id}; registered: {known}")
    factory = factories[name]
    if "seed" in kwargs and not _takes(factory, "seed"):
        kwargs = {key: value for key, value in kwargs.items() if key != "seed"}
    return factory(**kwargs)


def play_scripted_episode(
    env: gym.Env, policy: ScriptedPolicy, seed: int | None = None
) -> tuple[float, dict[str, Any]]:
    """Play one episode of ``env`` with ``policy``.

    Returns:
        The episode's total reward and the info dict of its last step.
    """
    observation, info = env.reset(seed=seed)
    total, done = 0.0, False
    while not done:
        observation, reward, terminated, truncated, info = env.step(policy(observation, info))
        total += float(reward)
        done = terminated or truncated
    return total, info


def _takes(factory: ScriptedPolicyFactory, argument: str) -> bool:
    try:
        parameters = inspect.signature(factory).parameters.values()
    except (TypeError, ValueError):
        return True
    return any(
        p.kind is p.VAR_KEYWORD
        or (p.name == argument and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY))
        for p in parameters
    )


def _base_id(env_id: str) -> str:
    return env_id.split(":")[-1]
