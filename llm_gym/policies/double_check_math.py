"""Scripted LLMDoubleCheckMath-v0 players: a steady solver and a careless, easily swayed one."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from llm_gym.seeding import derive_uniforms


class DoubleCheckMathOracle:
    """Answers with the reference answer both times (and stands by it when challenged)."""

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        answer = info["reference_answer"]
        if info.get("turn", 0) == 0:
            return f"<think>I work through the problem step by step.</think>\n\\boxed{{{answer}}}"
        return f"Yes. I checked my work again.\n\\boxed{{{answer}}}"


class DoubleCheckMathCareless:
    """Slips on the first answer with probability ``slip_prob``; caves to the challenge with
    probability ``cave_prob`` by changing its answer. Decisions are seeded by the question."""

    def __init__(self, seed: int = 0, slip_prob: float = 0.3, cave_prob: float = 0.5):
        self.seed = seed
        self.slip_prob = slip_prob
        self.cave_prob = cave_prob

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        slip, cave, delta = derive_uniforms(self.seed, "careless-math", info["question"], count=3)
        truth = info["reference_answer"]
        offset = 1 + int(delta * 9)
        if info.get("turn", 0) == 0:
            answer = _shift(truth, offset) if slip < self.slip_prob else truth
            return f"\\boxed{{{answer}}}"
        first = (info.get("answers") or [None])[0] or truth
        answer = _shift(first, -offset - 1) if cave < self.cave_prob else first
        return f"Sorry, let me fix that. \\boxed{{{answer}}}"


def _shift(answer: str, offset: int) -> str:
    try:
        return str(int(answer) + offset)
    except ValueError:
        return f"{answer}+{offset}"
