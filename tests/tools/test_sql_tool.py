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
    result = db.query(f"SELECT x, s || '{'x' * 50}' FROM t ORDER BY x")
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


@pytest.mark.parametrize(
    ("sql", "refused"),
    [("SELECT printf('%.*c', 2147483647, 'x')", "printf"),
     ("SELECT format('%d', 1)", "format"),
     ("SELECT fts3_tokenizer('simple')", "fts3_tokenizer"),
     ("SELECT random()", "random"), ("SELECT randomblob(8)", "randomblob"),
     ("SELECT load_extension('/tmp/evil.so')", "load_extension"),
     ("SELECT current_timestamp", "current_timestamp"),
     ("SELECT instr(s, 'o') FROM t", "instr"), ("SELECT zeroblob(10)", "zeroblob"),
     ("SELECT sqlite_version()", "sqlite_version")],
)  # fmt: skip
def test_functions_outside_the_allowlist_are_refused_by_name(db, sql, refused):
    with pytest.raises(QueryError, match=rf"the SQL function {refused}\(\) is not allowed"):
        db.query(sql)


@pytest.mark.parametrize(
    "sql",
    ["SELECT date('now')", "SELECT datetime('NOW', '-1 day')", "SELECT date()",
     "SELECT strftime('%Y', '2024-01-02', 'localtime')", "SELECT julianday('2024-01-02', 'utc')",
     "SELECT time(lower('NOW'))", "SELECT unixepoch('now')"],
)  # fmt: skip
def test_date_functions_refuse_the_clock_and_time_zone(db, sql):
    with pytest.raises(QueryError, match="read the machine's clock"):
        db.query(sql)


def test_date_functions_on_explicit_dates_work_as_in_sqlite(db):
    result = db.query(
        "SELECT date('2024-01-31', '+1 day'), strftime('%Y', '2023-05-06'), "
        "julianday('2024-01-02') - julianday('2024-01-01')"
    )
    assert result.rows == (("2024-02-01", "2023", 1.0),)


def test_temp_storage_stays_in_memory(db):
    connection = db._connection
    connection.set_authorizer(None)  # only to read the setting the database was locked with
    assert connection.execute("PRAGMA temp_store").fetchone()[0] == 2  # MEMORY


def test_a_heavy_query_is_stopped_by_the_instruction_budget_not_the_clock(db):
    db.time_limit_s = 1e-9  # a clock-decided stop would now show up as the safety message
    db.max_steps = 10**12
    with pytest.raises(QueryError, match="safety limit"):
        db.query("SELECT COUNT(*) FROM t a, t b, t c")
    db.time_limit_s, db.max_steps = 1000.0, 200_000
    with pytest.raises(QueryError, match="too much work"):
        db.query("SELECT COUNT(*) FROM t a, t b, t c")


def test_a_query_that_would_fill_memory_is_stopped_by_the_budget(db):
    db.max_steps = 1_000_000
    big = "y" * 900
    with pytest.raises(QueryError, match="too much work"):
        db.query(f"SELECT DISTINCT a.x || '{big}' || b.x || c.x FROM t a, t b, t c ORDER BY 1")


def test_values_longer_than_the_limit_are_refused(db):
    with pytest.raises(QueryError, match="too big"):
        db.query(f"SELECT '{'x' * 600}' || '{'x' * 600}'")
