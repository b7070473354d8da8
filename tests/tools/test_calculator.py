import time

import pytest

from llm_gym.tools.calculator import CalculatorError, calculator


@pytest.mark.parametrize(
    ("expression", "result"),
    [("1 + 2 * 3", "7"), ("(19.99 * 3 + 4.5) / 2", "32.235"), ("7 // 2", "3"), ("7 % 3", "1"),
     ("-2 ** 3", "-8"), ("2 ** -2", "0.25"), ("1 / 3", "0.333333333333"), ("0.1 + 0.2", "0.3")],
)  # fmt: skip
def test_exact_arithmetic(expression, result):
    assert calculator(expression) == result


@pytest.mark.parametrize(
    "expression",
    ["__import__('os').system('true')", "x + 1", "abs(-1)", "[1] * 10", "'a' * 3", "True + 1",
     "1 if 1 else 2", "lambda: 1", "9 ** 9 ** 9 ** 9", "10 ** 10 ** 10", "2 ** 0.5", "1 / 0",
     "(" * 400 + "1" + ")" * 400, "1" * 400, "1e308 * 1e308", "", "1 +"],
)  # fmt: skip
def test_anything_else_is_refused_quickly(expression):
    start = time.monotonic()
    with pytest.raises(CalculatorError):
        calculator(expression)
    assert time.monotonic() - start < 0.5
