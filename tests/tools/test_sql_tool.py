import sqlite3

import pytest

from llm_gym.tools.sql import QueryError, ReadOnlyDatabase


@pytest.fixture
def db():
    connection = sqlite3.connect(":memory:")
    connection.executescript(
        "CREATE TABLE t(x INTEGER, s TEXT); "
        "INSERT INTO t SELECT value, 'row' FROM generate_series(1, 200);"
        if sqlite3.sqlite_version_info >= (3, 46)
        else "CREATE TABLE t(x INTEGER, s TEXT);"
    )
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(i, "row") for i in range(1, 201)])
    connection.commit()
    database = ReadOnlyDatabase(connection, max_rows=10, max_cell_chars=20, max_steps=200_000)
    yield database
    database.close()


def test_select_is_bounded_in_rows_and_cell_size(db):
    result = db.query("SELECT x, s || printf('%.50c', 'x') FROM t ORDER BY x")
    assert len(result.rows) == 10 and result.truncated and result.rows[0][0] == 1
    assert len(result.rows[0][1]) < 40 and "more]" in result.rows[0][1]


@pytest.mark.parametrize(
    "sql",
    ["INSERT INTO t VALUES (1, 'x')", "UPDATE t SET x = 0", "DELETE FROM t", "DROP TABLE t",
     "CREATE TABLE u(a)", "CREATE TEMP TABLE u(a)", "ATTACH ':memory:' AS other",
     "PRAGMA query_only = OFF", "BEGIN", "SELECT 1; SELECT 2", "VACUUM",
     "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT max(n) FROM r",
     "SELECT randomblob(100000000)", "SELECT * FROM missing", "SELEKT 1"],
)  # fmt: skip
def test_writes_files_runaway_and_bad_queries_are_refused(db, sql):
    with pytest.raises(QueryError):
        db.query(sql)
    assert db.query("SELECT COUNT(*), SUM(x) FROM t").rows == ((200, 20100),)


def test_budget_is_deterministic(db):
    heavy = "SELECT COUNT(*) FROM t a, t b, t c"
    outcomes = []
    for _ in range(2):
        try:
            outcomes.append(db.query(heavy).rows)
        except QueryError as error:
            outcomes.append(str(error))
    assert outcomes[0] == outcomes[1] and "too much work" in outcomes[0]


def test_cannot_be_pickled(db):
    import pickle

    with pytest.raises(TypeError):
        pickle.dumps(db)
