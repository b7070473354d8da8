"""The base class of every llm_gym text environment (the contract in one place).

Subclasses get the text spaces, named and weighted reward components, fresh ``info`` dicts and
``ansi`` rendering; they implement the task in ``reset``/``step`` and :meth:`TextEnv.render_text`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

import gymnasium as gym

from llm_gym.envs.card import EnvCard
from llm_gym.parsing import MAX_REPLY_CHARS, unreadable_reply
from llm_gym.spaces import text_space, to_charset
from llm_gym.validation import check_render_mode


class TextEnv(gym.Env[str, str]):
    """A Gymnasium env whose observations are messages to a model and whose actions are replies.

    Info keys every subclass provides:
        at reset: ``system_prompt``, ``reward_weights``, ``role``, and ``max_reward`` (the best
        episode score) when the env declares its best component totals.
        at every step: ``role`` (``"user"`` or ``"tool"``: the chat role of the observation),
        ``reward_components`` (unweighted values of this step, one entry per component),
        ``invalid_action`` (the reply broke the rules or the format needed to act on it).
        at the last step: ``outcome`` (a short label such as ``"win"`` or ``"correct"``) and
        ``metrics`` (task-specific numbers for evaluation summaries).

    The step reward is ``sum(weight * value)`` over the components, so summing step rewards over
    an episode gives the episode score, and summing ``reward_components`` gives each
    component's episode total.

    A subclass declares its evaluation settings, training strata, success outcomes and the like
    in the class attribute :attr:`card` (see :mod:`llm_gym.envs.card`).

    A reply longer than the action space's ``max_length`` is not read: it is an invalid action
    (see :meth:`reply_error`), so no reply can make a step cost more than a bounded parse.
    Stepping before the first ``reset()`` raises :class:`gymnasium.error.ResetNeeded`.
    """

    metadata: ClassVar[dict[str, Any]] = {"render_modes": ["ansi"], "render_fps": 1}
    max_observation_length: ClassVar[int] = 8192
    max_action_length: ClassVar[int] = MAX_REPLY_CHARS
    card: ClassVar[EnvCard] = EnvCard()
    """What tools need to know about the env (settings, strata, success outcomes, seeds...)."""

    def __init__(
        self,
        reward_weights: Mapping[str, float],
        render_mode: str | None = None,
        *,
        best_component_totals: Mapping[str, float] | None = None,
    ):
        """
        Args:
            reward_weights: the weight of each named reward component.
            render_mode: ``None`` or ``"ansi"``.
            best_component_totals: each component's episode total in a perfect episode (e.g. 1
                for a win, 0 for a penalty); declares :attr:`max_reward`.
        """
        self.render_mode = check_render_mode(render_mode, self.metadata["render_modes"])
        self.reward_weights: dict[str, float] = dict(reward_weights)
        self.best_component_totals: dict[str, float] | None = None
        if best_component_totals is not None:
            if set(best_component_totals) != set(self.reward_weights):
                raise ValueError(
                    "best_component_totals must name exactly the reward components "
                    f"{sorted(self.reward_weights)}, got {sorted(best_component_totals)}"
                )
            self.best_component_totals = dict(best_component_totals)
        self.observation_space = text_space(self.max_observation_length)
        self.action_space = text_space(self.max_action_length)
        self._has_reset = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[str, dict[str, Any]]:
        """Seeds ``np_random`` (subclasses call this first, then build the episode)."""
        super().reset(seed=seed, options=options)
        self._has_reset = True
        return "", {}

    def check_reset(self) -> None:
        """Raise :class:`gymnasium.error.ResetNeeded` when no episode was ever started."""
        if not self._has_reset:
            raise gym.error.ResetNeeded("call reset() before step(): no episode has started")

    def reply_error(self, reply: Any) -> str | None:
        """Why ``reply`` cannot be read at all (not text, or longer than the action space).

        The message is phrased for the model; ``None`` when the reply can be parsed.
        """
        return unreadable_reply(reply, self.max_action_length)

    @property
    def system_prompt(self) -> str:
        """The system message that explains the task and the reply format."""
        raise NotImplementedError

    @property
    def max_reward(self) -> float | None:
        """The best episode score the env can give, or ``None`` when it declares none."""
        if self.best_component_totals is None:
            return None
        return self.weighted_reward(self.best_component_totals)

    def weighted_reward(self, components: Mapping[str, float]) -> float:
        return float(sum(self.reward_weights[name] * value for name, value in components.items()))

    def zero_components(self) -> dict[str, float]:
        return dict.fromkeys(self.reward_weights, 0.0)

    def observation_text(self, text: str) -> str:
        """Clamp text to the observation space (charset and length)."""
        return to_charset(text, self.max_observation_length)

    def reset_info(self, **extra: Any) -> dict[str, Any]:
        info: dict[str, Any] = {
            "system_prompt": self.system_prompt,
            "reward_weights": dict(self.reward_weights),
            "role": "user",
        }
        if self.max_reward is not None:
            info["max_reward"] = self.max_reward
        return {**info, **extra}

    def step_info(
        self,
        components: Mapping[str, float],
        *,
        invalid_action: bool,
        role: str = "user",
        **extra: Any,
    ) -> dict[str, Any]:
        return {
            "role": role,
            "reward_components": dict(components),
            "invalid_action": invalid_action,
            **extra,
        }

    def render_text(self) -> str:
        """A human-readable view of the current state."""
        raise NotImplementedError

    def render(self) -> str | None:
        if self.render_mode == "ansi":
            return self.render_text()
        return None
