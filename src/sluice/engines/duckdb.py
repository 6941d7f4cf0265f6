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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa

from sluice.engines.base import READER_BATCH_ROWS, CancelToken
from sluice.engines.types import TypeNames, names
from sluice.errors import Cancelled, QueryError

# The sandbox, set when the connection opens. Then the configuration is locked (``SET
# lock_configuration``, last, so nothing can undo the rest): the engine locks it once its cursors
# are made, ``connect_sandboxed`` at once. Every opener passes the same options, because DuckDB
# shares one instance per file within a process and refuses a second connection that asks for
# other ones.
SANDBOX: dict[str, str | bool | int | float | list[str]] = {
    "enable_external_access": False,
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
}


def connect_sandboxed(path: Path | str) -> duckdb.DuckDBPyConnection:
    """A read-only connection to a database file with the engine's sandbox, locked. Everything
    that reads a warehouse file next to an engine uses this."""
    conn = duckdb.connect(str(path), read_only=True, config=dict(SANDBOX))
    _lock_configuration(conn)
    return conn


class DuckDBEngine:
    dialect = "duckdb"

    def __init__(
        self,
        database: Path | str | None = None,
        *,
        read_only: bool = True,
        threads: int | None = None,
        cursors: int = 8,
    ) -> None:
        target = str(database) if database is not None else ":memory:"
        config = dict(SANDBOX)
        if threads:
            config["threads"] = threads
        self._conn = duckdb.connect(
            target, read_only=read_only and target != ":memory:", config=config
        )
        self._lock = threading.Lock()
        # Cursors are checked out, one statement at a time each (a DuckDB cursor is its own
        # session and not safe to share between threads). Progress tracking is a per-session
        # setting that a locked configuration refuses, so the pool is made, with progress on,
        # before the lock; a cursor made after it (the pool ran dry) reports no progress.
        self._all = [_tracking(self._conn.cursor()) for _ in range(max(1, cursors))]
        self._idle = list(self._all)
        _lock_configuration(self._conn)  # last: nothing can undo the rest

    @contextmanager
    def _cursor(self) -> Iterator[duckdb.DuckDBPyConnection]:
        with self._lock:
            cur = self._idle.pop() if self._idle else None
        if cur is None:
            cur = self._conn.cursor()
            with self._lock:
                self._all.append(cur)
        try:
            yield cur
        finally:
            with self._lock:
                self._idle.append(cur)

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        with self._cursor() as cur:
            interrupter = _Interrupter(cur)
            if cancel is not None:
                cancel.bind(interrupter.fire)
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
                interrupter.done()
                if cancel is not None:
                    cancel.bind(None)
                    cancel.bind_progress(None)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return table

    @contextmanager
    def execute_reader(
        self, sql: str, cancel: CancelToken | None = None
    ) -> Iterator[pa.RecordBatchReader]:
        """DuckDB's own streaming result: each batch is computed as it is read (an ORDER BY or
        an aggregate still finishes its work before the first one). The cursor, and the
        interrupt and progress bound to the token, stay with the statement until the context
        exits; leaving early closes the stream, which abandons the statement."""
        with self._cursor() as cur:
            interrupter = _Interrupter(cur)
            if cancel is not None:
                cancel.bind(interrupter.fire)
                cancel.bind_progress(lambda: _progress(cur))
            source: pa.RecordBatchReader | None = None
            try:
                try:
                    source = cur.sql(sql).to_arrow_reader(READER_BATCH_ROWS)
                except duckdb.Error as exc:
                    raise _failure(exc, cancel) from None
                reader = pa.RecordBatchReader.from_batches(source.schema, _batches(source, cancel))
                yield reader
            finally:
                if source is not None:
                    source.close()
                interrupter.done()
                if cancel is not None:
                    cancel.bind(None)
                    cancel.bind_progress(None)

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        with self._cursor() as cur:
            try:
                rel = cur.table(f"{schema}.{table}" if schema else table)
            except duckdb.Error as exc:
                raise QueryError(str(exc)) from None
            return _column_types(rel)

    def query_types(self, sql: str) -> dict[str, str]:
        """Column types of an arbitrary SELECT (derived tables), without running it."""
        with self._cursor() as cur:
            return _column_types(cur.sql(sql))

    def close(self) -> None:
        with self._lock:
            for cur in self._all:
                cur.close()
            self._all.clear()
            self._idle.clear()
        self._conn.close()


def _batches(source: pa.RecordBatchReader, cancel: CancelToken | None) -> Iterator[pa.RecordBatch]:
    """``source``'s batches; DuckDB's errors while streaming (an interrupt, a failed cast)
    become the engine contract's Cancelled and QueryError."""
    while True:
        try:
            batch = source.read_next_batch()
        except StopIteration:
            break
        except (duckdb.Error, pa.ArrowException, OSError) as exc:
            raise _failure(exc, cancel) from None
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        yield batch
    if cancel is not None and cancel.cancelled:
        raise Cancelled("the query was cancelled")


def _failure(exc: Exception, cancel: CancelToken | None) -> Exception:
    """The contract's error for a DuckDB failure (an interrupt surfaces as an Arrow I/O error
    while a stream is read)."""
    if isinstance(exc, duckdb.InterruptException) or (cancel is not None and cancel.cancelled):
        return Cancelled("the query was cancelled")
    message = str(exc)
    if message.startswith("INTERRUPT Error"):
        return Cancelled("the query was cancelled")
    return QueryError(message)


def _tracking(cur: duckdb.DuckDBPyConnection) -> duckdb.DuckDBPyConnection:
    """A cursor that tracks its statement's progress (for GET /query/jobs/{id}), printing no
    bar. DuckDB shares one database instance per file within a process: where another engine
    has locked it already, the cursor is left as it is (no progress), never unlocked."""
    try:
        cur.execute("SET enable_progress_bar = true")
        cur.execute("SET enable_progress_bar_print = false")
    except duckdb.InvalidInputException:
        pass  # the shared instance's configuration is locked: no progress for this cursor
    return cur


def _lock_configuration(conn: duckdb.DuckDBPyConnection) -> None:
    ((locked,),) = conn.execute("SELECT current_setting('lock_configuration')").fetchall()
    if not locked:
        conn.execute("SET lock_configuration = true")


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
