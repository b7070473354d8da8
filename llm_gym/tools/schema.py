"""OpenAI-format tool schemas built from a Python function's signature and docstring.

The docstring's first paragraph becomes the tool description; a Google-style ``Args:`` section
gives each parameter's description. Parameter types come from the annotations: ``str``,
``int``, ``float``, ``bool`` and ``list[...]`` of those.

>>> def add(a: int, b: int = 1) -> int:
...     '''Add two integers.
...
...     Args:
...         a: the first addend.
...         b: the second addend.
...     '''
...     return a + b
>>> function_schema(add)["function"]["parameters"]["required"]
['a']
"""

from __future__ import annotations

import inspect
import re
import typing
from collections.abc import Callable, Iterable
from typing import Any

_JSON_TYPES: dict[Any, str] = {str: "string", int: "integer", float: "number", bool: "boolean"}


def json_type(annotation: Any) -> dict[str, Any]:
    """The JSON schema of a parameter annotation.

    Raises:
        TypeError: the annotation has no JSON counterpart here.
    """
    if annotation in _JSON_TYPES:
        return {"type": _JSON_TYPES[annotation]}
    if typing.get_origin(annotation) is list:
        (item,) = typing.get_args(annotation) or (str,)
        return {"type": "array", "items": json_type(item)}
    raise TypeError(f"unsupported tool parameter type {annotation!r}")


def parse_docstring(doc: str) -> tuple[str, dict[str, str]]:
    """The description (all text before the first section) and the ``Args:`` descriptions."""
    lines = inspect.cleandoc(doc).splitlines() if doc else []
    description: list[str] = []
    params: dict[str, str] = {}
    section = None
    current = None
    for line in lines:
        header = re.fullmatch(r"(\w[\w ]*):\s*", line)
        if header and not line.startswith(" "):
            section = header.group(1).lower()
            continue
        if section is None:
            description.append(line)
        elif section in ("args", "arguments", "parameters"):
            match = re.fullmatch(r"\s{2,}(\w+)(?:\s*\([^)]*\))?:\s*(.*)", line)
            if match:
                current = match.group(1)
                params[current] = match.group(2).strip()
            elif current and line.strip():
                params[current] += " " + line.strip()
    return " ".join(" ".join(description).split()), params


def function_schema(function: Callable[..., Any]) -> dict[str, Any]:
    """The OpenAI tool schema (``{"type": "function", "function": {...}}``) of ``function``."""
    signature = inspect.signature(function)
    hints = typing.get_type_hints(function)
    description, docs = parse_docstring(inspect.getdoc(function) or "")
    properties: dict[str, Any] = {}
    required: list[str] = []
    for name, parameter in signature.parameters.items():
        if parameter.kind in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD):
            raise TypeError(f"tool {function.__name__!r} cannot take *args or **kwargs")
        if name not in hints:
            raise TypeError(f"tool {function.__name__!r}: parameter {name!r} has no annotation")
        prop = json_type(hints[name])
        if name in docs:
            prop["description"] = docs[name]
        properties[name] = prop
        if parameter.default is inspect.Parameter.empty:
            required.append(name)
    return {
        "type": "function",
        "function": {
            "name": function.__name__,
            "description": description,
            "parameters": {
                "type": "object",
                "properties": properties,
                "required": required,
                "additionalProperties": False,
            },
        },
    }


def function_schemas(functions: Iterable[Callable[..., Any]]) -> list[dict[str, Any]]:
    return [function_schema(f) for f in functions]
