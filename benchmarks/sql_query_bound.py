"""Time and memory of the most expensive SQL queries the shop tool lets a model run.

Run by hand (never as a timed test)::

    .venv/bin/python benchmarks/sql_query_bound.py

Each query runs in a fresh process against the hard shop database of seed 1, with the tool's
default limits (instruction budget, value-size limit). Printed per query: wall time, the
process's peak memory growth, and what stopped it. The reference is the env's own reference
query for that database, measured the same way in the same run.
"""

from __future__ import annotations

import multiprocessing
import resource
import time

from llm_gym.games import shop_db
from llm_gym.tools.sql import MAX_VALUE_BYTES, QueryError, ReadOnlyDatabase

BIG = "y" * (MAX_VALUE_BYTES - 20)
HOSTILE = {
    "distinct 3-way join": "SELECT COUNT(*) FROM (SELECT DISTINCT a.*, b.*, c.* "
    "FROM order_items a, order_items b, order_items c)",
    "distinct long strings": f"SELECT COUNT(*) FROM (SELECT DISTINCT a.rowid || '{BIG}' || "
    "b.rowid || c.rowid FROM order_items a, order_items b, order_items c)",
    "sort long strings": f"SELECT a.rowid || '{BIG}' || b.rowid || c.rowid AS s "
    "FROM order_items a, order_items b, order_items c ORDER BY s",
    "group long strings": f"SELECT a.rowid || '{BIG}' || b.rowid AS k, COUNT(*) "
    "FROM order_items a, order_items b, order_items c GROUP BY k ORDER BY 2",
    "window over long strings": f"SELECT COUNT(*) FROM (SELECT rank() OVER (ORDER BY "
    f"a.rowid || '{BIG}' || b.rowid) FROM order_items a, order_items b, order_items c)",
    "like backtracking": f"SELECT COUNT(*) FROM order_items a, order_items b WHERE "
    f"(a.rowid || '{'a' * (MAX_VALUE_BYTES - 30)}') LIKE '{'%a' * 49}b'",
    "glob backtracking": f"SELECT COUNT(*) FROM order_items a, order_items b WHERE "
    f"(a.rowid || '{'a' * (MAX_VALUE_BYTES - 30)}') GLOB '{'*a' * 49}b'",
    "upper of long strings": f"SELECT COUNT(*) FROM order_items a, order_items b, order_items c "
    f"WHERE length(upper(a.rowid || '{BIG}')) > 0",
    "recursive strings": "WITH RECURSIVE r(x) AS (SELECT 'a' UNION ALL SELECT x || x FROM r) "
    "SELECT COUNT(*) FROM r",
    "recursive counter": "WITH RECURSIVE r(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM r) "
    "SELECT COUNT(*) FROM r",
}


def run_query(sql: str, queue: multiprocessing.Queue) -> None:
    shop = shop_db.generate_shop(1, "hard")
    database = ReadOnlyDatabase(shop_db.build_database(shop))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    started = time.perf_counter()
    try:
        database.query(sql)
        verdict = "ran"
    except QueryError as error:
        verdict = str(error)[:60]
    seconds = time.perf_counter() - started
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    queue.put((seconds, grown_mb, verdict))


def measure(sql: str) -> tuple[float, float, str]:
    queue: multiprocessing.Queue = multiprocessing.Queue()
    process = multiprocessing.Process(target=run_query, args=(sql, queue))
    process.start()
    result = queue.get(timeout=300)
    process.join()
    return result


def main() -> None:
    shop = shop_db.generate_shop(1, "hard")
    reference_sql = shop_db.generate_question(shop, 1, "hard").sql
    reference, reference_mb, _ = measure(reference_sql)
    print(f"reference query: {reference * 1e3:.2f} ms, +{reference_mb:.1f} MB peak memory")
    worst = 0.0
    for name, sql in HOSTILE.items():
        seconds, grown_mb, verdict = measure(sql)
        worst = max(worst, seconds)
        print(
            f"  {name:26s} {seconds * 1e3:8.1f} ms ({seconds / reference:7.0f}x)  "
            f"+{grown_mb:6.1f} MB  {verdict}"
        )
    print(f"slowest hostile query: {worst * 1e3:.1f} ms ({worst / reference:.0f}x the reference)")


if __name__ == "__main__":
    main()
