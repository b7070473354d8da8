"""Argument checks with messages that say what was expected."""

from __future__ import annotations

import math
from collections.abc import Collection
from typing import Any


def check_probability(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0.0 <= value <= 1.0:
        raise ValueError(f"{name} must be a number in [0, 1], got {value!r}")
    return float(value)


def check_int_at_least(name: str, value: int, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def check_number(name: str, value: float, *, maximum: float | None = None) -> float:
    """A finite number (NaN and infinities are refused), at most ``maximum`` when given."""
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a number (finite, not NaN), got {value!r}")
    if maximum is not None and value > maximum:
        raise ValueError(f"{name} must be <= {maximum}, got {value!r}")
    return float(value)


def check_choice(name: str, value: Any, choices: Collection[Any]) -> Any:
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_render_mode(value: str | None, modes: Collection[str]) -> str | None:
    if value is not None and value not in modes:
        raise ValueError(f"render_mode must be None or one of {sorted(modes)}, got {value!r}")
    return value
