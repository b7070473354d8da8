"""An exact calculator for model text that never hands the text to ``eval``.

The expression is parsed with :mod:`ast` and walked over a whitelist: numbers, ``+ - * / // %
**``, unary signs and parentheses. Arithmetic is exact (:class:`fractions.Fraction`); operand
sizes and exponents are bounded so no expression can run long or fill memory.

>>> calculator("(12.5 + 7.5) * 3 / 4")
'15'
>>> calculator("2 ** 0.5")
Traceback (most recent call last):
...
llm_gym.tools.calculator.CalculatorError: exponents must be whole numbers
"""

from __future__ import annotations

import ast
import math
import operator
from fractions import Fraction

from llm_gym.tools.toolbox import ToolError

MAX_EXPRESSION_CHARS = 300
MAX_EXPONENT = 256
MAX_DIGITS = 200
MAX_NODES = 200


class CalculatorError(ToolError, ValueError):
    """The expression is not plain bounded arithmetic (shown to the model as a tool error)."""


_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}


def calculator(expression: str) -> str:
    """Evaluate an arithmetic expression exactly and return the result.

    Supports numbers, + - * / // % ** and parentheses, e.g. "(19.99 * 3 + 4.50) / 2".

    Args:
        expression: the arithmetic expression to evaluate.
    """
    return format_number(evaluate(expression))


def evaluate(expression: str) -> Fraction:
    """The exact value of ``expression``.

    Raises:
        CalculatorError: the expression is not plain bounded arithmetic.
    """
    if not isinstance(expression, str):
        raise CalculatorError("the expression must be text")
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise CalculatorError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        raise CalculatorError("the expression is not valid arithmetic") from None
    if sum(1 for _ in ast.walk(tree)) > MAX_NODES:
        raise CalculatorError("the expression is too long")
    return _eval(tree.body)


def _eval(node: ast.AST) -> Fraction:
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, (int, float)):
            raise CalculatorError("only numbers are allowed")
        number = node.value
        if isinstance(number, float) and not math.isfinite(number):
            raise CalculatorError(f"numbers are limited to {MAX_DIGITS} digits")
        return _bounded(Fraction(repr(number)) if isinstance(number, float) else Fraction(number))
    if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.UAdd, ast.USub)):
        value = _eval(node.operand)
        return -value if isinstance(node.op, ast.USub) else value
    if isinstance(node, ast.BinOp):
        left, right = _eval(node.left), _eval(node.right)
        if isinstance(node.op, ast.Pow):
            return _power(left, right)
        op = _BINARY.get(type(node.op))
        if op is None:
            raise CalculatorError(f"the operator {type(node.op).__name__} is not supported")
        if right == 0 and isinstance(node.op, (ast.Div, ast.FloorDiv, ast.Mod)):
            raise CalculatorError("division by zero")
        return _bounded(Fraction(op(left, right)))
    raise CalculatorError(f"{type(node).__name__} is not allowed; use numbers and + - * / ** ( )")


def _power(base: Fraction, exponent: Fraction) -> Fraction:
    if exponent.denominator != 1:
        raise CalculatorError("exponents must be whole numbers")
    if abs(exponent) > MAX_EXPONENT:
        raise CalculatorError(f"exponents are limited to {MAX_EXPONENT}")
    if base == 0 and exponent < 0:
        raise CalculatorError("division by zero")
    size = max(len(str(abs(base.numerator))), len(str(base.denominator)))
    if size * abs(int(exponent)) > MAX_DIGITS * 2:
        raise CalculatorError("the result would be too large")
    return _bounded(base ** int(exponent))


def _bounded(value: Fraction) -> Fraction:
    if len(str(abs(value.numerator))) > MAX_DIGITS or len(str(value.denominator)) > MAX_DIGITS:
        raise CalculatorError(f"numbers are limited to {MAX_DIGITS} digits")
    return value


def format_number(value: Fraction) -> str:
    """An integer as is; otherwise a decimal with up to 12 significant digits."""
    if value.denominator == 1:
        return str(value.numerator)
    return f"{float(value):.12g}"
