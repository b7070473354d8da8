"""Read-only, bounded SQL over a SQLite connection, enforced by SQLite itself.

:class:`ReadOnlyDatabase` locks a connection down once, before any model text reaches it:

- ``PRAGMA query_only = ON``: SQLite refuses every write.
- an authorizer that allows only reading (``SELECT``, table reads, functions, recursive CTEs)
  and denies everything else, ``ATTACH``, ``PRAGMA``, ``VACUUM INTO``, DDL and transactions
  included, so no file is ever opened or created;
- ``sqlite3`` limits: no attached databases, bounded string/blob length, SQL length,
  expression depth and column count;
- a progress handler that stops a statement after a fixed number of virtual-machine
  instructions (deterministic) or after a wall-clock limit (a backstop);
- only ``max_rows`` rows are fetched and every cell is clipped.

The SQL text is never inspected: whatever a query says, SQLite decides what it may do.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

_ALLOWED_ACTIONS = frozenset(
    {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
)
_LIMITS = {
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LENGTH: 1_000_000,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 20_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 16,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 1_000,
}
_PROGRESS_INTERVAL = 1_000


class QueryError(Exception):
    """A query SQLite refused or stopped; the message is meant for the model."""


@dataclass(frozen=True)
class QueryResult:
    columns: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    truncated: bool

    def to_json_dict(self) -> dict[str, Any]:
        return {
            "columns": list(self.columns),
            "rows": [list(row) for row in self.rows],
            "truncated": self.truncated,
        }


class ReadOnlyDatabase:
    """A locked-down view of ``connection`` (which it takes over; do not write to it after).

    Args:
        connection: an open SQLite connection (e.g. a fresh in-memory database).
        max_rows: rows returned per query; more rows set ``truncated``.
        max_cell_chars: longer text cells are clipped.
        max_steps: SQLite VM instructions per query before it is stopped.
        time_limit_s: wall-clock limit per query (a backstop for slow machines).
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        max_rows: int = 50,
        max_cell_chars: int = 200,
        max_steps: int = 5_000_000,
        time_limit_s: float = 2.0,
    ):
        self.max_rows = max_rows
        self.max_cell_chars = max_cell_chars
        self.max_steps = max_steps
        self.time_limit_s = time_limit_s
        self._connection = connection
        self._ticks = 0
        self._deadline = math.inf
        connection.execute("PRAGMA query_only = ON")
        for category, value in _LIMITS.items():
            connection.setlimit(category, value)
        connection.set_authorizer(_authorize)

    def close(self) -> None:
        self._connection.close()

    def query(self, sql: str) -> QueryResult:
        """Run one read-only statement.

        Raises:
            QueryError: SQLite refused the statement, it failed, or it ran out of budget.
        """
        self._ticks = 0
        self._deadline = time.monotonic() + self.time_limit_s
        self._connection.set_progress_handler(self._progress, _PROGRESS_INTERVAL)
        cursor = None
        try:
            cursor = self._connection.execute(sql)
            rows = cursor.fetchmany(self.max_rows + 1)
            columns = tuple(d[0] for d in cursor.description or ())
        except sqlite3.OperationalError as error:
            if str(error) == "interrupted":
                raise QueryError(
                    "the query was stopped because it needed too much work; add conditions or "
                    "a LIMIT, or avoid unbounded recursion"
                ) from None
            raise QueryError(_message(error)) from None
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as error:
            raise QueryError(_message(error)) from None
        finally:
            if cursor is not None:
                cursor.close()
            self._connection.set_progress_handler(None, 0)
        truncated = len(rows) > self.max_rows
        return QueryResult(
            columns,
            tuple(tuple(self._cell(v) for v in row) for row in rows[: self.max_rows]),
            truncated,
        )

    def table_names(self) -> list[str]:
        result = self.query("SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name")
        return [row[0] for row in result.rows]

    def create_statement(self, table: str) -> str | None:
        rows = self._connection.execute(
            "SELECT sql FROM sqlite_master WHERE type = 'table' AND name = ?", (table,)
        ).fetchall()
        return rows[0][0] if rows else None

    def row_count(self, table: str) -> int:
        if table not in self.table_names():
            raise QueryError(f"no such table: {table}")
        quoted = '"' + table.replace('"', '""') + '"'
        return int(self.query(f"SELECT COUNT(*) FROM {quoted}").rows[0][0])

    def _progress(self) -> int:
        self._ticks += 1
        over_budget = self._ticks * _PROGRESS_INTERVAL > self.max_steps
        return int(over_budget or time.monotonic() > self._deadline)

    def _cell(self, value: Any) -> Any:
        if isinstance(value, bytes):
            return f"<blob of {len(value)} bytes>"
        if isinstance(value, str) and len(value) > self.max_cell_chars:
            return value[: self.max_cell_chars] + f"...[{len(value) - self.max_cell_chars} more]"
        if isinstance(value, float) and not math.isfinite(value):
            return str(value)
        return value

    def __getstate__(self) -> dict[str, Any]:
        raise TypeError("a ReadOnlyDatabase holds a live connection and cannot be pickled")


def _authorize(action: int, arg1: Any, arg2: Any, db_name: Any, trigger: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED_ACTIONS else sqlite3.SQLITE_DENY


def _message(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if text in ("not authorized", "authorization denied"):
        return "not authorized: the database is read-only; only SELECT queries are allowed"
    if "one statement at a time" in text:
        return "only one SQL statement per query is allowed"
    return f"SQL error: {text}"
