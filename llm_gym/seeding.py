"""Seed derivation: per-episode and per-position randomness without global RNGs.

The hash is SplitMix64, so a derived value depends only on its inputs, in any process
(Python's built-in ``hash`` of strings is salted per process and must not be used).
"""

from __future__ import annotations

from collections.abc import Iterable
from functools import lru_cache

import numpy as np

_MASK = (1 << 64) - 1


def _splitmix64(state: int) -> int:
    state = (state + 0x9E3779B97F4A7C15) & _MASK
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    return z ^ (z >> 31)


def derive_seed(seed: int, *keys: int | str) -> int:
    """A 64-bit seed that depends only on ``seed`` and ``keys`` (ints or strings)."""
    state = _splitmix64(seed & _MASK)
    for key in keys:
        for part in _key_parts(key):
            state = _splitmix64(state ^ part)
    return state


def _key_parts(key: int | str) -> Iterable[int]:
    if isinstance(key, int):
        return (key & _MASK,)
    return _string_parts(key)


@lru_cache(maxsize=8192)
def _string_parts(key: str) -> tuple[int, ...]:
    data = key.encode("utf-8")
    return (len(data), *(int.from_bytes(data[i : i + 8], "little") for i in range(0, len(data), 8)))


def derive_uniforms(seed: int, *keys: int | str, count: int = 2) -> list[float]:
    """``count`` floats in [0, 1) derived from ``seed`` and ``keys`` (cheap: no Generator)."""
    state = derive_seed(seed, *keys)
    values = []
    for _ in range(count):
        state = _splitmix64(state)
        values.append((state >> 11) / float(1 << 53))
    return values


def derive_rng(seed: int, *keys: int | str) -> np.random.Generator:
    """A NumPy generator seeded from ``seed`` and ``keys``."""
    return np.random.default_rng(derive_seed(seed, *keys))


def episode_seed_from(np_random: np.random.Generator) -> int:
    """Draw the episode seed from an env's ``np_random`` (after ``reset(seed=...)``)."""
    return int(np_random.integers(0, 2**63 - 1))
