"""Episode traces: what an env gave back for a seed and a list of replies, in comparable form.

Every value is kept as a *snapshot* taken the moment the env returned it: plain JSON data
(NumPy values as lists, object addresses dropped), so two traces compare with ``==`` in any
process and a later change to a returned object cannot hide in them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import gymnasium as gym
import numpy as np

Player = Callable[[Any, dict[str, Any], int], Any]
"""``(observation, info, turn) -> reply``: writes the reply to the newest observation."""

CallHook = Callable[[str, Any], None]
"""Called with ``(label, info)`` right after every ``reset`` / ``step`` of :func:`play`."""

_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")
_SHOWN_CHARS = 80


def snapshot(value: Any) -> Any:
    """``value`` as plain JSON data that compares equal exactly when the values are equal."""
    if value is None or isinstance(value, (bool, int, str)):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else repr(value)
    if isinstance(value, np.generic):
        return snapshot(value.item())
    if isinstance(value, np.ndarray):
        return {"ndarray": snapshot(value.tolist()), "dtype": str(value.dtype)}
    if isinstance(value, Mapping):
        return {str(key): snapshot(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [snapshot(item) for item in value]
    if isinstance(value, (set, frozenset)):
        return sorted((snapshot(item) for item in value), key=repr)
    if isinstance(value, bytes):
        return {"bytes": value.hex()}
    return _ADDRESS.sub("", repr(value))


@dataclass
class Step:
    reply: Any
    observation: Any
    reward: Any
    terminated: bool
    truncated: bool
    info: Any


@dataclass
class Trace:
    """One episode: the reset and every step, as snapshots."""

    seed: int
    observation: Any
    info: Any
    steps: list[Step] = field(default_factory=list)

    @property
    def replies(self) -> list[Any]:
        return [step.reply for step in self.steps]

    @property
    def done(self) -> bool:
        return bool(self.steps) and (self.steps[-1].terminated or self.steps[-1].truncated)

    @property
    def total_reward(self) -> float:
        return float(sum(step.reward for step in self.steps))

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Trace:
        steps = [Step(**step) for step in data["steps"]]
        return cls(data["seed"], data["observation"], data["info"], steps)


def play(
    env: gym.Env,
    seed: int,
    replies: Sequence[Any] | Player,
    *,
    max_steps: int,
    hook: CallHook | None = None,
) -> Trace:
    """Reset ``env`` with ``seed`` and step it until the episode ends.

    Args:
        env: the env to play (reused as it is; not closed).
        seed: the reset seed.
        replies: the replies to send in order, or a player that writes each one.
        max_steps: the most steps to take.
        hook: called after every call, once its results are snapshotted.
    """
    observation, info = env.reset(seed=seed)
    trace = Trace(seed, snapshot(observation), snapshot(info))
    if hook is not None:
        hook("reset", info)
    for turn in range(max_steps):
        if callable(replies):
            reply = replies(observation, info, turn)
        elif turn < len(replies):
            reply = replies[turn]
        else:
            break
        step, observation, info = take_step(env, reply)
        trace.steps.append(step)
        if hook is not None:
            hook(f"step {turn + 1}", info)
        if step.terminated or step.truncated:
            break
    return trace


def take_step(env: gym.Env, reply: Any) -> tuple[Step, Any, Any]:
    """Step ``env`` once: the snapshotted step, and the raw observation and info."""
    observation, reward, terminated, truncated, info = env.step(reply)
    step = Step(
        reply,
        snapshot(observation),
        snapshot(reward),
        bool(terminated),
        bool(truncated),
        snapshot(info),
    )
    return step, observation, info


def continue_play(env: gym.Env, replies: Sequence[Any]) -> list[Step]:
    """Step an env that is mid-episode with ``replies`` (stopping where the episode ends)."""
    steps = []
    for reply in replies:
        step, _, _ = take_step(env, reply)
        steps.append(step)
        if step.terminated or step.truncated:
            break
    return steps


def shorten(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= _SHOWN_CHARS else text[: _SHOWN_CHARS - 3] + "..."


def value_difference(expected: Any, actual: Any, path: str = "") -> str | None:
    """Where two snapshots first differ, e.g. ``"['board']: 'X..' != 'XO.'"``; else ``None``."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in expected.keys() | actual.keys():
            if key not in actual:
                return f"{path}[{key!r}]: missing the second time"
            if key not in expected:
                return f"{path}[{key!r}]: appeared the second time"
        for key in expected:
            found = value_difference(expected[key], actual[key], f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(expected, list) and isinstance(actual, list) and len(expected) == len(actual):
        for index, (left, right) in enumerate(zip(expected, actual, strict=True)):
            found = value_difference(left, right, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if expected == actual and type(expected) is type(actual):
        return None
    return f"{path}: {shorten(expected)} != {shorten(actual)}"


def steps_difference(
    expected: Sequence[Step], actual: Sequence[Step], first: int = 1
) -> str | None:
    """The first difference between two step lists, labelled ``step N field...``."""
    for number, (left, right) in enumerate(zip(expected, actual, strict=False), start=first):
        for name in ("observation", "reward", "terminated", "truncated", "info"):
            found = value_difference(getattr(left, name), getattr(right, name))
            if found is not None:
                return f"step {number} {name}{found}"
    if len(expected) != len(actual):
        return f"the episode ended after {len(expected)} steps the first time, {len(actual)} now"
    return None


def trace_difference(expected: Trace, actual: Trace) -> str | None:
    """The first difference between two traces of one seed and one list of replies."""
    for name in ("observation", "info"):
        found = value_difference(getattr(expected, name), getattr(actual, name))
        if found is not None:
            return f"reset {name}{found}"
    return steps_difference(expected.steps, actual.steps)
