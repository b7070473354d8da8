"""Run model-requested tool calls against plain Python functions, safely.

A :class:`Toolbox` checks the call (known tool, known and required arguments, JSON types)
before running it, turns every failure into a message for the model instead of an exception,
and clips results to a size bound. Tools bound their own running time (the SQL tool with an
instruction budget, the calculator with operand limits); a toolbox cannot pre-empt Python code.
"""

from __future__ import annotations

import inspect
import json
import typing
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from llm_gym.tools.schema import function_schema


class ToolError(Exception):
    """A failure a tool reports to the model; its message is shown as the tool result."""


@dataclass(frozen=True)
class ToolResult:
    """What a tool call returned: ``content`` for the model, and whether it failed."""

    name: str
    content: str
    error: bool


class Toolbox:
    """A set of tools callable by name with JSON arguments.

    Args:
        functions: the tools; each name is the function's ``__name__``.
        max_result_chars: results (and error messages) longer than this are cut.
    """

    def __init__(self, functions: Iterable[Callable[..., Any]], max_result_chars: int = 4000):
        self.functions = {f.__name__: f for f in functions}
        self.max_result_chars = max_result_chars
        self.schemas = [function_schema(f) for f in self.functions.values()]
        self._hints = {name: typing.get_type_hints(f) for name, f in self.functions.items()}

    @property
    def names(self) -> list[str]:
        return list(self.functions)

    def call(self, name: Any, arguments: Any) -> ToolResult:
        """Run tool ``name`` with ``arguments`` (a dict); never raises for bad input."""
        if not isinstance(name, str) or name not in self.functions:
            known = ", ".join(self.functions)
            shown = str(name)[:60]
            return self._error(shown, f"unknown tool {shown!r}; available: {known}")
        problem = self._check_arguments(name, arguments)
        if problem is not None:
            return self._error(name, problem)
        try:
            value = self.functions[name](**arguments)
        except ToolError as error:
            return self._error(name, str(error))
        except Exception as error:  # a tool bug must not end the episode
            return self._error(name, f"the tool failed: {type(error).__name__}: {error}")
        content = value if isinstance(value, str) else json.dumps(value, default=str)
        return ToolResult(name, self._clip(content), False)

    def _check_arguments(self, name: str, arguments: Any) -> str | None:
        if not isinstance(arguments, Mapping):
            return "arguments must be a JSON object"
        parameters = inspect.signature(self.functions[name]).parameters
        unknown = [a for a in arguments if a not in parameters]
        if unknown:
            expected = ", ".join(parameters) or "none"
            return (
                f"unknown argument(s) {', '.join(map(repr, unknown))[:200]}; expected: {expected}"
            )
        missing = [
            p for p, spec in parameters.items() if spec.default is spec.empty and p not in arguments
        ]
        if missing:
            return f"missing required argument(s): {', '.join(missing)}"
        for arg, value in arguments.items():
            if not _matches(value, self._hints[name][arg]):
                wanted = function_schema(self.functions[name])["function"]["parameters"]
                kind = wanted["properties"][arg]["type"]
                return f"argument {arg!r} must be of JSON type {kind}, got {type(value).__name__}"
        return None

    def _error(self, name: str, message: str) -> ToolResult:
        return ToolResult(name, self._clip(f"Error: {message}"), True)

    def _clip(self, text: str) -> str:
        if len(text) <= self.max_result_chars:
            return text
        cut = len(text) - self.max_result_chars
        return text[: self.max_result_chars] + f"\n[result truncated: {cut} more characters]"


def _matches(value: Any, annotation: Any) -> bool:
    if annotation is bool:
        return isinstance(value, bool)
    if annotation is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if annotation is float:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if annotation is str:
        return isinstance(value, str)
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        return isinstance(value, list) and all(_matches(v, item) for v in value)
    return False
