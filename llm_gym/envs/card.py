"""What an env declares about itself for the tools built on it.

An env class sets ``card = EnvCard(...)``: its named evaluation settings, its training strata, the
outcomes that count as success, the default seed ranges of training and evaluation, and, for a
game two text players can play against each other, that game's multi-agent view. Tools read it
through :func:`llm_gym.describe` and never name an env. An env that declares nothing gets the
defaults of :class:`EnvCard`: no named settings, one training stratum (the env's own arguments),
``win`` and ``correct`` as success.

>>> levels = {"easy": {"level": 1}, "hard": {"level": 3}}
>>> card = EnvCard(settings=levels, success_outcomes=("solved",))
>>> card.training_strata()
{'easy': {'level': 1}, 'hard': {'level': 3}}
>>> list(card.chosen_settings())
['easy', 'hard']
>>> card.outcomes_to_teach()
('solved',)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

EnvArguments = Mapping[str, Any]
DEFAULT_SUCCESS_OUTCOMES = ("win", "correct")


@dataclass(frozen=True)
class SeedRange:
    """Env seeds ``start <= seed < stop``.

    >>> SeedRange(10, 20).first(3)
    range(10, 13)
    """

    start: int
    stop: int

    def __post_init__(self) -> None:
        for name in ("start", "stop"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):
                raise ValueError(f"SeedRange {name} must be an integer, got {value!r}")
        if not 0 <= self.start < self.stop:
            raise ValueError(f"a SeedRange needs 0 <= start < stop, got {self.start}, {self.stop}")

    def __contains__(self, seed: object) -> bool:
        return isinstance(seed, int) and self.start <= seed < self.stop

    def __len__(self) -> int:
        return self.stop - self.start

    def first(self, count: int) -> range:
        """The first ``count`` seeds of the range."""
        if not 0 <= count <= len(self):
            raise ValueError(f"count must be between 0 and {len(self)}, got {count}")
        return range(self.start, self.start + count)

    def window(self, offset: int, count: int) -> list[int]:
        """``count`` distinct seeds from ``offset`` seeds into the range, wrapping at its end.

        >>> SeedRange(10, 20).window(8, 4)
        [18, 19, 10, 11]
        """
        if isinstance(offset, bool) or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset must be an integer >= 0, got {offset!r}")
        if not 0 <= count <= len(self):
            raise ValueError(
                f"count must be between 0 and {len(self)} (the range's seeds), got {count}"
            )
        return [self.start + (offset + i) % len(self) for i in range(count)]

    def overlaps(self, other: SeedRange) -> bool:
        return self.start < other.stop and other.start < self.stop


TRAINING_SEEDS = SeedRange(0, 1_000_000)
EVALUATION_SEEDS = SeedRange(1_000_000, 2_000_000)


@dataclass(frozen=True)
class TwoPlayerGame:
    """The two-player view of a single-player env: the same task with a text player on each side.

    Attributes:
        entry_point: ``"module:Class"`` of a PettingZoo AEC env whose agents get the prompts of
            the single-player env (observations ``{"prompt": text}``, per-agent ``infos`` with
            ``system_prompt``, ``reward_weights``, ``reward_components`` and, at the end,
            ``outcome``). It takes the single-player env's format arguments.
        sides: agent name -> the label of its side (e.g. ``"player_1" -> "X"``), in turn order.
        typed_move: how a person's bare typed move becomes a reply, e.g. ``"<move>{}</move>"``
            (``None``: what the person types is sent as it is).
    """

    entry_point: str
    sides: Mapping[str, str]
    typed_move: str | None = None

    def __post_init__(self) -> None:
        if ":" not in self.entry_point:
            raise ValueError(f"entry_point must be 'module:Class', got {self.entry_point!r}")
        if len(self.sides) != 2:
            raise ValueError(f"a two-player game has two sides, got {dict(self.sides)}")
        object.__setattr__(self, "sides", MappingProxyType(dict(self.sides)))

    def load(self) -> type:
        """The AEC env class (imported now)."""
        from gymnasium.envs.registration import load_env_creator

        return load_env_creator(self.entry_point)

    def reply_to(self, typed: str) -> str:
        """The reply a person's typed text stands for."""
        text = typed.strip()
        if self.typed_move is None or "<" in text or not text:
            return text
        return self.typed_move.format(text)


@dataclass(frozen=True)
class EnvCard:
    """An env's declaration of what tools need to know about it.

    Attributes:
        settings: named evaluation settings, each the env arguments it sets (e.g. an opponent
            strength or a difficulty level); ``llm-gym eval --setting NAME`` runs one.
        default_settings: the settings a tool uses when the user names none (teacher walks and
            coverage, evaluation during training); empty: all of them.
        strata: named training strata (env arguments of graded difficulty that every training
            batch mixes equally); empty: the settings, or one stratum of the env's own
            arguments when there are none either (see :meth:`training_strata`).
        success_outcomes: ``outcome`` values that count as a success (pass@k, accuracy).
        teaching_outcomes: outcomes of a teacher's episode worth learning from in synthetic
            SFT data (``None``: the success outcomes).
        teacher: the scripted player (``llm_gym.policies``) that teaches by default.
        training_seeds, evaluation_seeds: default env seeds of each use; they never overlap.
        score_scale_arguments: env arguments that change the scale of the episode score
            (reference scores hold only where these keep the env's defaults).
        two_player: the game's two-player view, when it has one.
        state_in_observation: every observation holds the whole state the next reply needs
            (tic-tac-toe's board, side, legal moves and last moves), so a model may be shown
            only the system prompt and the env's latest message (``--context last``); ``False``
            when a turn refers back to earlier ones (a follow-up question, tool results).
    """

    settings: Mapping[str, EnvArguments] = field(default_factory=dict)
    default_settings: tuple[str, ...] = ()
    strata: Mapping[str, EnvArguments] = field(default_factory=dict)
    success_outcomes: tuple[str, ...] = DEFAULT_SUCCESS_OUTCOMES
    teaching_outcomes: tuple[str, ...] | None = None
    teacher: str | None = None
    training_seeds: SeedRange = TRAINING_SEEDS
    evaluation_seeds: SeedRange = EVALUATION_SEEDS
    score_scale_arguments: tuple[str, ...] = ()
    two_player: TwoPlayerGame | None = None
    state_in_observation: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "settings", _named_arguments("settings", self.settings))
        object.__setattr__(self, "strata", _named_arguments("strata", self.strata))
        object.__setattr__(self, "default_settings", self._declared_names(self.default_settings))
        object.__setattr__(
            self, "success_outcomes", _outcomes("success_outcomes", self.success_outcomes)
        )
        if self.teaching_outcomes is not None:
            object.__setattr__(
                self, "teaching_outcomes", _outcomes("teaching_outcomes", self.teaching_outcomes)
            )
        object.__setattr__(self, "score_scale_arguments", tuple(self.score_scale_arguments))
        if not isinstance(self.state_in_observation, bool):
            raise ValueError(
                f"state_in_observation must be a bool, got {self.state_in_observation!r}"
            )
        if self.training_seeds.overlaps(self.evaluation_seeds):
            raise ValueError(
                f"training_seeds {self.training_seeds} and evaluation_seeds "
                f"{self.evaluation_seeds} overlap"
            )

    def outcomes_to_teach(self) -> tuple[str, ...]:
        """Outcomes kept in synthetic SFT data (the success outcomes unless declared)."""
        return self.success_outcomes if self.teaching_outcomes is None else self.teaching_outcomes

    def training_strata(self) -> dict[str, dict[str, Any]]:
        """The strata, else the settings, else one stratum ``"default"`` with no arguments."""
        named = self.strata or self.settings or {"default": {}}
        return {name: dict(arguments) for name, arguments in named.items()}

    def chosen_settings(self, names: Sequence[str] = ()) -> dict[str, dict[str, Any]]:
        """Name -> env arguments of the settings ``names``; none named: the default settings.

        Raises:
            ValueError: a name the env does not declare (the message lists those it has).
        """
        chosen = tuple(names) or self.default_settings or tuple(self.settings)
        return {name: self.setting(name) for name in chosen}

    def setting(self, name: str) -> dict[str, Any]:
        """The env arguments of the setting ``name``.

        Raises:
            ValueError: the env declares no such setting (the message lists those it has).
        """
        if name not in self.settings:
            known = ", ".join(self.settings) or "none"
            raise ValueError(f"no setting {name!r}; the env declares: {known}")
        return dict(self.settings[name])

    def _declared_names(self, names: Sequence[str]) -> tuple[str, ...]:
        if isinstance(names, str):
            raise ValueError(f"default_settings must be a sequence of names, got {names!r}")
        unknown = [name for name in names if name not in self.settings]
        if unknown:
            known = ", ".join(self.settings) or "none"
            raise ValueError(f"default_settings {unknown} are not settings; declared: {known}")
        return tuple(names)


def _named_arguments(what: str, named: Mapping[str, EnvArguments]) -> Mapping[str, EnvArguments]:
    if not isinstance(named, Mapping):
        raise ValueError(f"{what} must map names to env arguments, got {named!r}")
    frozen = {}
    for name, arguments in named.items():
        if not isinstance(name, str) or not name or ":" in name:
            raise ValueError(f"{what} names must be non-empty text without ':', got {name!r}")
        if not isinstance(arguments, Mapping):
            raise ValueError(f"{what}[{name!r}] must be a mapping of env arguments")
        frozen[name] = MappingProxyType(dict(arguments))
    return MappingProxyType(frozen)


def _outcomes(what: str, outcomes: tuple[str, ...]) -> tuple[str, ...]:
    if isinstance(outcomes, str) or not all(isinstance(o, str) and o for o in outcomes):
        raise ValueError(f"{what} must be a sequence of outcome labels, got {outcomes!r}")
    if not outcomes:
        raise ValueError(f"{what} must name at least one outcome")
    return tuple(outcomes)
