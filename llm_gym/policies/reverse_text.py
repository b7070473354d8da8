"""Scripted LLMReverseText-v0 players: an exact reverser and one that reverses words only."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


class ReverseTextOracle:
    """Writes the exact reversal of ``info["text"]`` in the required format."""

    def __init__(self, think: bool = False):
        self.think = think

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        think = "<think>I write the characters from last to first.</think>\n" if self.think else ""
        return f"{think}<reversed_text>{info['text'][::-1]}</reversed_text>"


class ReverseTextCareless:
    """Reverses the order of the words but not their letters (a common slip)."""

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        return f"<reversed_text>{' '.join(reversed(info['text'].split()))}</reversed_text>"
