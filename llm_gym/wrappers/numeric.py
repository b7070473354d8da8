"""Numeric views of text envs with a discrete structure, for classic RL libraries.

A text env opts in by implementing :class:`DiscreteStructure`: it builds a numeric observation
from its own structured state (never by parsing the prompt text), says which actions are legal
and writes the canonical reply for each discrete action. :class:`NumericView` then steps the
text env with that reply, so dynamics, opponent, seeding and rewards are the text env's own.

>>> import gymnasium as gym, llm_gym
>>> from llm_gym.wrappers import NumericView
>>> env = NumericView(gym.make("LLMTicTacToe-v0"))
>>> obs, info = env.reset(seed=0)
>>> obs.shape, env.action_space
((27,), Discrete(9))
"""

from __future__ import annotations

from typing import Any, Protocol, SupportsInt, runtime_checkable

import gymnasium as gym
import numpy as np
from gymnasium import spaces


@runtime_checkable
class DiscreteStructure(Protocol):
    """What a text env exposes so that :class:`NumericView` can wrap it.

    Attributes:
        numeric_observation_space: a ``Box`` that :meth:`numeric_observation` always lies in.
        numeric_action_space: a ``Discrete(n)``; action ``i`` is replied as ``action_text(i)``.
    """

    numeric_observation_space: spaces.Box
    numeric_action_space: spaces.Discrete

    def numeric_observation(self) -> np.ndarray:
        """The current state as numbers, from the acting player's side."""
        ...

    def action_mask(self) -> np.ndarray:
        """Boolean array of length ``n``: which actions are legal now."""
        ...

    def action_text(self, action: int) -> str:
        """The well-formatted reply that takes discrete action ``action``."""
        ...


class NumericView(gym.Wrapper[np.ndarray, np.int64, str, str]):
    """A text env seen through numbers: ``Box`` observations and ``Discrete`` actions.

    Every step sends ``action_text(action)`` to the wrapped text env and returns its reward,
    ``terminated``, ``truncated`` and ``info`` unchanged, with the numeric observation in place
    of the text. An illegal action (e.g. an occupied cell) is therefore an invalid reply with the
    text env's own penalty, which is what plain ``PPO``/``DQN`` learn from; ``MaskablePPO``
    avoids such actions through :meth:`action_masks`.

    Args:
        env: a text env (possibly wrapped, e.g. by ``gym.make``) whose ``unwrapped`` env
            implements :class:`DiscreteStructure`.

    Raises:
        TypeError: the text env does not implement :class:`DiscreteStructure`.
    """

    def __init__(self, env: gym.Env[str, str]):
        super().__init__(env)
        structure = env.unwrapped
        if not isinstance(structure, DiscreteStructure):
            missing = [
                name
                for name in (
                    "numeric_observation_space",
                    "numeric_action_space",
                    "numeric_observation",
                    "action_mask",
                    "action_text",
                )
                if not hasattr(structure, name)
            ]
            raise TypeError(
                f"{type(structure).__name__} has no discrete structure for a numeric view "
                f"(missing: {', '.join(missing)})"
            )
        self.structure: DiscreteStructure = structure
        self.observation_space = structure.numeric_observation_space
        self.action_space = structure.numeric_action_space

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[np.ndarray, dict[str, Any]]:
        _, info = self.env.reset(seed=seed, options=options)
        return self.structure.numeric_observation(), info

    def step(self, action: SupportsInt) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        index = int(action)
        if not self.action_space.contains(index):
            raise ValueError(f"action must be in {self.action_space}, got {action!r}")
        _, reward, terminated, truncated, info = self.env.step(self.structure.action_text(index))
        return self.structure.numeric_observation(), float(reward), terminated, truncated, info

    def action_masks(self) -> np.ndarray:
        """Legal actions now, in the form sb3-contrib's ``MaskablePPO`` asks for."""
        return self.structure.action_mask()


def make_numeric_env(env_id: str, **kwargs: Any) -> NumericView:
    """``NumericView(gym.make(env_id, **kwargs))``."""
    return NumericView(gym.make(env_id, **kwargs))
