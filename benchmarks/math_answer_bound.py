"""Worst time of one math answer check (``math_answer_matches``) over hostile and random answers.

Run by hand (never as a timed test)::

    .venv/bin/python benchmarks/math_answer_bound.py [--random 400] [--seed 0]

Every answer is checked twice with an empty parse cache; the figure is the second check, since
the first use of some sympy code paths imports modules (a one-time cost of the process, printed
apart). The reference is the check of a plain ``42`` measured in the same run; the ratio of the
slowest answer to it is the figure to compare across machines. Answers the bound refuses (symbolic
input, relations, percent signs) cost microseconds; the slowest are the largest arithmetic
the bound admits (two powers with two-digit exponents).
"""

from __future__ import annotations

import argparse
import random
import statistics
import time

from llm_gym.scoring import MAX_MATH_ANSWER_CHARS, _parse_math, checkable_math, math_answer_matches

HOSTILE = [
    "\\Gamma(10^{99})", "\\dbinom{10^{99}}{10^{50}}", "\\tbinom{9999999}{99999}",
    "(a+b+c+d)^{99}", "(x+1)^{99}(y+1)^{99}", "(99^{99})^{99}", "(10^{99})^{99}",
    "\\sqrt[99]{99^{99}}", "(\\sqrt{2}+\\sqrt{3})^{99}", "\\sqrt{2}^{99}+\\sqrt{3}^{99}",
    "(1.0000001)^{99}", "\\frac{(99^{99})^{99}}{7}", "(" + "9" * 90 + ")^{99}",
    "(\\sqrt{2}+\\sqrt{3}+\\sqrt{5})^{99}", "\\frac{1}{" * 20 + "2" + "}" * 20,
    "\\sqrt{" * 30 + "2" + "}" * 30, "9^{99}^{99}", "(" + "9" * 190 + ")^{99}",
    "(\\sqrt{2}+\\sqrt{3})(\\sqrt{2}+3)" * 4, "(99+1)(99+2)(99+3)" * 8,
    "\\frac{" + "9" * 95 + "}{" + "7" * 95 + "}", "-" * 150 + "9",
    "(" + "+".join(f"\\sqrt{{{p}}}" for p in range(2, 30)) + ")^{99}",
]  # fmt: skip
ALPHABET = [*"0123456789+-*/().^{} ", "\\frac{", "\\sqrt{", "\\cdot ", "^{99}", "^{9}"]


def random_answer(rng: random.Random) -> str:
    pieces = [rng.choice(ALPHABET) for _ in range(rng.randint(1, 60))]
    return "".join(pieces)[:MAX_MATH_ANSWER_CHARS]


def cold_check_seconds(answer: str, truth: str = "42") -> float:
    _parse_math.cache_clear()
    started = time.perf_counter()
    math_answer_matches(answer, truth)
    return time.perf_counter() - started


def steady_check_seconds(answer: str) -> tuple[float, float]:
    """``(first check, second check)`` of ``answer``, both with an empty parse cache."""
    first = cold_check_seconds(answer)
    return first, cold_check_seconds(answer)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--random", type=int, default=400, help="random admitted answers")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cold_check_seconds("42")  # imports sympy and math-verify
    reference = statistics.median(cold_check_seconds("\\frac{84}{2}") for _ in range(5))
    rng = random.Random(args.seed)
    randoms = [random_answer(rng) for _ in range(args.random)]
    admitted = [a for a in randoms if checkable_math(a) is not None]
    checks = [(*steady_check_seconds(a), a) for a in HOSTILE + randoms]
    timings = sorted(((second, a) for _, second, a in checks), reverse=True)
    first_use = max(first - second for first, second, _ in checks)
    print(f"reference: '\\frac{{84}}{{2}}' checked in {reference * 1e3:.1f} ms (median of 5)")
    print(f"largest one-time import cost on a first use: {first_use * 1e3:.0f} ms")
    print(
        f"{len(HOSTILE)} hostile + {len(randoms)} random answers "
        f"({len(admitted)} random ones admitted by checkable_math)"
    )
    print("slowest checks:")
    for seconds, answer in timings[:8]:
        mark = "admitted" if checkable_math(answer) is not None else "refused "
        print(f"  {seconds * 1e3:8.1f} ms  {seconds / reference:6.1f}x  {mark}  {answer[:70]!r}")
    worst = timings[0][0]
    print(f"per-answer bound measured: {worst * 1e3:.1f} ms ({worst / reference:.1f}x)")


if __name__ == "__main__":
    main()
