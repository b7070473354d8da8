"""Scripted text policies: reference players that reply like a model would.

A scripted policy is a callable ``(observation, info) -> reply``. It may read the structured
state an env puts in ``info`` (e.g. ``board``), so it never has to parse the prompt text.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, Protocol, runtime_checkable


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

    Raises:
        ValueError: no such policy is registered for the env.
    """
    factories = _REGISTRY.get(_base_id(env_id), {})
    if name not in factories:
        known = ", ".join(sorted(factories)) or "none"
        raise ValueError(f"no scripted policy {name!r} for {env_id}; registered: {known}")
    return factories[name](**kwargs)


def _base_id(env_id: str) -> str:
    return env_id.split(":")[-1]
