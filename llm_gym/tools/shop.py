"""The shop task: a seeded SQLite shop, a question about it, and SQL + calculator tools."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

from llm_gym.games import shop_db
from llm_gym.tools.calculator import calculator
from llm_gym.tools.sql import QueryError, ReadOnlyDatabase
from llm_gym.tools.task import ToolEpisode
from llm_gym.tools.toolbox import ToolError


class ShopTools:
    """The database tools of one episode (``database`` may be ``None`` to build schemas)."""

    def __init__(self, database: ReadOnlyDatabase | None):
        self.database = database

    def functions(self) -> list[Callable[..., Any]]:
        return [self.list_tables, self.describe_table, self.run_sql, calculator]

    def _db(self) -> ReadOnlyDatabase:
        if self.database is None:
            raise ToolError("no database is open")
        return self.database

    def list_tables(self) -> str:
        """List the tables of the shop database with their row counts."""
        db = self._db()
        return json.dumps({name: db.row_count(name) for name in db.table_names()})

    def describe_table(self, table: str) -> str:
        """Show the columns of a table (its CREATE TABLE statement) and its row count.

        Args:
            table: the table name, as given by list_tables.
        """
        db = self._db()
        statement = db.create_statement(table)
        if statement is None:
            known = ", ".join(db.table_names())
            raise ToolError(f"no table named {table[:60]!r}; tables: {known}")
        return f"{statement}\n-- {db.row_count(table)} rows"

    def run_sql(self, query: str) -> str:
        """Run one read-only SQLite SELECT query and return the columns and rows as JSON.

        At most 50 rows are returned ("truncated": true when there are more).

        Args:
            query: a single SQLite SELECT statement.
        """
        try:
            result = self._db().query(query)
        except QueryError as error:
            raise ToolError(str(error)) from None
        return json.dumps(result.to_json_dict())


class ShopTask:
    """Questions about a seeded shop database (customers, products, orders, order_items).

    Args:
        max_rows: rows returned per SQL query.
        max_steps: SQLite VM instructions allowed per query (the limit that decides; the
            reference queries need at most a few thousand).
        time_limit_s: wall-clock safety net per query, far above what ``max_steps`` takes.
    """

    difficulties = shop_db.DIFFICULTIES

    def __init__(
        self,
        max_rows: int = 50,
        max_steps: int = 1_000_000,
        time_limit_s: float = 30.0,
    ):
        self.max_rows = max_rows
        self.max_steps = max_steps
        self.time_limit_s = time_limit_s

    def describe(self) -> str:
        return (
            "You can query the SQLite database of a small online shop (tables customers, "
            "products, orders, order_items; money in dollars) and use a calculator."
        )

    def tool_functions(self) -> Sequence[Callable[..., Any]]:
        return ShopTools(None).functions()

    def new_episode(self, seed: int, difficulty: str) -> ToolEpisode:
        shop = shop_db.generate_shop(seed, difficulty)
        question = shop_db.generate_question(shop, seed, difficulty)
        database = ReadOnlyDatabase(
            shop_db.build_database(shop),
            max_rows=self.max_rows,
            max_steps=self.max_steps,
            time_limit_s=self.time_limit_s,
        )
        return ToolEpisode(
            question=question.text,
            answer=question.answer,
            numeric=question.numeric,
            functions=ShopTools(database).functions(),
            reference={"sql": question.sql, "template": question.template},
            close=database.close,
        )
