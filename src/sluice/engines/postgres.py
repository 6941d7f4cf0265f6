"""PostgreSQL through ADBC: results arrive as Arrow (binary COPY), never as Python rows.

A small pool of autocommit connections, bounded by ``pool_size``; each statement takes one,
runs on its own cursor and gives it back. Every connection is set up once: the schema search
path, ``TimeZone = UTC`` (results must not depend on the server's default),
``default_transaction_read_only = on`` (every statement runs in a read-only transaction, so no
statement can write, whatever the SQL-mode check let through; ``read_only=False`` is for the
loader and tests only) and ``statement_timeout`` when a limit is configured. Cancel is
PostgreSQL's out-of-band cancel request (``cursor.adbc_cancel()``), callable from any thread;
the interrupted statement fails with SQLSTATE 57014, which becomes ``Cancelled`` (so does a
statement timeout).

``NUMERIC`` has no fixed Arrow type: ADBC hands it over as text. ``NUMERIC(p, s)`` becomes
``decimal128(p, s)`` (p <= 38); an unbounded ``NUMERIC`` (``sum(bigint)``, ``avg(integer)``)
becomes ``double``, as DuckDB's ``avg`` does.
"""

from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import adbc_driver_manager
import adbc_driver_postgresql.dbapi as adbc_pg
import pyarrow as pa
import pyarrow.compute as pc
from adbc_driver_manager.dbapi import Connection

from sluice.engines.base import CancelToken, table_reader
from sluice.engines.types import TypeNames, names
from sluice.errors import Cancelled, ConfigError, QueryError

if TYPE_CHECKING:
    from sluice.config import ConnectionConfig


_QUERY_CANCELED = "57014"  # user cancel and statement_timeout alike
# SQLSTATE classes after which a connection is not reused: connection exception, operator
# intervention (admin shutdown, crash), and an unknown state (no SQLSTATE at all).
_BROKEN_CLASSES = ("08", "57P")


# ``information_schema.columns.data_type`` names
TYPE_NAMES = TypeNames(
    exact={
        "date": "date",
        "boolean": "boolean",
        **names("number", "smallint", "integer", "bigint", "numeric", "decimal", "real",
                "double precision", "money"),
        **names("string", "text", "character varying", "character", "name", "uuid", "citext"),
    },
    prefixes={"timestamp": "timestamp"},
)  # fmt: skip


def pg_type_to_data_type(name: str) -> str:
    """Map an ``information_schema.columns.data_type`` to a sluice data type."""
    return TYPE_NAMES.data_type(name)


def quote_ident(name: str) -> str:
    """A PostgreSQL identifier, always quoted."""
    return '"' + name.replace('"', '""') + '"'


class PostgresEngine:
    dialect = "postgres"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        password: str | None = None,
        pool_size: int = 4,
        statement_timeout_s: float = 0.0,
        connect_timeout_s: float = 10.0,
        read_only: bool = True,
    ) -> None:
        if pool_size < 1:
            raise ConfigError(f"pool_size must be at least 1, got {pool_size}")
        self._uri, self.where = _connection_uri(url, password, connect_timeout_s)
        self.schema = schema
        setup = ["SET TimeZone = 'UTC'"]
        if read_only:
            setup.append("SET default_transaction_read_only = on")
        if schema:
            setup.append(f"SET search_path TO {quote_ident(schema)}")
        if statement_timeout_s > 0:
            setup.append(f"SET statement_timeout = {max(1, round(statement_timeout_s * 1000))}")
        self._setup = tuple(setup)
        self._slots = threading.BoundedSemaphore(pool_size)
        self._idle: list[Connection] = []
        self._lock = threading.Lock()
        self._closed = False
        # Fail fast on a wrong URL, a refused connection or bad credentials.
        self._release(self._acquire()[0], healthy=True)

    @classmethod
    def from_config(cls, conn: ConnectionConfig) -> PostgresEngine:
        if conn.url:
            url = conn.url
        elif conn.host:
            user = f"{quote(conn.user, safe='')}@" if conn.user else ""
            port = f":{conn.port}" if conn.port else ""
            url = f"postgresql://{user}{conn.host}{port}/{quote(conn.dbname or '', safe='')}"
        else:
            raise ConfigError(f"connection {conn.name}: postgres needs `url` or `host`")
        return cls(
            url,
            schema=conn.schema,
            password=conn.password(),
            pool_size=conn.pool_size,
            statement_timeout_s=conn.statement_timeout_s,
        )

    # -- the pool ---------------------------------------------------------------------------

    def _acquire(self) -> tuple[Connection, bool]:
        """A connection for one statement, and whether it was reused from the pool."""
        self._slots.acquire()
        try:
            with self._lock:
                if self._closed:
                    raise QueryError(f"postgres at {self.where}: the engine is closed")
                if self._idle:
                    return self._idle.pop(), True
            return self._connect(), False
        except BaseException:
            self._slots.release()
            raise

    def _release(self, conn: Connection, *, healthy: bool) -> None:
        try:
            with self._lock:
                if healthy and not self._closed:
                    self._idle.append(conn)
                    return
            conn.close()
        finally:
            self._slots.release()

    def _connect(self) -> Connection:
        try:
            conn: Connection = adbc_pg.connect(self._uri, autocommit=True)
        except adbc_driver_manager.Error as exc:
            raise QueryError(
                f"cannot connect to postgres at {self.where}: {error_message(exc)}"
            ) from None
        try:
            with conn.cursor() as cur:
                for statement in self._setup:
                    cur.execute(statement)
        except adbc_driver_manager.Error as exc:
            conn.close()
            raise QueryError(f"postgres at {self.where}: {error_message(exc)}") from None
        return conn

    # -- the Engine protocol ----------------------------------------------------------------

    def execute_reader(
        self, sql: str, cancel: CancelToken | None = None
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """The whole table, read batch by batch (the driver hands back whole results)."""
        return table_reader(self.execute, sql, cancel)

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        try:
            return self._execute(sql, cancel, retry_stale=True)
        except adbc_driver_manager.Error as exc:
            if exc.sqlstate == _QUERY_CANCELED or (cancel is not None and cancel.cancelled):
                user = cancel is not None and cancel.cancelled
                raise Cancelled(
                    "the query was cancelled" if user else error_message(exc, with_state=False)
                ) from None
            raise QueryError(error_message(exc)) from None

    def _execute(self, sql: str, cancel: CancelToken | None, *, retry_stale: bool) -> pa.Table:
        conn, reused = self._acquire()
        healthy = False
        try:
            table = self._run(conn, sql, cancel)
            healthy = True
        except adbc_driver_manager.Error as exc:
            healthy = _usable_after(exc)
            # A pooled connection the server dropped while idle (restart, idle timeout,
            # pg_terminate_backend) fails at once; run the statement again on a new one.
            stale = reused and not healthy and not (cancel is not None and cancel.cancelled)
            if not (stale and retry_stale):
                raise
        finally:
            self._release(conn, healthy=healthy)
        if not healthy:  # the others idle since the same restart are stale too: drop them
            self._drop_idle()
            return self._execute(sql, cancel, retry_stale=False)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return table

    def _run(self, conn: Connection, sql: str, cancel: CancelToken | None) -> pa.Table:
        with conn.cursor() as cur:
            if cancel is not None:
                cancel.bind(cur.adbc_cancel)
            try:
                if cancel is not None and cancel.cancelled:
                    raise Cancelled("the query was cancelled")
                cur.execute(sql)
                return normalize_arrow(cur.fetch_arrow_table())
            finally:
                if cancel is not None:
                    cancel.bind(None)

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        where = quote_literal(schema) if schema else "current_schema()"
        sql = (
            "SELECT column_name, data_type FROM information_schema.columns"
            f" WHERE table_schema = {where} AND table_name = {quote_literal(table)}"
            " ORDER BY ordinal_position"
        )
        result = self.execute(sql)
        if result.num_rows == 0:
            name = f"{schema}.{table}" if schema else table
            raise QueryError(f"postgres at {self.where}: no table {name!r}")
        names = result.column(0).to_pylist()
        types = result.column(1).to_pylist()
        return {str(n): pg_type_to_data_type(str(t)) for n, t in zip(names, types, strict=True)}

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._drop_idle()

    def _drop_idle(self) -> None:
        with self._lock:
            idle, self._idle = self._idle, []
        for conn in idle:
            conn.close()


def _usable_after(exc: adbc_driver_manager.Error) -> bool:
    """Whether a connection can go back to the pool after ``exc``: a plain statement error."""
    state = exc.sqlstate or ""
    return bool(state) and not state.startswith(_BROKEN_CLASSES)


def quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def normalize_arrow(table: pa.Table) -> pa.Table:
    """Plain Arrow types and no driver metadata: NUMERIC text becomes decimal or double."""
    fields: list[pa.Field] = []
    columns: list[pa.ChunkedArray] = []
    for field, column in zip(table.schema, table.columns, strict=True):
        meta = field.metadata or {}
        if isinstance(field.type, pa.BaseExtensionType):
            column = pa.chunked_array(
                [chunk.storage for chunk in column.chunks], type=field.type.storage_type
            )
            if meta.get(b"POSTGRESQL:type") == b"numeric":
                column = _numeric(column, int(meta.get(b"POSTGRESQL:typmod", b"-1")))
        fields.append(pa.field(field.name, column.type, field.nullable))
        columns.append(column)
    return pa.Table.from_arrays(columns, schema=pa.schema(fields))


def _numeric(text: pa.ChunkedArray, typmod: int) -> pa.ChunkedArray:
    if typmod >= 4:  # NUMERIC(p, s): typmod - 4 = p << 16 | s
        precision, scale = (typmod - 4) >> 16, (typmod - 4) & 0xFFFF
        if 0 < precision <= 38:
            try:
                return pc.cast(text, pa.decimal128(precision, scale))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
                pass  # 'NaN' and friends: fall back to double
    return pc.cast(text, pa.float64())


def error_message(exc: adbc_driver_manager.Error, *, with_state: bool = True) -> str:
    """The server's own words (primary message, detail, hint) and SQLSTATE; no driver noise."""
    diag: dict[str, str] = {}
    for key, value in getattr(exc, "details", None) or []:
        k = key.decode() if isinstance(key, bytes) else str(key)
        diag[k] = value.decode(errors="replace") if isinstance(value, bytes) else str(value)
    text = diag.get("PG_DIAG_MESSAGE_PRIMARY")
    if text is None:
        text = _strip_driver_prefix(str(exc))
    for key, label in (("PG_DIAG_MESSAGE_DETAIL", "DETAIL"), ("PG_DIAG_MESSAGE_HINT", "HINT")):
        if key in diag:
            text += f" ({label}: {diag[key]})"
    if with_state and exc.sqlstate and "SQLSTATE" not in text:
        text += f" (SQLSTATE {exc.sqlstate})"
    return text


def _strip_driver_prefix(text: str) -> str:
    """``IO: [libpq] Failed to connect: connection to server ...`` -> ``connection to ...``."""
    text = text.split("\n\nQuery was:", 1)[0]  # the driver repeats the whole statement
    head, sep, rest = text.partition(":")
    if sep and head.isupper():
        text = rest
    text = " ".join(text.split())
    for prefix in ("[libpq] ", "Failed to connect: ", "Failed to prepare query: "):
        text = text.removeprefix(prefix)
    return text.removeprefix("Failed to execute query: ")


def _connection_uri(url: str, password: str | None, connect_timeout_s: float) -> tuple[str, str]:
    """The libpq URI to open (password and defaults added) and ``host:port/db`` for messages."""
    parts = urlsplit(url)
    if parts.scheme not in ("postgresql", "postgres"):
        raise ConfigError(f"a postgres url starts with postgresql://, got {parts.scheme!r}")
    netloc = parts.netloc
    if password is not None:
        userinfo, at, hostport = netloc.rpartition("@")
        user = userinfo.partition(":")[0] if at else ""
        netloc = f"{user}:{quote(password, safe='')}@{hostport}"
    query = dict(parse_qsl(parts.query))
    query.setdefault("connect_timeout", str(max(1, round(connect_timeout_s))))
    query.setdefault("application_name", "sluice")
    uri = urlunsplit((parts.scheme, netloc, parts.path, urlencode(query), ""))
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}{parts.path or '/'}"
    return uri, where
