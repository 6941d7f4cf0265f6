"""One contract, every available engine: types and values, schema lookup, errors, cancel, threads.

Each engine runs over the same demo data (see conftest.py). SQL is written once in DuckDB's
dialect and transpiled with sqlglot where the engines agree on meaning; the heavy statements
for the cancel tests are written per engine, since each has its own row generator.
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pytest
import sqlglot

from sluice.engines.base import CancelToken, Engine
from sluice.engines.duckdb import DuckDBEngine
from sluice.errors import Cancelled, QueryError

ENGINES = [
    "duckdb",
    "postgres",
    pytest.param("spark", marks=pytest.mark.slow),
]
FIXTURES = {"duckdb": "duck", "postgres": "postgres_engine", "spark": "spark_engine"}

# About 10^12 rows to sum: minutes of work on any engine, so only a cancel ends it early. (Spark
# sums a remainder: in ANSI mode a bigint overflow would otherwise end the statement early.)
HEAVY = {
    "duckdb": "SELECT sum(a.range * b.range) FROM range(1000000) a, range(1000000) b",
    "postgres": (
        "SELECT sum(a::bigint * b) FROM generate_series(1, 1000000) a,"
        " generate_series(1, 1000000) b"
    ),
    "spark": "SELECT sum((a.id * b.id) % 7) FROM range(1000000) a CROSS JOIN range(1000000) b",
}
CANCEL_WITHIN_S = {"duckdb": 5.0, "postgres": 5.0, "spark": 15.0}


@pytest.fixture(params=ENGINES)
def engine(request: pytest.FixtureRequest) -> Engine:
    found: Engine = request.getfixturevalue(FIXTURES[request.param])
    return found


def sql_for(engine: Engine, duckdb_sql: str) -> str:
    return sqlglot.transpile(duckdb_sql, read="duckdb", write=engine.dialect)[0]


def test_engines_implement_the_protocol(engine: Engine) -> None:
    assert isinstance(engine, Engine)
    assert engine.dialect in ("duckdb", "postgres", "spark")


# -- types and values -----------------------------------------------------------------------------

LITERALS = """
SELECT * FROM (
  SELECT 1 AS k, CAST(42 AS INTEGER) AS i, CAST(9000000000 AS BIGINT) AS big,
         CAST(1.25 AS DOUBLE) AS f, 'it''s "quoted" — ünïcødé ✓ 😀' AS s,
         CAST('2024-02-29 13:45:06.123456' AS TIMESTAMP) AS ts, CAST('2024-02-29' AS DATE) AS d,
         TRUE AS b, CAST(NULL AS INTEGER) AS n
  UNION ALL
  SELECT 2, CAST(-7 AS INTEGER), CAST(-1 AS BIGINT), CAST(-0.5 AS DOUBLE), '',
         CAST('1999-12-31 23:59:59' AS TIMESTAMP), CAST('1970-01-01' AS DATE), FALSE,
         CAST(NULL AS INTEGER)
  UNION ALL
  SELECT 3, CAST(NULL AS INTEGER), CAST(NULL AS BIGINT), CAST(NULL AS DOUBLE),
         CAST(NULL AS VARCHAR), CAST(NULL AS TIMESTAMP), CAST(NULL AS DATE),
         CAST(NULL AS BOOLEAN), CAST(NULL AS INTEGER)
) AS t ORDER BY k
"""


def test_select_returns_arrow_types_and_values(engine: Engine) -> None:
    table = engine.execute(sql_for(engine, LITERALS))
    assert table.column_names == ["k", "i", "big", "f", "s", "ts", "d", "b", "n"]
    types = dict(zip(table.column_names, table.schema.types, strict=True))
    assert types["i"] == pa.int32()
    assert types["big"] == pa.int64()
    assert types["f"] == pa.float64()
    assert pa.types.is_string(types["s"]) or pa.types.is_large_string(types["s"])
    assert pa.types.is_timestamp(types["ts"]) and types["ts"].tz is None, types["ts"]
    assert types["d"] == pa.date32()
    assert types["b"] == pa.bool_()
    assert pa.types.is_integer(types["n"])
    rows = table.to_pylist()
    assert rows[0] == {
        "k": 1,
        "i": 42,
        "big": 9_000_000_000,
        "f": 1.25,
        "s": 'it\'s "quoted" — ünïcødé ✓ 😀',
        "ts": dt.datetime(2024, 2, 29, 13, 45, 6, 123456),
        "d": dt.date(2024, 2, 29),
        "b": True,
        "n": None,
    }
    assert rows[1] == {
        "k": 2,
        "i": -7,
        "big": -1,
        "f": -0.5,
        "s": "",
        "ts": dt.datetime(1999, 12, 31, 23, 59, 59),
        "d": dt.date(1970, 1, 1),
        "b": False,
        "n": None,
    }
    assert all(v is None for k, v in rows[2].items() if k != "k")


def test_aggregates_over_a_demo_table(engine: Engine, duck: DuckDBEngine) -> None:
    sql = (
        "SELECT status, count(*) AS n, count(DISTINCT user_id) AS users,"
        " sum(sale_price) AS revenue, min(created_at) AS first_at"
        " FROM order_items GROUP BY status ORDER BY status"
    )
    got = engine.execute(sql_for(engine, sql)).to_pylist()
    want = duck.execute(sql).to_pylist()
    assert [r["status"] for r in got] == [r["status"] for r in want]
    for g, w in zip(got, want, strict=True):
        assert (g["n"], g["users"], g["first_at"]) == (w["n"], w["users"], w["first_at"])
        assert g["revenue"] == pytest.approx(w["revenue"], rel=1e-9)


# -- schema lookup --------------------------------------------------------------------------------

ORDER_ITEMS_TYPES = {
    "id": "number",
    "order_id": "number",
    "user_id": "number",
    "product_id": "number",
    "inventory_item_id": "number",
    "status": "string",
    "created_at": "timestamp",
    "shipped_at": "timestamp",
    "delivered_at": "timestamp",
    "returned_at": "timestamp",
    "sale_price": "number",
}


def test_column_types_of_a_demo_table(engine: Engine) -> None:
    assert engine.column_types("order_items") == ORDER_ITEMS_TYPES
    users = engine.column_types("users")
    assert users["age"] == "number" and users["created_at"] == "timestamp"
    assert users["email"] == "string" and users["latitude"] == "number"


def test_column_types_of_a_missing_table_raise_query_error(engine: Engine) -> None:
    with pytest.raises(QueryError):
        engine.column_types("no_such_table")


# -- errors ---------------------------------------------------------------------------------------


def test_invalid_statement_raises_query_error_with_the_engine_message(engine: Engine) -> None:
    with pytest.raises(QueryError) as info:
        engine.execute("SELECT no_such_column FROM order_items")
    message = str(info.value)
    assert "no_such_column" in message
    for noise in ("Traceback", "JVM stacktrace", "\tat ", "Query was:", "[libpq]"):
        assert noise not in message, message


def test_syntax_error_raises_query_error(engine: Engine) -> None:
    with pytest.raises(QueryError) as info:
        engine.execute("SELEC 1")
    assert "SELEC" in str(info.value) or "syntax" in str(info.value).lower()


def test_engine_still_works_after_an_error(engine: Engine) -> None:
    with pytest.raises(QueryError):
        engine.execute("SELECT no_such_column FROM order_items")
    assert engine.execute("SELECT 41 + 1 AS x").column(0).to_pylist() == [42]


# -- cancel ---------------------------------------------------------------------------------------


def run_in_thread(engine: Engine, sql: str, token: CancelToken) -> tuple[threading.Thread, dict]:
    outcome: dict[str, Any] = {}

    def work() -> None:
        try:
            outcome["result"] = engine.execute(sql, token)
        except BaseException as exc:  # handed back to the test thread
            outcome["error"] = exc
        outcome["ended"] = time.monotonic()

    thread = threading.Thread(target=work, daemon=True)
    thread.start()
    return thread, outcome


def test_cancel_stops_a_long_running_statement_promptly(engine: Engine) -> None:
    token = CancelToken()
    thread, outcome = run_in_thread(engine, HEAVY[engine.dialect], token)
    time.sleep(1.5)
    assert thread.is_alive(), f"the heavy statement ended by itself: {outcome}"
    cancelled_at = time.monotonic()
    token.cancel()
    thread.join(timeout=60)
    assert not thread.is_alive(), "the statement did not stop after cancel"
    assert isinstance(outcome.get("error"), Cancelled), outcome
    assert outcome["ended"] - cancelled_at < CANCEL_WITHIN_S[engine.dialect]
    assert engine.execute("SELECT 1 AS one").column(0).to_pylist() == [1]


def test_a_token_cancelled_before_execute_raises_cancelled(engine: Engine) -> None:
    token = CancelToken()
    token.cancel()
    with pytest.raises(Cancelled):
        engine.execute("SELECT 1 AS one", token)


# -- threads --------------------------------------------------------------------------------------


def test_concurrent_executes_from_four_threads(engine: Engine, duck: DuckDBEngine) -> None:
    sql = (
        "SELECT count(*) AS n, sum(id) AS total, max(status) AS top FROM order_items"
        " WHERE id % 4 = {k}"
    )
    want = {k: duck.execute(sql.format(k=k)).to_pylist()[0] for k in range(4)}

    def work(k: int) -> list[dict[str, Any]]:
        return [engine.execute(sql_for(engine, sql.format(k=k))).to_pylist()[0] for _ in range(3)]

    with ThreadPoolExecutor(max_workers=4) as pool:
        results = dict(zip(range(4), pool.map(work, range(4)), strict=True))
    for k, rows in results.items():
        for row in rows:
            assert int(row["n"]) == int(want[k]["n"])
            assert int(row["total"]) == int(want[k]["total"])
            assert row["top"] == want[k]["top"]


# -- streamed results -----------------------------------------------------------------------------


def test_a_reader_hands_back_the_same_rows_as_execute(engine: Engine) -> None:
    sql = sql_for(engine, "SELECT id, status, sale_price FROM order_items ORDER BY id")
    whole = engine.execute(sql)
    with engine.execute_reader(sql) as reader:
        streamed = reader.read_all()
    assert streamed.num_rows == whole.num_rows > 1000
    assert streamed.column_names == whole.column_names
    assert streamed.column(0).to_pylist() == whole.column(0).to_pylist()
    total = pc.sum(streamed.column(2)).as_py()
    assert total == pytest.approx(pc.sum(whole.column(2)).as_py(), rel=1e-12)
    assert engine.execute("SELECT 1 AS one").column(0).to_pylist() == [1]


def test_a_reader_failing_to_start_raises_query_error(engine: Engine) -> None:
    with pytest.raises(QueryError), engine.execute_reader("SELECT * FROM no_such_table") as r:
        r.read_all()
    assert engine.execute("SELECT 1 AS one").column(0).to_pylist() == [1]


def test_duckdb_streams_batch_by_batch_and_a_cancel_stops_the_stream(duck: DuckDBEngine) -> None:
    # About 10^12 rows: only a stream that is read as it is computed hands back a first batch.
    sql = "SELECT a.range AS x FROM range(1000000) a, range(1000000) b"
    token = CancelToken()
    with duck.execute_reader(sql, token) as reader:
        first = reader.read_next_batch()
        assert first.num_rows > 0
        cancel = threading.Thread(target=token.cancel)
        cancel.start()
        cancel.join()
        with pytest.raises(Cancelled):
            for _ in range(10_000):  # more than the stream could hand back before it stops
                reader.read_next_batch()
    assert duck.execute("SELECT 1 AS one").column(0).to_pylist() == [1]


def test_duckdb_leaving_a_stream_early_frees_its_cursor(duck: DuckDBEngine) -> None:
    sql = "SELECT a.range AS x FROM range(1000000) a, range(1000000) b"
    for _ in range(3 * len(duck._all)):  # more times than there are cursors
        with duck.execute_reader(sql) as reader:
            reader.read_next_batch()
    assert duck.execute("SELECT 1 AS one").column(0).to_pylist() == [1]


def test_duckdb_an_error_while_streaming_is_a_query_error(duck: DuckDBEngine) -> None:
    sql = (
        "SELECT CAST(CASE WHEN range > 200000 THEN 'x' ELSE '1' END AS INTEGER) AS v"
        " FROM range(300000)"
    )
    with pytest.raises(QueryError, match="Could not convert"), duck.execute_reader(sql) as r:
        r.read_all()
