"""Seeded multi-step arithmetic word problems with exact integer answers (no download).

A problem follows one quantity through a chain of steps (buying in packs, giving away,
sharing equally, losing a fraction, selling a percentage, ...). Every step is checked while it
is generated, so each intermediate value and the answer are exact non-negative integers. The
difficulty sets the number of steps, the size of the numbers and which kinds of step appear.

>>> problem = generate_problem(3, "easy")
>>> problem == generate_problem(3, "easy")
True
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from llm_gym.seeding import derive_rng

DIFFICULTIES = ("easy", "medium", "hard")


@dataclass(frozen=True)
class MathProblem:
    """A word problem and its exact answer.

    Attributes:
        question: the problem text, ending in the question.
        answer: the exact answer as text (an integer for generated problems).
        solution: worked steps, one line each (empty for data-set problems without them).
        difficulty: ``"easy"``, ``"medium"``, ``"hard"`` or a data set's label.
    """

    question: str
    answer: str
    solution: tuple[str, ...] = ()
    difficulty: str = ""


@dataclass(frozen=True)
class _Level:
    steps: tuple[int, int]
    start: tuple[int, int]
    operand: tuple[int, int]
    kinds: tuple[str, ...]


LEVELS: dict[str, _Level] = {
    "easy": _Level((1, 2), (5, 30), (2, 10), ("packs", "gain", "give")),
    "medium": _Level((3, 4), (10, 80), (2, 20), ("packs", "gain", "give", "share", "times")),
    "hard": _Level(
        (5, 6),
        (20, 200),
        (3, 40),
        ("packs", "gain", "give", "share", "times", "fraction", "percent"),
    ),
}

_PEOPLE = (
    ("Maya", "she"), ("Leo", "he"), ("Aisha", "she"), ("Tom", "he"), ("Noor", "she"),
    ("Kenji", "he"), ("Sofia", "she"), ("Diego", "he"), ("Ivy", "she"), ("Omar", "he"),
)  # fmt: skip
_FRIENDS = ("Ben", "Lena", "Raj", "Zoe", "Eli", "Mia", "Sam", "Ana")
_ITEMS = (
    ("marbles", "bag"), ("stickers", "sheet"), ("apples", "crate"), ("pencils", "box"),
    ("cookies", "tray"), ("stamps", "album"), ("seashells", "jar"), ("trading cards", "pack"),
)  # fmt: skip


def generate_problem(seed: int, difficulty: str = "medium") -> MathProblem:
    """A problem of the given difficulty, fixed by ``seed``."""
    if difficulty not in LEVELS:
        raise ValueError(f"difficulty must be one of {DIFFICULTIES}, got {difficulty!r}")
    level = LEVELS[difficulty]
    rng = derive_rng(seed, "math-problem", difficulty)
    name, pronoun = _PEOPLE[int(rng.integers(len(_PEOPLE)))]
    items, container = _ITEMS[int(rng.integers(len(_ITEMS)))]
    value = int(rng.integers(level.start[0], level.start[1] + 1))
    sentences = [f"{name} has {value} {items}."]
    solution = [f"Start: {value}."]
    n_steps = int(rng.integers(level.steps[0], level.steps[1] + 1))
    done = 0
    while done < n_steps:
        kind = level.kinds[int(rng.integers(len(level.kinds)))]
        step = _STEPS[kind](rng, value, level, pronoun.capitalize(), items, container)
        if step is None:
            continue
        sentence, value, line = step
        sentences.append(sentence)
        solution.append(line)
        done += 1
    sentences.append(f"How many {items} does {name} have now?")
    return MathProblem(" ".join(sentences), str(value), tuple(solution), difficulty)


_Step = tuple[str, int, str]


def _operand(rng: np.random.Generator, level: _Level) -> int:
    return int(rng.integers(level.operand[0], level.operand[1] + 1))


def _packs(rng, value, level, who, items, container) -> _Step:
    packs, each = int(rng.integers(2, 6)), _operand(rng, level)
    new = value + packs * each
    text = f"{who} buys {packs} {_plural(container)} with {each} {items} in each {container}."
    return text, new, f"{value} + {packs} * {each} = {new}."


def _gain(rng, value, level, who, items, container) -> _Step:
    extra = _operand(rng, level)
    friend = _FRIENDS[int(rng.integers(len(_FRIENDS)))]
    text = f"{friend} gives {_object_pronoun(who)} {extra} more {items}."
    return text, value + extra, f"{value} + {extra} = {value + extra}."


def _plural(noun: str) -> str:
    return noun + ("es" if noun.endswith(("x", "s", "ch", "sh")) else "s")


def _object_pronoun(who: str) -> str:
    return {"She": "her", "He": "him"}.get(who, who)


def _give(rng, value, level, who, items, container) -> _Step | None:
    if value < 4:
        return None
    amount = int(rng.integers(1, min(value // 2, level.operand[1]) + 1))
    friend = _FRIENDS[int(rng.integers(len(_FRIENDS)))]
    text = f"{who} gives {amount} {items} to {friend}."
    return text, value - amount, f"{value} - {amount} = {value - amount}."


def _share(rng, value, level, who, items, container) -> _Step | None:
    ways = [k for k in range(2, 7) if value % k == 0 and value // k > 0]
    if not ways:
        return None
    k = ways[int(rng.integers(len(ways)))]
    keep = int(rng.integers(1, k))
    new = value // k * keep
    text = (
        f"{who} splits the {items} equally into {k} {_plural(container)} and keeps {keep} of the "
        f"{_plural(container)}, giving the rest away."
    )
    return text, new, f"{value} / {k} * {keep} = {new}."


def _times(rng, value, level, who, items, container) -> _Step | None:
    if value > 400:
        return None
    factor = int(rng.integers(2, 4))
    word = {2: "doubles", 3: "triples"}[factor]
    text = f"Over the next month {who.lower()} {word} the number of {items}."
    return text, value * factor, f"{value} * {factor} = {value * factor}."


def _fraction(rng, value, level, who, items, container) -> _Step | None:
    fractions = [(p, q) for q in (2, 3, 4, 5) for p in range(1, q) if value % q == 0]
    if not fractions:
        return None
    p, q = fractions[int(rng.integers(len(fractions)))]
    lost = value // q * p
    text = f"{who} loses {p}/{q} of the {items}."
    return text, value - lost, f"{value} - {value} * {p}/{q} = {value - lost}."


def _percent(rng, value, level, who, items, container) -> _Step | None:
    options = [p for p in (10, 20, 25, 40, 50, 75) if value * p % 100 == 0]
    if not options:
        return None
    p = options[int(rng.integers(len(options)))]
    sold = value * p // 100
    text = f"{who} sells {p}% of the {items}."
    return text, value - sold, f"{value} - {value} * {p}/100 = {value - sold}."


_STEPS: dict[str, Callable[..., _Step | None]] = {
    "packs": _packs,
    "gain": _gain,
    "give": _give,
    "share": _share,
    "times": _times,
    "fraction": _fraction,
    "percent": _percent,
}
