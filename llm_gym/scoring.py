"""Answer scoring shared by the envs: exact LCS ratio, bounded math-verify, numeric tolerance.

>>> lcs_ratio("abcd", "abxd")
0.75
>>> math_answer_matches("84/2", "42")
True
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from functools import lru_cache

MAX_MATH_ANSWER_CHARS = 200


def lcs_length(a: str, b: str) -> int:
    """Exact length of the longest common subsequence of ``a`` and ``b``.

    Bit-parallel (Hyyrö 2004): one pass over ``b`` with ``len(a)``-bit integers, so the cost is
    ``O(len(b) * len(a) / 64)`` machine words; a 16k-character reply against a paragraph takes
    milliseconds.
    """
    if len(a) > len(b):
        a, b = b, a
    if not a:
        return 0
    masks: dict[str, int] = {}
    for index, char in enumerate(a):
        masks[char] = masks.get(char, 0) | (1 << index)
    full = (1 << len(a)) - 1
    v = full
    for char in b:
        u = v & masks.get(char, 0)
        v = ((v + u) | (v - u)) & full
    return len(a) - v.bit_count()


def lcs_ratio(answer: str, truth: str) -> float:
    """``2 * LCS / (len(answer) + len(truth))``: 1 for identical strings, 0 for nothing shared."""
    total = len(answer) + len(truth)
    return 1.0 if total == 0 else 2.0 * lcs_length(answer, truth) / total


# --- math answers ------------------------------------------------------------------------------

# Constructs that make sympy compute without bound (towers of powers, factorials, big sums).
_UNBOUNDED = re.compile(r"!(?!\s*=)|\\(?:binom|choose|sum|prod|int|lim|infty)\b|\*\*")
_POWER = re.compile(r"\^\s*(\{[^{}]*\}|\S)")


def _bounded_math(text: str) -> bool:
    text = text.replace("\\!", "")
    if len(text) > MAX_MATH_ANSWER_CHARS or _UNBOUNDED.search(text):
        return False
    exponents = _POWER.findall(text)
    if text.count("^") != len(exponents) or len(exponents) > 2:
        return False
    return all(re.fullmatch(r"\{?\s*-?\d{1,2}\s*\}?", e) for e in exponents)


@lru_cache(maxsize=4096)
def _parse_math(text: str) -> tuple:
    from math_verify import parse

    # No signal-based timeout: envs may be stepped from worker threads (see design notes);
    # the answer is bounded by _bounded_math before it gets here.
    return tuple(parse(f"\\boxed{{{text}}}", parsing_timeout=None))


def math_answer_matches(answer: str, truth: str) -> bool:
    """Whether a final answer equals the ground truth mathematically (``math-verify``).

    ``answer`` is the content of the answer (without ``\\boxed``). Answers longer than
    :data:`MAX_MATH_ANSWER_CHARS` or holding constructs whose evaluation is unbounded (power
    towers, factorials, sums, ...) are not evaluated and count as wrong.
    """
    from math_verify import verify

    if not _bounded_math(answer):
        return False
    gold, guess = _parse_math(truth), _parse_math(answer)
    if not gold or not guess:
        return False
    return bool(verify(list(gold), list(guess), timeout_seconds=None))


class _DisabledTimeoutNotice(logging.Filter):
    """Drops math-verify's notice that its timeouts are off: inputs are bounded here instead."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Timeout is disabled")


_NOTICE_FILTER = _DisabledTimeoutNotice()
for _name in ("math_verify.parser", "math_verify.grader"):
    logging.getLogger(_name).addFilter(_NOTICE_FILTER)


# --- numbers -------------------------------------------------------------------------------------

_NUMBER = re.compile(
    r"\s*\$?\s*(?P<sign>[-+]?)\s*\$?\s*(?P<int>\d{1,3}(?:,\d{3})+|\d+)(?P<frac>\.\d+)?\s*"
    r"(?:dollars?|usd|units?)?\s*\.?\s*",
    re.IGNORECASE,
)


def parse_number(text: str) -> Fraction | None:
    """A plain number such as ``42``, ``-3.5``, ``$1,234.50`` or ``12 dollars``; else ``None``.

    Anything else (two numbers, words, expressions) is not a number: hedges earn nothing.
    """
    if len(text) > 100:
        return None
    match = _NUMBER.fullmatch(text)
    if match is None:
        return None
    value = Fraction(match.group("int").replace(",", "") + (match.group("frac") or ""))
    return -value if match.group("sign") == "-" else value


def numbers_match(answer: str, truth: str, tolerance: float) -> bool:
    """Both parse as numbers (see :func:`parse_number`) and differ by at most ``tolerance``."""
    guess, gold = parse_number(answer), parse_number(truth)
    if guess is None or gold is None:
        return False
    return abs(guess - gold) <= Fraction(str(tolerance))


def normalise_text_answer(text: str) -> str:
    return " ".join(text.split()).casefold().strip(" .")
