"""Scripted LLMToolUse-v0 players: one that runs the right query, one that is sloppy.

Both use the tools for real: the oracle runs the episode's reference SQL (``info["reference"]``)
through ``run_sql`` and answers with what the database returns.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def tool_call(name: str, arguments: Mapping[str, Any]) -> str:
    return f"<tool_call>{json.dumps({'name': name, 'arguments': dict(arguments)})}</tool_call>"


def _sql_value(info: Mapping[str, Any]) -> Any | None:
    for result in info.get("tool_results") or ():
        if result["name"] == "run_sql" and not result["error"]:
            rows = json.loads(result["content"])["rows"]
            return rows[0][0] if rows and rows[0] else None
    return None


def _format_value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.2f}"
    return str(value)


class ToolUseOracle:
    """Turn 1: ``run_sql`` with the reference query. Turn 2: answer with its single cell."""

    def __init__(self) -> None:
        self._sql: str | None = None

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        if "reference" in info:  # the reset info of a new episode
            self._sql = info["reference"]["sql"]
        value = _sql_value(info)
        if value is not None:
            answer = _format_value(value)
            return f"<think>The query returned {value}.</think>\n<answer>{answer}</answer>"
        return "<think>One query answers this.</think>\n" + tool_call(
            "run_sql", {"query": self._sql or ""}
        )


class ToolUseCareless:
    """Misspells a tool name, then runs the right query but answers with the whole-number
    part of the result (wrong whenever cents matter), without the answer tag's neat format."""

    def __init__(self) -> None:
        self._sql: str | None = None

    def __call__(self, observation: str, info: Mapping[str, Any]) -> str:
        if "reference" in info:
            self._sql = info["reference"]["sql"]
        turn = info.get("turn", 0)
        if turn == 0:
            return tool_call("run_query", {"sql": self._sql or ""})
        value = _sql_value(info)
        if value is None:
            return tool_call("run_sql", {"query": self._sql or ""})
        answer = str(int(value)) if isinstance(value, float) else str(value)
        return f"The answer is <answer>{answer}</answer> I think."
