"""Apache Spark through Spark Connect: SQL in, Arrow batches out over gRPC.

One Spark Connect session per engine (sessions are thread-safe; each statement is its own
ExecutePlan call), with at most ``max_concurrency`` statements in flight. Every statement runs
under a unique operation tag (tags are thread-local in the client), so cancel is
``interruptTag(tag)``: it stops exactly that statement's Spark jobs, from any thread. A
``statement_timeout_s`` is enforced the same way, by a timer. The session is set up once:
``spark.sql.session.timeZone = UTC`` and ``spark.sql.timestampType = TIMESTAMP_NTZ``, so a
``TIMESTAMP`` literal or cast means a wall-clock timestamp, as it does in DuckDB and PostgreSQL
(override with ``session_conf``).

The warehouse address must be reachable when the engine is built: a short TCP probe fails fast
with the host and port instead of leaving the gRPC client retrying for minutes.
"""

from __future__ import annotations

import contextlib
import re
import socket
import threading
import uuid
import warnings
from collections.abc import Mapping
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

import pyarrow as pa

from sluice.engines.base import CancelToken, table_reader
from sluice.engines.types import TypeNames, names
from sluice.errors import Cancelled, ConfigError, QueryError

if TYPE_CHECKING:
    from sluice.config import ConnectionConfig

DEFAULT_PORT = 15002
DEFAULT_SESSION_CONF: Mapping[str, str] = {
    "spark.sql.session.timeZone": "UTC",
    "spark.sql.timestampType": "TIMESTAMP_NTZ",
}


# ``DataType.typeName()`` / ``simpleString()`` names
TYPE_NAMES = TypeNames(
    exact={"date": "date", "boolean": "boolean"},
    prefixes={
        "timestamp": "timestamp",
        **names("number", "byte", "tinyint", "short", "smallint", "integer", "int", "long",
                "bigint", "float", "double", "decimal"),
        **names("string", "string", "varchar", "char"),
    },
)  # fmt: skip


def spark_type_to_data_type(type_name: str) -> str:
    """Map a Spark SQL type name (``DataType.typeName()``/``simpleString()``) to a sluice type."""
    return TYPE_NAMES.data_type(type_name)


def quote_ident(name: str) -> str:
    """A Spark SQL identifier, always quoted."""
    return "`" + name.replace("`", "``") + "`"


def parse_remote(url: str) -> tuple[str, int]:
    """``sc://host:port[/;params]`` -> (host, port)."""
    match = re.fullmatch(r"sc://(\[[^\]]+\]|[^:/;]+)(?::(\d+))?(/.*)?", url)
    if match is None:
        raise ConfigError(f"a spark connect url looks like sc://host:15002, got {url!r}")
    host = match.group(1).strip("[]")
    return host, int(match.group(2) or DEFAULT_PORT)


class SparkEngine:
    dialect = "spark"

    def __init__(
        self,
        url: str,
        *,
        schema: str | None = None,
        max_concurrency: int = 4,
        statement_timeout_s: float = 0.0,
        connect_timeout_s: float = 10.0,
        session_conf: Mapping[str, str] | None = None,
    ) -> None:
        if max_concurrency < 1:
            raise ConfigError(f"max_concurrency must be at least 1, got {max_concurrency}")
        host, port = parse_remote(url)
        self.where = f"{host}:{port}"
        _probe(host, port, connect_timeout_s, self.where)
        self._timeout = statement_timeout_s
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._spark: Any = _session(url)
        try:
            conf = {**DEFAULT_SESSION_CONF, **(session_conf or {})}
            for key, value in conf.items():
                self._spark.conf.set(key, value)
            if schema:
                self._spark.sql(f"USE {quote_ident(schema)}")
        except Exception as exc:
            self._spark.stop()
            raise QueryError(f"spark at {self.where}: {_message(exc)}") from None

    @classmethod
    def from_config(cls, conn: ConnectionConfig) -> SparkEngine:
        if conn.url:
            url = conn.url
        elif conn.host:
            url = f"sc://{conn.host}:{conn.port or DEFAULT_PORT}"
        else:
            raise ConfigError(f"connection {conn.name}: spark needs `url` or `host`")
        params = []
        if conn.user:
            params.append(f"user_id={quote(conn.user, safe='')}")
        token = conn.password()
        if token:  # Spark Connect's bearer token (it implies TLS)
            params.append(f"token={quote(token, safe='')}")
        if params:
            url = url.rstrip("/") + "/;" + ";".join(params)
        return cls(
            url,
            schema=conn.schema,
            max_concurrency=conn.max_concurrency,
            statement_timeout_s=conn.statement_timeout_s,
        )

    def execute_reader(
        self, sql: str, cancel: CancelToken | None = None
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """The whole table, read batch by batch (the driver hands back whole results)."""
        return table_reader(self.execute, sql, cancel)

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        with self._slots:
            return self._execute(sql, cancel)

    def _execute(self, sql: str, cancel: CancelToken | None) -> pa.Table:
        tag = f"sluice-{uuid.uuid4().hex}"
        timed_out = threading.Event()
        timer: threading.Timer | None = None

        def interrupt() -> None:
            with contextlib.suppress(Exception):  # finished meanwhile: nothing left to stop
                self._spark.interruptTag(tag)

        def expire() -> None:
            timed_out.set()
            interrupt()

        self._spark.addTag(tag)
        try:
            if cancel is not None:
                cancel.bind(interrupt)
                if cancel.cancelled:
                    raise Cancelled("the query was cancelled")
            if self._timeout > 0:
                timer = threading.Timer(self._timeout, expire)
                timer.daemon = True
                timer.start()
            table: pa.Table = self._spark.sql(sql).toArrow()
        except Cancelled:
            raise
        except Exception as exc:
            if cancel is not None and cancel.cancelled:
                raise Cancelled("the query was cancelled") from None
            if timed_out.is_set():
                raise Cancelled(
                    f"the query was cancelled after the statement timeout ({self._timeout:g}s)"
                ) from None
            raise QueryError(_message(exc)) from None
        finally:
            if timer is not None:
                timer.cancel()
            if cancel is not None:
                cancel.bind(None)
            self._spark.removeTag(tag)
        if cancel is not None and cancel.cancelled:
            raise Cancelled("the query was cancelled")
        return table

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        name = f"{quote_ident(schema)}.{quote_ident(table)}" if schema else quote_ident(table)
        try:
            fields = self._spark.table(name).schema.fields
        except Exception as exc:
            raise QueryError(_message(exc)) from None
        return {f.name: spark_type_to_data_type(f.dataType.simpleString()) for f in fields}

    def close(self) -> None:
        self._spark.stop()


def _session(url: str) -> Any:
    with warnings.catch_warnings():
        # pyspark warns on import that pandas >= 3 is not fully supported; sluice never hands
        # it pandas (results come back as Arrow).
        warnings.filterwarnings("ignore", "PySpark does not yet fully support pandas")
        from pyspark.sql import SparkSession

        return SparkSession.builder.remote(url).create()


def _probe(host: str, port: int, timeout_s: float, where: str) -> None:
    try:
        with socket.create_connection((host, port), timeout=timeout_s):
            pass
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise QueryError(f"cannot connect to spark connect at {where}: {reason}") from None


_PLAN_TAIL = re.compile(r"(; line \d+ pos \d+);\n.*", re.DOTALL)


def _message(exc: BaseException) -> str:
    """Spark's message: error class, text and SQLSTATE, without the JVM stack or the plan."""
    text = str(exc).split("\n\nJVM stacktrace:", 1)[0]
    text = _PLAN_TAIL.sub(r"\1", text)
    return text.strip() or type(exc).__name__
