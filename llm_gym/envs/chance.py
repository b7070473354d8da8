"""Chance control: let a caller choose an env's random events instead of the episode seed.

An env's randomness (which side the model plays, the opponent's reply, ...) normally comes
from the episode seed. For exact evaluation a caller wants every branch instead: each random
choice as a :class:`ChanceEvent` listing its possible outcomes with their probabilities, and a
way to play the outcome it picks. An env opts in by

- setting the class attribute ``accepts_chance_chooser = True``,
- reading :func:`chance_chooser_from` of its ``reset`` options, and
- routing every random choice through ``chooser.choose(event)`` when a chooser is given (and
  drawing from the seed as usual otherwise, so seeded episodes do not change).

The walker in ``adapters.exact`` passes a :class:`ChancePath` (fixed choices, then
:class:`UndecidedChance` at the first event past them) and replays each branch from ``reset``.

A continuous draw can opt in through a quadrature: :func:`uniform_quadrature` turns a uniform
draw on ``[low, high]`` into three weighted points whose weighted mean of any polynomial of
degree <= 5 equals its expectation (Gauss-Legendre), so an outcome probability that is such a
polynomial of the drawn value comes out exact.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

import numpy as np

CHANCE_OPTION = "chance"
"""The ``reset`` options key that carries a :class:`ChanceChooser`."""


@dataclass(frozen=True)
class ChanceEvent:
    """A random choice an env is about to make.

    Attributes:
        name: what is chosen (e.g. ``"model_mark"``, ``"opponent_move"``).
        outcomes: the possible values, in a fixed order.
        probabilities: the probability of each outcome (they sum to 1).
    """

    name: str
    outcomes: tuple[Hashable, ...]
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        if len(self.outcomes) != len(self.probabilities) or not self.outcomes:
            raise ValueError(
                f"chance event {self.name!r} needs one probability per outcome, got "
                f"{len(self.outcomes)} outcomes and {len(self.probabilities)} probabilities"
            )


class ChanceChooser(Protocol):
    """Picks the outcome of each chance event of an episode, in the order the env meets them."""

    def choose(self, event: ChanceEvent) -> int:
        """The index in ``event.outcomes`` of the outcome the env must play."""
        ...


class UndecidedChance(Exception):
    """Raised by :class:`ChancePath` at the first event past its choices; carries the event."""

    def __init__(self, event: ChanceEvent, depth: int):
        super().__init__(f"no choice for chance event {event.name!r} at depth {depth}")
        self.event = event
        self.depth = depth


class ChancePath:
    """A chooser that plays fixed outcome indices, then raises :class:`UndecidedChance`.

    Args:
        choices: the outcome index of the first, second, ... chance event of the episode.
    """

    def __init__(self, choices: Sequence[int] = ()):
        self.choices = tuple(choices)
        self.events: list[ChanceEvent] = []
        """The events met so far, in order."""

    def choose(self, event: ChanceEvent) -> int:
        depth = len(self.events)
        if depth >= len(self.choices):
            raise UndecidedChance(event, depth)
        index = self.choices[depth]
        if not 0 <= index < len(event.outcomes):
            raise ValueError(
                f"choice {index} is out of range for chance event {event.name!r} with "
                f"{len(event.outcomes)} outcomes"
            )
        self.events.append(event)
        return index


def chance_chooser_from(options: Mapping[str, Any] | None) -> ChanceChooser | None:
    """The chooser in ``reset`` options, or ``None``.

    Raises:
        TypeError: the option is set but has no ``choose`` method.
    """
    chooser = (options or {}).get(CHANCE_OPTION)
    if chooser is not None and not callable(getattr(chooser, "choose", None)):
        raise TypeError(
            f"reset option {CHANCE_OPTION!r} must be a chooser with a choose(event) method "
            f"(e.g. llm_gym.envs.chance.ChancePath), got {type(chooser).__name__}"
        )
    return chooser


def uniform_quadrature(name: str, low: float, high: float) -> ChanceEvent:
    """A uniform draw on ``[low, high]`` as three Gauss-Legendre points (one if ``low == high``).

    The weighted mean over the points of any polynomial of degree <= 5 in the drawn value equals
    its expectation under the uniform draw.
    """
    if low == high:
        return ChanceEvent(name, (float(low),), (1.0,))
    nodes, weights = _unit_gauss_legendre()
    return ChanceEvent(name, tuple(low + (high - low) * node for node in nodes), weights)


@cache
def _unit_gauss_legendre() -> tuple[tuple[float, ...], tuple[float, ...]]:
    """Three-point Gauss-Legendre nodes and weights on [0, 1]."""
    nodes, weights = np.polynomial.legendre.leggauss(3)
    return tuple(float(n + 1.0) / 2.0 for n in nodes), tuple(float(w) / 2.0 for w in weights)
