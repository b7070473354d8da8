"""Training strata: named env-argument sets of graded difficulty, mixed equally in GRPO batches.

They come from the env's card (:meth:`llm_gym.EnvCard.training_strata`) unless the user names
others, by the names the card declares or as JSON:

>>> list(resolve_strata("LLMDoubleCheckMath-v0", None))
['easy', 'medium', 'hard']
>>> list(resolve_strata("LLMTicTacToe-v0", "random,optimal"))
['random', 'optimal']
>>> resolve_strata("LLMTicTacToe-v0", '[{"max_random_move_prob": 0.5}, {}]')
{'max_random_move_prob=0.5': {'max_random_move_prob': 0.5}, 'default': {}}
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypeAlias

from llm_gym.envs.describe import describe

StrataSpec: TypeAlias = str | Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]] | None
"""What names strata: see :func:`resolve_strata`."""


def resolve_strata(env_id: str, spec: StrataSpec = None) -> dict[str, dict[str, Any]]:
    """Name -> env arguments of the strata ``spec`` asks for, in order.

    Args:
        env_id: a registered env id.
        spec: ``None`` (or blank text): the card's training strata (an env that declares none
            has one, ``"default"``, of no arguments); comma-separated names the card declares,
            as strata or as settings (``"random,optimal"``); JSON text of a list of env-argument
            objects (each named by its arguments) or of an object of named ones; or such a list
            or mapping itself.

    Raises:
        ValueError: an unknown name (the message lists the card's strata and settings), JSON
            that does not parse, or strata that are not env-argument objects.
    """
    if spec is None or (isinstance(spec, str) and not spec.strip()):
        return describe(env_id).card.training_strata()
    if not isinstance(spec, str):
        return named_strata(spec)
    text = spec.strip()
    if text[0] in "[{":
        try:
            parsed = json.loads(text)
        except json.JSONDecodeError as error:
            raise ValueError(f"strata JSON does not parse: {error}") from error
        return named_strata(parsed)
    return declared_strata(env_id, [name.strip() for name in text.split(",") if name.strip()])


def declared_strata(env_id: str, names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """The strata ``names`` of the env's card: its training strata, else its settings."""
    card = describe(env_id).card
    strata = card.training_strata()
    unknown = [name for name in names if name not in strata and name not in card.settings]
    if unknown:
        raise ValueError(
            f"{env_id} declares no stratum or setting {', '.join(map(repr, unknown))}; "
            f"its strata: {', '.join(strata)}; its settings: {', '.join(card.settings) or 'none'}"
        )
    return {name: dict(strata[name] if name in strata else card.settings[name]) for name in names}


def named_strata(
    strata: Mapping[str, Mapping[str, Any]] | Sequence[Mapping[str, Any]],
) -> dict[str, dict[str, Any]]:
    """Strata given as a mapping name -> env arguments, or as a list named by their arguments.

    >>> named_strata([{"difficulty": "easy", "steps": 2}])
    {'difficulty=easy,steps=2': {'difficulty': 'easy', 'steps': 2}}
    """
    if isinstance(strata, Mapping):
        pairs = list(strata.items())
    elif isinstance(strata, Sequence) and not isinstance(strata, str):
        pairs = [(stratum_name(s) if isinstance(s, Mapping) else "", s) for s in strata]
    else:
        pairs = []
    if not pairs:
        raise ValueError(
            "strata must be a non-empty list of env-argument objects or an object of named "
            f"ones, got {strata!r}"
        )
    named: dict[str, dict[str, Any]] = {}
    for name, arguments in pairs:
        if not isinstance(arguments, Mapping):
            raise ValueError(f"a stratum must be an object of env arguments, got {arguments!r}")
        if not isinstance(name, str) or not name:
            raise ValueError(f"stratum names must be non-empty text, got {name!r}")
        if name in named:
            raise ValueError(f"stratum {name!r} is given twice")
        named[name] = dict(arguments)
    return named


def stratum_name(arguments: Mapping[str, Any]) -> str:
    """``key=value,...`` of a stratum's env arguments (``"default"`` for none)."""
    parts = [
        f"{key}={value if isinstance(value, str) else json.dumps(value)}"
        for key, value in arguments.items()
    ]
    return ",".join(parts) or "default"
