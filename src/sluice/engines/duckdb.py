"""DuckDB: the embedded default warehouse.

One database handle per engine, one cursor per worker thread (DuckDB cursors are cheap
duplicates of the connection and are not safe to share between threads). Read-only by default.

Every connection is a sandbox set at connect time: external access is off (no file, glob, URL,
``COPY``, ``ATTACH`` or extension install can touch the disk or the network), extensions are
never auto-installed or auto-loaded, and the configuration is locked (``SET``, ``PRAGMA`` and
``RESET`` fail), so neither a statement the SQL-mode check missed nor a future DuckDB function
can read the server's files or change a setting for everyone. The database file itself is
opened before the lock, so the engine still reads it.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import duckdb
import pyarrow as pa

from sluice.engines.base import CancelToken
from sluice.errors import Cancelled, QueryError

# Set when the connection opens; ``lock_configuration`` last, so nothing can undo the others.
SANDBOX: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "lock_configuration": True,
}


def connect_sandboxed(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a database file with the engine's sandbox. DuckDB shares one
    instance per file within a process and refuses a second connection with another
    configuration, so everything that reads a warehouse file next to an engine uses this."""
    return duckdb.connect(str(path), read_only=True, config=dict(SANDBOX))


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
        config: dict[str, str | bool | int | float | list[str]] = dict(SANDBOX)
        if threads:
            config["threads"] = threads
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
            self._local.cursor = cur
            with self._lock:
                self._cursors.append(cur)
        return cur

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        cur = self._cursor()
        interrupter = _Interrupter(cur)
        if cancel is not None:
            cancel.bind(interrupter.fire)
        try:
            table = cur.sql(sql).to_arrow_table()
        except duckdb.InterruptException:
            raise Cancelled("the query was cancelled") from None
        except duckdb.Error as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("the query was cancelled") from None
            raise QueryError(str(exc)) from None
        finally:
            interrupter.done()
            if cancel is not None:
                cancel.bind(None)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return table

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        cur = self._cursor()
        try:
            rel = cur.table(f"{schema}.{table}" if schema else table)
        except duckdb.Error as exc:
            raise QueryError(str(exc)) from None
        return {name: _duck_type(str(t)) for name, t in zip(rel.columns, rel.types, strict=True)}

    def query_types(self, sql: str) -> dict[str, str]:
        """Column types of an arbitrary SELECT (derived tables), without running it."""
        rel = self._cursor().sql(sql)
        return {name: _duck_type(str(t)) for name, t in zip(rel.columns, rel.types, strict=True)}

    def close(self) -> None:
        with self._lock:
            for cur in self._cursors:
                cur.close()
            self._cursors.clear()
        self._conn.close()


class _Interrupter:
    """Interrupt one statement for sure. DuckDB forgets an interrupt that arrives before the
    statement starts executing (while it is parsed and planned), so a cancel or a deadline could
    leave it running for minutes holding its worker; once fired, this interrupts again, backing
    off, until the statement has returned."""

    def __init__(self, cursor: duckdb.DuckDBPyConnection) -> None:
        self._cursor = cursor
        self._running = True
        self._lock = threading.Lock()

    def fire(self) -> None:
        if self._interrupt():
            threading.Thread(
                target=self._again, name="sluice-duckdb-interrupt", daemon=True
            ).start()

    def done(self) -> None:
        with self._lock:
            self._running = False

    def _interrupt(self) -> bool:
        with self._lock:
            if self._running:
                self._cursor.interrupt()
            return self._running

    def _again(self) -> None:
        delay = 0.01
        while True:
            time.sleep(delay)
            if not self._interrupt():
                return
            delay = min(delay * 2, 0.5)


def _duck_type(name: str) -> str:
    n = name.upper()
    if n.startswith(("TIMESTAMP",)):
        return "timestamp"
    if n == "DATE":
        return "date"
    if n == "BOOLEAN":
        return "boolean"
    if n.startswith(("VARCHAR", "TEXT", "UUID", "STRING")):
        return "string"
    if n.startswith(
        (
            "TINYINT",
            "SMALLINT",
            "INTEGER",
            "BIGINT",
            "HUGEINT",
            "UTINYINT",
            "USMALLINT",
            "UINTEGER",
            "UBIGINT",
            "UHUGEINT",
            "FLOAT",
            "DOUBLE",
            "DECIMAL",
            "REAL",
        )
    ):
        return "number"
    return "unknown"
