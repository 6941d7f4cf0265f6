"""Trino through its Python client (``trino.dbapi``).

Trino's client protocol is JSON over HTTP, so results arrive as rows; the engine turns them
into Arrow column by column, with a schema derived from the statement's column types (not from
the values), so an empty result or an all-NULL column still has its declared type. Complex
types that have no portable Arrow form (``row``, ``map``, ``json``, ``uuid``, ``ipaddress``,
intervals) arrive as strings.

One client connection per worker thread (the client's HTTP session is not shared across
threads); at most ``max_concurrency`` statements in flight. Cancel is ``cursor.cancel()`` (an
HTTP DELETE of the running query), from any thread. ``statement_timeout_s`` becomes Trino's
``query_max_run_time`` session property, so the coordinator enforces it. The coordinator must
be reachable when the engine is built: a short TCP probe fails fast with the host and port.
"""

from __future__ import annotations

import contextlib
import json
import re
import socket
import threading
from collections.abc import Sequence
from contextlib import AbstractContextManager
from decimal import Decimal
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import pyarrow as pa
import trino.auth
import trino.dbapi
import trino.exceptions

from sluice.engines.base import CancelToken, table_reader
from sluice.engines.types import TypeNames
from sluice.errors import Cancelled, ConfigError, QueryError

if TYPE_CHECKING:
    from sluice.config import ConnectionConfig

DEFAULT_PORT = 8080
# Trino error names that mean "stopped", not "wrong": they become Cancelled.
_STOPPED = frozenset({"USER_CANCELED", "EXCEEDED_TIME_LIMIT", "ADMINISTRATIVELY_KILLED"})

_SIMPLE_ARROW: dict[str, pa.DataType] = {
    "boolean": pa.bool_(),
    "tinyint": pa.int8(),
    "smallint": pa.int16(),
    "integer": pa.int32(),
    "bigint": pa.int64(),
    "real": pa.float32(),
    "double": pa.float64(),
    "varchar": pa.string(),
    "char": pa.string(),
    "date": pa.date32(),
    "varbinary": pa.binary(),
    "unknown": pa.null(),  # the type of a bare NULL literal
}


def _split_type(type_name: str) -> tuple[str, str, bool]:
    """``timestamp(3) with time zone`` -> ("timestamp", "3", True)."""
    n = " ".join(type_name.lower().split())
    match = re.fullmatch(r"([a-z ]+?)\s*(?:\((.*)\))?(\s+with time zone)?", n)
    if match is None:
        return n, "", False
    return match.group(1), match.group(2) or "", bool(match.group(3))


TYPE_NAMES = TypeNames(
    exact={  # base names, as _split_type gives them
        "boolean": "boolean",
        "tinyint": "number",
        "smallint": "number",
        "integer": "number",
        "bigint": "number",
        "real": "number",
        "double": "number",
        "decimal": "number",
        "varchar": "string",
        "char": "string",
        "uuid": "string",
        "date": "date",
        "timestamp": "timestamp",
    },
    base=lambda name: _split_type(name)[0],
)


def trino_type_to_arrow(type_name: str) -> pa.DataType:
    """The Arrow type a column of Trino type ``type_name`` is returned as."""
    base, args, with_tz = _split_type(type_name)
    if base in _SIMPLE_ARROW:
        return _SIMPLE_ARROW[base]
    if base == "decimal":
        precision, _, scale = args.partition(",")
        try:
            return pa.decimal128(int(precision), int(scale or 0))
        except ValueError:
            return pa.string()
    if base == "timestamp":
        return pa.timestamp("us", tz="UTC" if with_tz else None)
    if base == "time" and not with_tz:
        return pa.time64("us")
    if base == "array":
        inner = trino_type_to_arrow(args)
        return pa.list_(inner) if _is_plain(inner) else pa.string()
    return pa.string()


def trino_type_to_data_type(type_name: str) -> str:
    """Map a Trino type name (``varchar(20)``, ``timestamp(3) with time zone``) to sluice's."""
    return TYPE_NAMES.data_type(type_name)


def _is_plain(t: pa.DataType) -> bool:
    return not (pa.types.is_string(t) or pa.types.is_null(t) or pa.types.is_nested(t))


def rows_to_arrow(rows: Sequence[Sequence[Any]], columns: Sequence[tuple[str, str]]) -> pa.Table:
    """Build an Arrow table from client rows, typed by ``columns`` (name, Trino type)."""
    fields = [pa.field(name, trino_type_to_arrow(type_name)) for name, type_name in columns]
    arrays = []
    for index, field in enumerate(fields):
        values = [row[index] for row in rows]
        if pa.types.is_string(field.type):
            values = [_as_text(v) for v in values]
        arrays.append(pa.array(values, type=field.type))
    return pa.Table.from_arrays(arrays, schema=pa.schema(fields))


def _as_text(value: Any) -> str | None:
    if value is None or isinstance(value, str):
        return value
    if isinstance(value, list | dict | tuple):
        return json.dumps(value, default=str)
    if isinstance(value, Decimal):
        return format(value, "f")
    return str(value)


class TrinoEngine:
    dialect = "trino"

    def __init__(
        self,
        url: str,
        *,
        user: str = "sluice",
        catalog: str | None = None,
        schema: str | None = None,
        password: str | None = None,
        max_concurrency: int = 4,
        statement_timeout_s: float = 0.0,
        request_timeout_s: float = 30.0,
        connect_timeout_s: float = 10.0,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
        parts = urlsplit(url if "://" in url else f"http://{url}")
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ConfigError(f"a trino url looks like http://host:8080, got {url!r}")
        self.host = parts.hostname
        self.port = parts.port or (443 if parts.scheme == "https" else DEFAULT_PORT)
        self.where = f"{self.host}:{self.port}"
        self._scheme = parts.scheme
        self._user = parts.username or user
        self._catalog = catalog
        self._schema = schema
        if password and parts.scheme != "https":
            raise ConfigError(f"trino at {self.where}: a password is only sent over https://")
        self._auth = trino.auth.BasicAuthentication(self._user, password) if password else None
        self._request_timeout = request_timeout_s
        self._session_properties = (
            {"query_max_run_time": f"{max(1, round(statement_timeout_s))}s"}
            if statement_timeout_s > 0
            else None
        )
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._local = threading.local()
        self._connections: list[Any] = []
        self._lock = threading.Lock()
        _probe(self.host, self.port, connect_timeout_s, self.where)

    @classmethod
    def from_config(cls, conn: ConnectionConfig) -> TrinoEngine:
        if conn.url:
            url = conn.url
        elif conn.host:
            url = f"http://{conn.host}:{conn.port or DEFAULT_PORT}"
        else:
            raise ConfigError(f"connection {conn.name}: trino needs `url` or `host`")
        return cls(
            url,
            user=conn.user or "sluice",
            catalog=conn.catalog,
            schema=conn.schema,
            password=conn.password(),
            max_concurrency=conn.max_concurrency,
            statement_timeout_s=conn.statement_timeout_s,
        )

    def _connection(self) -> Any:
        conn: Any = getattr(self._local, "conn", None)
        if conn is None:
            conn = _connect(
                host=self.host,
                port=self.port,
                user=self._user,
                catalog=self._catalog,
                schema=self._schema,
                http_scheme=self._scheme,
                auth=self._auth,
                session_properties=self._session_properties,
                request_timeout=self._request_timeout,
                source="sluice",
            )
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    def execute_reader(
        self, sql: str, cancel: CancelToken | None = None
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """The whole table, read batch by batch (the driver hands back whole results)."""
        return table_reader(self.execute, sql, cancel)

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        with self._slots:
            return self._execute(sql, cancel)

    def _execute(self, sql: str, cancel: CancelToken | None) -> pa.Table:
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        cur = self._connection().cursor()
        if cancel is not None:
            cancel.bind(lambda: _quietly_cancel(cur))
        try:
            cur.execute(sql)
            rows = cur.fetchall()
            description = cur.description or []
        except trino.exceptions.TrinoQueryError as exc:
            if (cancel is not None and cancel.cancelled) or exc.error_name in _STOPPED:
                user = cancel is not None and cancel.cancelled
                raise Cancelled("the query was cancelled" if user else _message(exc)) from None
            raise QueryError(_message(exc)) from None
        except (trino.exceptions.Error, trino.exceptions.HttpError) as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("the query was cancelled") from None
            raise QueryError(f"trino at {self.where}: {_first_line(exc)}") from None
        finally:
            if cancel is not None:
                cancel.bind(None)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return rows_to_arrow(rows, [(d[0], str(d[1])) for d in description])

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        prefix = f"{_quote_ident(self._catalog)}." if self._catalog else ""
        where_schema = _quote_literal(schema) if schema else "current_schema"
        result = self.execute(
            f"SELECT column_name, data_type FROM {prefix}information_schema.columns"
            f" WHERE table_schema = {where_schema} AND table_name = {_quote_literal(table)}"
            " ORDER BY ordinal_position"
        )
        if result.num_rows == 0:
            name = f"{schema}.{table}" if schema else table
            raise QueryError(f"trino at {self.where}: no table {name!r}")
        names, types = result.column(0).to_pylist(), result.column(1).to_pylist()
        return {str(n): trino_type_to_data_type(str(t)) for n, t in zip(names, types, strict=True)}

    def close(self) -> None:
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            conn.close()


_connect: Any = trino.dbapi.connect  # the client is untyped


def _quietly_cancel(cur: Any) -> None:
    with contextlib.suppress(trino.exceptions.Error, trino.exceptions.HttpError):
        cur.cancel()  # raises when the query ended meanwhile: nothing left to cancel


def _message(exc: trino.exceptions.TrinoQueryError) -> str:
    name = f" ({exc.error_name})" if exc.error_name else ""
    return f"{exc.message}{name}"


def _first_line(exc: BaseException) -> str:
    """A connection error's reason, without the urllib3 object reprs around it."""
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    match = re.search(r"\[Errno -?\d+\] ([^'\")]+)", text)
    return match.group(1).strip() if match else text


def _quote_ident(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _quote_literal(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def _probe(host: str, port: int, timeout_s: float, where: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise QueryError(f"cannot connect to trino at {where}: {reason}") from None
