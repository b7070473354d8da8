"""Read-only, bounded, deterministic SQL over a SQLite connection, enforced by SQLite itself.

:class:`ReadOnlyDatabase` locks a connection down once, before any model text reaches it:

- ``PRAGMA query_only = ON``: SQLite refuses every write; ``PRAGMA temp_store = MEMORY``:
  sorts and temporary tables never touch the disk.
- an authorizer that allows only reading (``SELECT``, table reads, recursive CTEs) and only the
  SQL functions in :data:`ALLOWED_FUNCTIONS`, and denies everything else: ``ATTACH``,
  ``PRAGMA``, ``VACUUM INTO``, DDL, transactions, and functions that are nondeterministic
  (``random()``, ``changes()``), reach outside the database (``load_extension``,
  ``fts3_tokenizer``) or can run long in one VM instruction (``printf('%.*c', ...)``,
  ``instr``, ``replace``, ``zeroblob``);
- the date functions (``date``, ``time``, ``datetime``, ``julianday``, ``strftime``,
  ``unixepoch``) are replaced by versions that refuse ``'now'``, ``'localtime'`` and ``'utc'``,
  so a query's result depends on the database only;
- ``sqlite3`` limits: no attached databases, strings, blobs and rows of at most
  :data:`MAX_VALUE_BYTES` bytes, bounded SQL length, expression depth, column count and
  ``LIKE`` pattern length;
- a progress handler that stops a statement after a fixed number of virtual-machine
  instructions: the deterministic limit that decides. A wall-clock limit far above what the
  budget needs is only a safety net. Since no allowed instruction handles more than a few
  values of at most :data:`MAX_VALUE_BYTES` bytes, the budget also bounds the time and the
  memory (sorts, ``DISTINCT``, grouping) of a query: ``benchmarks/sql_query_bound.py``
  measures both;
- only ``max_rows`` rows are fetched and every cell is clipped.

The SQL text is never inspected: whatever a query says, SQLite decides what it may do.
"""

from __future__ import annotations

import math
import sqlite3
import time
from dataclasses import dataclass
from typing import Any

ALLOWED_FUNCTIONS = frozenset(
    # aggregates and window functions
    {"count", "sum", "total", "avg", "min", "max", "group_concat"}
    | {"row_number", "rank", "dense_rank", "percent_rank", "cume_dist", "ntile", "lag", "lead"}
    | {"first_value", "last_value", "nth_value"}
    # scalars whose cost is linear in their (bounded) arguments
    | {"abs", "round", "sign", "length", "lower", "upper", "trim", "ltrim", "rtrim", "substr"}
    | {"substring", "coalesce", "ifnull", "nullif", "iif", "typeof", "like", "glob", "char"}
    | {"unicode", "hex", "quote", "likely", "unlikely", "likelihood"}
    # math
    | {"ceil", "ceiling", "floor", "trunc", "sqrt", "pow", "power", "exp", "ln", "log", "log2"}
    | {"log10", "mod", "pi"}
    # dates, replaced by deterministic versions (see DATE_FUNCTIONS)
    | {"date", "time", "datetime", "julianday", "strftime", "unixepoch"}
)
"""SQL functions a query may call; any other is refused by the authorizer."""
DATE_FUNCTIONS = ("date", "time", "datetime", "julianday", "strftime", "unixepoch")
_CLOCK_ARGUMENTS = frozenset({"now", "localtime", "utc"})
_ALLOWED_ACTIONS = frozenset({sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_RECURSIVE})
MAX_VALUE_BYTES = 1_000
"""Longest string, blob or row: every allowed function costs at most a few passes over it."""
_LIMITS = {
    sqlite3.SQLITE_LIMIT_ATTACHED: 0,
    sqlite3.SQLITE_LIMIT_LENGTH: MAX_VALUE_BYTES,
    sqlite3.SQLITE_LIMIT_SQL_LENGTH: 20_000,
    sqlite3.SQLITE_LIMIT_EXPR_DEPTH: 100,
    sqlite3.SQLITE_LIMIT_COLUMN: 100,
    sqlite3.SQLITE_LIMIT_COMPOUND_SELECT: 50,
    sqlite3.SQLITE_LIMIT_FUNCTION_ARG: 16,
    sqlite3.SQLITE_LIMIT_LIKE_PATTERN_LENGTH: 100,
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
        max_steps: SQLite VM instructions per query before it is stopped (the limit that
            decides, the same on any machine).
        time_limit_s: wall-clock safety net per query, far above what ``max_steps`` takes.
    """

    def __init__(
        self,
        connection: sqlite3.Connection,
        *,
        max_rows: int = 50,
        max_cell_chars: int = 200,
        max_steps: int = 1_000_000,
        time_limit_s: float = 30.0,
    ):
        self.max_rows = max_rows
        self.max_cell_chars = max_cell_chars
        self.max_steps = max_steps
        self.time_limit_s = time_limit_s
        self._connection = connection
        self._ticks = 0
        self._deadline = math.inf
        self._timed_out = False
        self._refusal: str | None = None
        self._date_helper = sqlite3.connect(":memory:", check_same_thread=False)
        connection.execute("PRAGMA query_only = ON")
        connection.execute("PRAGMA temp_store = MEMORY")
        for category, value in _LIMITS.items():
            connection.setlimit(category, value)
        for name in DATE_FUNCTIONS:
            connection.create_function(name, -1, self._date_function(name), deterministic=True)
        connection.set_authorizer(self._authorize)

    def close(self) -> None:
        self._connection.close()
        self._date_helper.close()

    def query(self, sql: str) -> QueryResult:
        """Run one read-only statement.

        Raises:
            QueryError: SQLite refused the statement, it failed, or it ran out of budget.
        """
        self._ticks = 0
        self._timed_out = False
        self._refusal = None
        self._deadline = time.monotonic() + self.time_limit_s
        self._connection.set_progress_handler(self._progress, _PROGRESS_INTERVAL)
        cursor = None
        try:
            cursor = self._connection.execute(sql)
            rows = cursor.fetchmany(self.max_rows + 1)
            columns = tuple(d[0] for d in cursor.description or ())
        except sqlite3.OperationalError as error:
            raise QueryError(self._explain(error)) from None
        except (sqlite3.Error, sqlite3.Warning, ValueError, OverflowError, MemoryError) as error:
            raise QueryError(self._refusal or _message(error)) from None
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
        if self._ticks * _PROGRESS_INTERVAL > self.max_steps:
            return 1
        self._timed_out = time.monotonic() > self._deadline
        return int(self._timed_out)

    def _explain(self, error: sqlite3.OperationalError) -> str:
        if self._refusal is not None:
            return self._refusal
        if str(error) == "interrupted" and self._timed_out:
            return (
                f"the query was stopped after {self.time_limit_s:g} s (a safety limit of the "
                "machine, not of the task); simplify it"
            )
        if str(error) == "interrupted":
            return (
                "the query was stopped because it needed too much work; add conditions or "
                "a LIMIT, or avoid unbounded recursion"
            )
        return _message(error)

    def _authorize(self, action: int, arg1: Any, arg2: Any, db_name: Any, trigger: Any) -> int:
        if action in _ALLOWED_ACTIONS:
            return sqlite3.SQLITE_OK
        if action == sqlite3.SQLITE_FUNCTION:
            if str(arg2).lower() in ALLOWED_FUNCTIONS:
                return sqlite3.SQLITE_OK
            self._refusal = (
                f"the SQL function {str(arg2)[:40]}() is not allowed; allowed functions: "
                + ", ".join(sorted(ALLOWED_FUNCTIONS))
            )
        return sqlite3.SQLITE_DENY

    def _date_function(self, name: str) -> Any:
        """``name`` evaluated by SQLite itself, refusing arguments that read the clock."""
        statement = f"SELECT {name}({{}})"

        def deterministic(*args: Any) -> Any:
            if not args or any(
                isinstance(a, str) and a.strip().lower() in _CLOCK_ARGUMENTS for a in args
            ):
                self._refusal = (
                    f"{name}() needs an explicit date; 'now', 'localtime' and 'utc' read the "
                    "machine's clock and time zone and are not allowed"
                )
                raise ValueError(self._refusal)
            placeholders = ", ".join("?" * len(args))
            return self._date_helper.execute(statement.format(placeholders), args).fetchone()[0]

        return deterministic

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


def _message(error: BaseException) -> str:
    text = str(error) or type(error).__name__
    if text in ("not authorized", "authorization denied"):
        return "not authorized: the database is read-only; only SELECT queries are allowed"
    if "one statement at a time" in text:
        return "only one SQL statement per query is allowed"
    return f"SQL error: {text}"
