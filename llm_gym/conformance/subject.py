"""The env under test: how to make it, the players that drive it, and their cached traces."""

from __future__ import annotations

import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

import gymnasium as gym
import numpy as np

import llm_gym  # noqa: F401  (registers the envs)
from llm_gym.conformance.traces import Player, Trace, play
from llm_gym.policies import make_scripted_policy, scripted_policy_names
from llm_gym.seeding import derive_rng

PROBE_PLAYER = "probe"
PROBE_REPLIES = (
    "",
    "Hello.",
    "<answer>0</answer>",
    "<move>4</move>",
    "\\boxed{1}",
    None,  # a random printable reply drawn from the seed and the turn
)
"""Replies of the probe player, in turn: plausible formats, no reply and noise."""

NOOP_PLAYERS = ("empty reply", "garbage reply")
GARBAGE_CHARS = 64


def random_text(space: gym.Space, seed: int, *keys: int | str, length: int) -> str:
    """Printable text from the action space's charset (a ``Text`` space's), reproducibly."""
    charset = getattr(space, "character_set", None) or frozenset(string.printable)
    characters = sorted(charset & frozenset(string.printable)) or sorted(charset)
    rng = derive_rng(seed, *keys)
    return "".join(characters[i] for i in rng.integers(0, len(characters), size=length))


@dataclass
class EnvUnderTest:
    """One env id with its arguments, and what the checks share about it.

    Args:
        env_id: a registered id, or ``"package.module:EnvName-v0"`` to import a user's package.
        env_kwargs: keyword arguments for ``gymnasium.make``.
        seeds: the seeds of the traces most checks compare.
        step_budget_s: the most seconds one step may take on a hostile reply.
        max_steps: the most steps of one traced episode.
        scripted_episodes: episodes per scripted player when measuring scores.
    """

    env_id: str
    env_kwargs: Mapping[str, Any] = field(default_factory=dict)
    seeds: Sequence[int] = (0, 1, 2)
    step_budget_s: float = 0.5
    max_steps: int = 64
    scripted_episodes: int = 8
    _traces: dict[tuple[str, int], Trace] = field(default_factory=dict, init=False, repr=False)

    def __post_init__(self) -> None:
        if len(self.seeds) < 2:
            raise ValueError(f"seeds must hold at least 2 seeds, got {list(self.seeds)}")
        if self.step_budget_s <= 0:
            raise ValueError(f"step_budget_s must be > 0, got {self.step_budget_s}")
        if self.max_steps < 1 or self.scripted_episodes < 1:
            raise ValueError("max_steps and scripted_episodes must be >= 1")

    def make(self) -> gym.Env:
        """A fresh env (Gymnasium's passive checker off: the checks say more)."""
        return gym.make(self.env_id, disable_env_checker=True, **self.env_kwargs)

    @cached_property
    def scripted_names(self) -> list[str]:
        return scripted_policy_names(self.env_id)

    @cached_property
    def trace_players(self) -> list[str]:
        """The probe player, and the first scripted player when the env has one."""
        return [PROBE_PLAYER, *(f"scripted:{name}" for name in self.scripted_names[:1])]

    def player(self, name: str, action_space: gym.Space, seed: int) -> Player:
        """The player called ``name``: probe, a no-op, or ``scripted:NAME``."""
        if name.startswith("scripted:"):
            policy = make_scripted_policy(self.env_id, name.removeprefix("scripted:"))
            return lambda observation, info, _turn: policy(observation, info)
        if name == PROBE_PLAYER:

            def probe(_observation: Any, _info: Any, turn: int) -> str:
                reply = PROBE_REPLIES[turn % len(PROBE_REPLIES)]
                if reply is None:
                    return random_text(action_space, seed, "probe", turn, length=GARBAGE_CHARS)
                return reply

            return probe
        if name == "empty reply":
            return lambda _observation, _info, _turn: ""
        if name == "garbage reply":
            return lambda _observation, _info, turn: random_text(
                action_space, seed, "garbage", turn, length=GARBAGE_CHARS
            )
        raise ValueError(f"unknown player {name!r}")

    def play_fresh(self, player_name: str, seed: int) -> Trace:
        """One episode of ``player_name`` on a fresh env."""
        env = self.make()
        try:
            return play(
                env,
                seed,
                self.player(player_name, env.action_space, seed),
                max_steps=self.max_steps,
            )
        finally:
            env.close()

    def trace(self, player_name: str, seed: int) -> Trace:
        """:meth:`play_fresh`, computed once per player and seed."""
        key = (player_name, seed)
        if key not in self._traces:
            self._traces[key] = self.play_fresh(player_name, seed)
        return self._traces[key]

    def traces(self) -> list[tuple[str, Trace]]:
        """``(player, trace)`` for every trace player and seed."""
        return [
            (name, self.trace(name, seed)) for name in self.trace_players for seed in self.seeds
        ]


def describe_trace(player: str, trace: Trace) -> str:
    return f"seed {trace.seed} ({player})"


def is_real_number(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
