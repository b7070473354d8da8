"""A seeded generator of varied English-like texts that ships with the package (no download).

Texts are built from word lists and sentence templates: short phrases, single sentences or
paragraphs, with capitals, digits, commas, quotes and question marks, so reversing them
character by character is a real exercise. Everything is printable ASCII.

>>> generate_text(7, "phrase") == generate_text(7, "phrase")
True
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from llm_gym.seeding import derive_rng

LENGTHS: dict[str, tuple[int, int]] = {
    "phrase": (2, 6),
    "sentence": (6, 30),
    "paragraph": (40, 120),
}
"""Word-count range of each length preset."""

NAMES = (
    "Ada", "Bruno", "Chloe", "Dmitri", "Elena", "Farid", "Grace", "Hiro", "Ines", "Jonas",
    "Kira", "Liam", "Mara", "Nadia", "Oscar", "Priya", "Quinn", "Rosa", "Samir", "Tess",
)  # fmt: skip
ADJECTIVES = (
    "quiet", "purple", "ancient", "brave", "crooked", "dusty", "eager", "fragile", "golden",
    "hollow", "icy", "jolly", "lazy", "misty", "narrow", "odd", "polished", "rusty", "salty",
    "tiny", "velvet", "wild", "young", "bright", "careful", "distant", "gentle", "heavy",
)  # fmt: skip
NOUNS = (
    "lantern", "river", "teapot", "mountain", "bicycle", "garden", "window", "castle", "robot",
    "violin", "pencil", "harbor", "meadow", "rocket", "blanket", "candle", "forest", "engine",
    "kitten", "market", "bridge", "compass", "pebble", "trumpet", "orchard", "notebook",
)  # fmt: skip
PLACES = (
    "the old mill", "the city square", "a sleepy village", "the northern coast", "the library",
    "the train station", "a crowded bazaar", "the hilltop", "the riverbank", "the workshop",
)  # fmt: skip
VERBS_PAST = (
    "carried", "painted", "found", "repaired", "hid", "followed", "borrowed", "cleaned",
    "watched", "described", "dropped", "measured", "counted", "sold", "built", "opened",
)  # fmt: skip
VERBS_BASE = (
    "carry", "paint", "find", "repair", "hide", "follow", "borrow", "clean", "watch", "sell",
)  # fmt: skip
ADVERBS = (
    "slowly", "quickly", "carefully", "happily", "quietly", "suddenly", "rarely", "proudly",
)  # fmt: skip
PREPOSITIONS = ("near", "behind", "above", "under", "beside", "across", "inside", "toward")
TIMES = (
    "Yesterday", "At dawn", "Last winter", "On Monday", "After lunch", "Before the storm",
    "In 1987", "Around midnight",
)  # fmt: skip
SAYINGS = (
    "Keep it simple", "Not today", "Look again", "Trust the map", "Mind the gap",
    "Count twice", "Start small",
)  # fmt: skip


def _pick(rng: np.random.Generator, words: Sequence[str]) -> str:
    return words[int(rng.integers(len(words)))]


def _phrase(rng: np.random.Generator) -> str:
    a, n = _pick(rng, ADJECTIVES), _pick(rng, NOUNS)
    patterns = (
        f"{a} {n}",
        f"the {a} {_pick(rng, ADJECTIVES)} {n}",
        f"{_pick(rng, NAMES)}'s {a} {n}",
        f"a {n} {_pick(rng, PREPOSITIONS)} {_pick(rng, PLACES)}",
        f"{_pick(rng, ADVERBS)} {_pick(rng, VERBS_PAST)}",
    )
    return patterns[int(rng.integers(len(patterns)))]


def _sentence(rng: np.random.Generator) -> str:
    name, other = _pick(rng, NAMES), _pick(rng, NAMES)
    adj, noun, place = _pick(rng, ADJECTIVES), _pick(rng, NOUNS), _pick(rng, PLACES)
    verb, base, adverb = _pick(rng, VERBS_PAST), _pick(rng, VERBS_BASE), _pick(rng, ADVERBS)
    prep, count = _pick(rng, PREPOSITIONS), int(rng.integers(2, 60))
    patterns = (
        f"{name} {verb} the {adj} {noun} {prep} {place}.",
        f"{_pick(rng, TIMES)}, {count} {noun}s were {adverb} {verb} by {name}.",
        f"Why did {name} {base} the {noun} {prep} {place}?",
        f'"{_pick(rng, SAYINGS)}," said {name}, and {other} {verb} the {noun} {adverb}.',
        f"The {adj} {noun} and the {_pick(rng, ADJECTIVES)} {_pick(rng, NOUNS)} stood {prep} "
        f"{place} for {count} days.",
        f"{name} asked {other} to {base} {count} {noun}s, but only {count // 2 + 1} arrived.",
    )
    return patterns[int(rng.integers(len(patterns)))]


def generate_text(seed: int, length: str = "sentence") -> str:
    """A text of the given length preset (see :data:`LENGTHS`), fixed by ``seed``."""
    if length not in LENGTHS:
        raise ValueError(f"length must be one of {sorted(LENGTHS)}, got {length!r}")
    rng = derive_rng(seed, "text-corpus", length)
    if length == "phrase":
        return _phrase(rng)
    low, high = LENGTHS[length]
    if length == "sentence":
        return _sentence(rng)
    sentences: list[str] = []
    words = 0
    while words < low:
        sentence = _sentence(rng)
        if words + len(sentence.split()) > high:
            continue
        sentences.append(sentence)
        words += len(sentence.split())
    return " ".join(sentences)
