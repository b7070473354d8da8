"""Read a registered env's declaration (:class:`~llm_gym.envs.card.EnvCard`) without building it.

>>> import llm_gym
>>> description = llm_gym.describe("LLMTicTacToe-v0")
>>> list(description.card.settings)
['random', 'mixed', 'optimal']
>>> description.defaults["max_turns"]
8
>>> "optimal" in description.scripted_players
True
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import gymnasium as gym
from gymnasium.envs.registration import load_env_creator

from llm_gym.envs.card import EnvCard

IGNORED_PARAMETERS = ("self", "render_mode")


@dataclass(frozen=True)
class EnvDescription:
    """What tools know about a registered env before making one.

    Attributes:
        env_id: the id as registered (a ``"module:"`` prefix dropped).
        card: the env class's declaration (the defaults of :class:`EnvCard` if it has none).
        defaults: the constructor's keyword defaults, with the registration's ``kwargs`` over
            them (arguments without a default are left out).
        scripted_players: names of the scripted players registered for the env
            (``llm_gym.policies``), sorted.
    """

    env_id: str
    card: EnvCard
    defaults: Mapping[str, Any]
    scripted_players: tuple[str, ...]

    def teacher(self) -> str | None:
        """The default teacher: the declared one, else the only scripted player, else ``None``."""
        if self.card.teacher is not None:
            return self.card.teacher
        return self.scripted_players[0] if len(self.scripted_players) == 1 else None


def describe(env_id: str) -> EnvDescription:
    """The declaration of ``env_id`` (``"pkg.module:Env-v0"`` imports ``pkg.module`` first).

    Only the env's class is imported; no env is made.

    Raises:
        gymnasium.error.Error: ``env_id`` is not registered.
    """
    from llm_gym.policies import scripted_policy_names

    spec = gym.spec(env_id)
    creator = spec.entry_point
    if isinstance(creator, str):
        creator = load_env_creator(creator)
    card = getattr(creator, "card", None)
    if not isinstance(card, EnvCard):
        card = EnvCard()
    return EnvDescription(
        env_id=spec.id,
        card=card,
        defaults={**constructor_defaults(creator), **spec.kwargs},
        scripted_players=tuple(scripted_policy_names(spec.id)),
    )


def constructor_defaults(creator: Any) -> dict[str, Any]:
    """Keyword defaults of an env class or factory (``render_mode`` and ``*args`` left out)."""
    try:
        parameters = inspect.signature(creator).parameters.values()
    except (TypeError, ValueError):
        return {}
    return {
        p.name: p.default
        for p in parameters
        if p.name not in IGNORED_PARAMETERS
        and p.kind not in (p.VAR_KEYWORD, p.VAR_POSITIONAL)
        and p.default is not inspect.Parameter.empty
    }
