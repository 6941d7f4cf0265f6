"""DuckDB: the embedded default warehouse.

One database handle per engine, one cursor per worker thread (DuckDB cursors are cheap
duplicates of the connection and are not safe to share between threads). Read-only by default.
"""

from __future__ import annotations

import threading
from pathlib import Path

import duckdb
import pyarrow as pa

from sluice.engines.base import CancelToken
from sluice.engines.types import TypeNames, names
from sluice.errors import Cancelled, QueryError


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(
        self,
        database: Path | str | None = None,
        *,
        read_only: bool = True,
        threads: int | None = None,
    ) -> None:
        target = str(database) if database is not None else ":memory:"
        config: dict[str, str | bool | int | float | list[str]] = (
            {"threads": threads} if threads else {}
        )
        self._conn = duckdb.connect(
            target, read_only=read_only and target != ":memory:", config=config
        )
        self._local = threading.local()
        self._cursors: list[duckdb.DuckDBPyConnection] = []
        self._lock = threading.Lock()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur: duckdb.DuckDBPyConnection | None = getattr(self._local, "cursor", None)
        if cur is None:
            cur = self._conn.cursor()
            # Track progress (for GET /query/jobs/{id}), without printing a bar.
            cur.execute("SET enable_progress_bar = true")
            cur.execute("SET enable_progress_bar_print = false")
            self._local.cursor = cur
            with self._lock:
                self._cursors.append(cur)
        return cur

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        cur = self._cursor()
        if cancel is not None:
            cancel.bind(cur.interrupt)
            cancel.bind_progress(lambda: _progress(cur))
        try:
            table = cur.sql(sql).to_arrow_table()
        except duckdb.InterruptException:
            raise Cancelled("the query was cancelled") from None
        except duckdb.Error as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("the query was cancelled") from None
            raise QueryError(str(exc)) from None
        finally:
            if cancel is not None:
                cancel.bind(None)
                cancel.bind_progress(None)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return table

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        cur = self._cursor()
        try:
            rel = cur.table(f"{schema}.{table}" if schema else table)
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        return {
            name: TYPE_NAMES.data_type(str(t))
            for name, t in zip(rel.columns, rel.types, strict=True)
        }

    def query_types(self, sql: str) -> dict[str, str]:
        """Column types of an arbitrary SELECT (derived tables), without running it."""
        rel = self._cursor().sql(sql)
        return {
            name: TYPE_NAMES.data_type(str(t))
            for name, t in zip(rel.columns, rel.types, strict=True)
        }

    def close(self) -> None:
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
        self._conn.close()


def _progress(cur: duckdb.DuckDBPyConnection) -> float | None:
    """``query_progress()`` (a percentage, -1 while unknown) of the statement ``cur`` runs,
    read from another thread, as 0 to 1."""
    percent = cur.query_progress()
    return None if percent < 0 else percent / 100.0


def _column_types(rel: duckdb.DuckDBPyRelation) -> dict[str, str]:
    return {
        name: TYPE_NAMES.data_type(str(t)) for name, t in zip(rel.columns, rel.types, strict=True)
    }


TYPE_NAMES = TypeNames(
    exact={"date": "date", "boolean": "boolean"},
    prefixes={
        "timestamp": "timestamp",
        **names("string", "varchar", "text", "uuid", "string"),
        **names(
            "number", "tinyint", "smallint", "integer", "bigint", "hugeint", "utinyint",
            "usmallint", "uinteger", "ubigint", "uhugeint", "float", "double", "decimal", "real",
        ),
    },
)  # fmt: skip
