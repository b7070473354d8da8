"""The text spaces shared by every llm_gym environment."""

from __future__ import annotations

import string

from gymnasium import spaces

TEXT_CHARSET = string.printable
"""Printable ASCII plus space, tab and newlines: every observation and action is drawn from it."""

_ALLOWED = frozenset(TEXT_CHARSET)


def text_space(max_length: int) -> spaces.Text:
    """A ``Text`` space over :data:`TEXT_CHARSET` (Gymnasium's default charset has no spaces)."""
    return spaces.Text(max_length=max_length, min_length=0, charset=TEXT_CHARSET)


def to_charset(text: str, max_length: int, *, replacement: str = "?") -> str:
    """Fit ``text`` into a text space: foreign characters replaced, tail cut with a marker."""
    if len(text) <= max_length and _ALLOWED.issuperset(text):
        return text  # the common case, checked at C speed
    cleaned = "".join(ch if ch in _ALLOWED else replacement for ch in text)
    if len(cleaned) <= max_length:
        return cleaned
    marker = "\n[... truncated]"
    return cleaned[: max(0, max_length - len(marker))] + marker[:max_length]
