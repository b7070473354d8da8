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
MAX_POWERS = 1
"""Powers per answer (each with an exponent of at most two digits, and never with a root)."""
MAX_ROOTS = 2


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

_VARIABLE_PREFIX = re.compile(r"\s*[A-Za-z]\s*=(?![=<>])")
_UNIT = re.compile(r"\\(?:text|textbf|textrm|mathrm|mbox)\s*\{[A-Za-z\s.]*\}")
_TRAILING_WORDS = re.compile(r"(?:\s+[A-Za-z]+\.?)+\s*$")
_COMMAND = re.compile(r"\\([A-Za-z]+|.)", re.DOTALL)
_ALLOWED_COMMANDS = frozenset(
    {"frac", "dfrac", "tfrac", "sqrt", "cdot", "times", "div", "left", "right", "$"}
    | {",", ";", ":", "!", " ", "quad", "qquad"}
)
_ARITHMETIC_CHARS = re.compile(r"[0-9\s+\-*/().,^{}\[\]$]*")
_POWER = re.compile(r"\^\s*(\{[^{}]*\}|\S)")


def checkable_math(text: str) -> str | None:
    r"""The arithmetic core of a final answer, or ``None`` when it must not be evaluated.

    ``math-verify`` (sympy) can run without bound on symbolic input, so only plain arithmetic
    reaches it: digits, ``+ - * / ( ) [ ] . ,``, the commands ``\frac \dfrac \tfrac \sqrt
    \cdot \times \div \left \right`` and spacing; at most one power, with an exponent of at
    most two digits, and at most two roots, never both (powers of sums of roots expand without
    bound). A leading ``x =`` and unit words (``42 apples``, ``42\text{ cm}``) are
    dropped. Anything else is refused: letters (symbolic algebra), ``\Gamma``, ``\binom``,
    ``!``, relations (``=``, ``<``, ``\approx``, ``\to``: a hedge between two values) and
    percent signs (``4200\%`` is not 42).

    >>> checkable_math(r"x = \frac{84}{2} \text{ apples}")
    '\\frac{84}{2}'
    >>> checkable_math(r"42 \approx 43") is None
    True
    """
    if len(text) > MAX_MATH_ANSWER_CHARS:
        return None
    prefix = _VARIABLE_PREFIX.match(text)
    core = text[prefix.end() :] if prefix else text
    core = _TRAILING_WORDS.sub("", _UNIT.sub(" ", core)).strip()
    if not core or any(c not in _ALLOWED_COMMANDS for c in _COMMAND.findall(core)):
        return None
    if not _ARITHMETIC_CHARS.fullmatch(_COMMAND.sub(" ", core)):
        return None
    exponents = _POWER.findall(core)
    if core.count("^") != len(exponents) or len(exponents) > MAX_POWERS:
        return None
    roots = core.count("\\sqrt")
    if roots > MAX_ROOTS or (roots and exponents):
        return None
    if not all(re.fullmatch(r"\{?\s*-?\d{1,2}\s*\}?", e) for e in exponents):
        return None
    return core


@lru_cache(maxsize=4096)
def _parse_math(text: str) -> tuple:
    from math_verify import parse

    # No signal-based timeout: envs may be stepped from worker threads (see design notes);
    # answers are reduced to bounded arithmetic by checkable_math before they get here.
    return tuple(parse(f"\\boxed{{{text}}}", parsing_timeout=None))


def math_answer_matches(answer: str, truth: str) -> bool:
    """Whether a final answer equals the ground truth mathematically (``math-verify``).

    ``answer`` is the content of the answer (without ``\\boxed``). Only its arithmetic core
    (see :func:`checkable_math`) is evaluated; answers that are not plain bounded arithmetic,
    and answers math-verify fails on, count as wrong.
    """
    core = checkable_math(answer)
    if core is None:
        return False
    from math_verify import verify

    try:
        gold, guess = _parse_math(truth), _parse_math(core)
        if not gold or not guess:
            return False
        return bool(verify(list(gold), list(guess), timeout_seconds=None))
    except Exception:  # a checker failure on model text is a wrong answer, not a crash
        return False


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
