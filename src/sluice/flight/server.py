"""The Arrow Flight SQL endpoint of ``sluice serve`` (pyarrow's Flight server).

It runs in the same process as the HTTP app, on its own gRPC threads, and shares everything
with it: a statement is translated to the query object an HTTP client would send
(``sluice.flight.semantic``) and submitted to the same job service, so compiling, the result
cache, single flight, per-connection concurrency, job records and ``/metrics`` are one machinery
for both. A Flight handler thread hands coroutines to the app's event loop and waits for them.

A statement runs in ``GetFlightInfo`` (so the FlightInfo carries the real schema and row count);
the result waits, as the cached Arrow IPC stream it already is, for the ``DoGet`` of its ticket,
which streams it batch by batch: no row becomes a Python object. A client that cancels the call
(or whose deadline passes) cancels the job, which interrupts the warehouse.

Errors: a bad key is ``UNAUTHENTICATED``, a forbidden action ``PERMISSION_DENIED``, a query
that is not a semantic query (or fails to plan) an error naming the problem; no Python
traceback ever reaches the client (only Flight's own error classes are raised).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import concurrent.futures
import logging
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import pyarrow as pa
import pyarrow.flight as flight

from sluice.auth.principal import Principal
from sluice.cache import CachePolicy
from sluice.config import UserConfig
from sluice.errors import ConfigError, NotFound, RateLimited, SemanticSqlError, SluiceError
from sluice.flight import catalog, sqlinfo
from sluice.flight.protocol import (
    CANCEL_CANCELLED,
    CANCEL_NOT_CANCELLABLE,
    message,
    pack,
    unpack,
)
from sluice.flight.semantic import SemanticQuery, translate
from sluice.jobs.state import JobStatus
from sluice.jobs.types import JobRequest, Outcome
from sluice.query.spec import parse_query

log = logging.getLogger("sluice.flight")

T = TypeVar("T")

USER_HEADER = "x-sluice-user-id"  # impersonation, as ``?userId=`` on HTTP
HELD_RESULT_S = 300.0  # a result not fetched (DoGet) this long after its FlightInfo is dropped
MAX_HELD = 1024
TRANSLATED_MAX = 4096  # statements remembered with their translation
READ_ONLY_MESSAGE = "sluice serves semantic queries only: updates and parameters are not supported"
CATALOG_COMMANDS = (
    "CommandGetCatalogs",
    "CommandGetDbSchemas",
    "CommandGetTables",
    "CommandGetTableTypes",
    "CommandGetSqlInfo",
    "CommandGetPrimaryKeys",
    "CommandGetExportedKeys",
    "CommandGetImportedKeys",
)


class _Bridge:
    """Runs coroutines on the app's event loop from Flight's threads."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def call(self, coro: Coroutine[Any, Any, T], timeout: float | None = 60.0) -> T:
        return self.submit(coro).result(timeout)


@dataclass(frozen=True, slots=True)
class _Session(flight.ServerMiddleware):  # type: ignore[misc]
    principal: Principal
    user_id: str | None
    bearer: str | None  # set when the call came with basic auth: answered with a bearer token

    def sending_headers(self) -> dict[str, str]:
        return {"authorization": self.bearer} if self.bearer else {}


class _Handshake(flight.ServerAuthHandler):  # type: ignore[misc]
    """Lets the Handshake call through: keys are checked by ``_Auth`` on every call, which also
    answers basic credentials with a bearer token (how Flight SQL drivers log in)."""

    def authenticate(self, outgoing: Any, incoming: Any) -> None:
        return None

    def is_valid(self, token: bytes) -> bytes:
        return b""


class _Auth(flight.ServerMiddlewareFactory):  # type: ignore[misc]
    """The same API keys as HTTP: ``authorization: Bearer <key>``, or basic auth with the key as
    the password (answered with ``authorization: Bearer <key>`` for the next calls)."""

    def __init__(self, authenticate: Callable[[str], Principal]) -> None:
        super().__init__()
        self._authenticate = authenticate

    def start_call(self, info: Any, headers: dict[str, list[Any]]) -> _Session:
        header = _header(headers, "authorization")
        if not header:
            raise flight.FlightUnauthenticatedError(
                "Send an API key: an 'authorization: Bearer <key>' header, or basic auth with "
                "the key as the password"
            )
        bearer = None
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() == "basic":
            raw = value.strip()
            try:  # Go clients send it unpadded
                decoded = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True).decode()
            except (binascii.Error, UnicodeDecodeError):
                raise flight.FlightUnauthenticatedError("Malformed basic credentials") from None
            secret = decoded.partition(":")[2].strip()
            header = bearer = f"Bearer {secret}"
        try:
            principal = self._authenticate(header)
        except RateLimited as exc:
            raise flight.FlightUnavailableError(exc.message) from None
        except SluiceError as exc:
            raise flight.FlightUnauthenticatedError(exc.message) from None
        return _Session(principal, _header(headers, USER_HEADER), bearer)


def _header(headers: dict[str, list[Any]], name: str) -> str | None:
    values = headers.get(name) or []
    if not values:
        return None
    value = values[0]
    return value.decode() if isinstance(value, bytes) else str(value)


@dataclass(slots=True)
class _Held:
    organization_id: str
    reader: pa.RecordBatchReader
    result: Any  # the buffer or file the reader reads (closed when dropped)
    expires: float
    job_id: str


class _HeldResults:
    """Results between their FlightInfo and their DoGet, by ticket handle. Thread-safe."""

    def __init__(self) -> None:
        self._items: dict[bytes, _Held] = {}
        self._lock = threading.Lock()

    def put(self, handle: bytes, held: _Held) -> None:
        now = time.monotonic()
        with self._lock:
            stale = [h for h, v in self._items.items() if v.expires < now]
            while len(self._items) - len(stale) >= MAX_HELD and self._items:
                stale.append(next(iter(self._items)))
            dropped = [self._items.pop(h) for h in dict.fromkeys(stale) if h in self._items]
            self._items[handle] = held
        for item in dropped:
            _close(item.result)

    def pop(self, handle: bytes, organization_id: str) -> _Held | None:
        with self._lock:
            found = self._items.get(handle)
            if found is None or found.organization_id != organization_id:
                return None
            return self._items.pop(handle)

    def close(self) -> None:
        with self._lock:
            items, self._items = list(self._items.values()), {}
        for item in items:
            _close(item.result)


def _close(result: Any) -> None:
    if isinstance(result, pa.NativeFile):
        result.close()


class SluiceFlightServer(flight.FlightServerBase):  # type: ignore[misc]
    def __init__(
        self,
        location: str,
        services: Any,  # sluice.api.state.Services (not imported: the api imports this module)
        loop: asyncio.AbstractEventLoop,
        *,
        version: str,
        tls_certificates: list[tuple[bytes, bytes]] | None = None,
    ) -> None:
        self._svc = services
        self._bridge = _Bridge(loop)
        self._version = version
        self._held = _HeldResults()
        self._prepared: dict[bytes, tuple[str, str]] = {}  # handle -> (organization, sql)
        self._translated: OrderedDict[str, SemanticQuery] = OrderedDict()
        self.stopping = threading.Event()  # set first on shutdown: running statements give up
        self._lock = threading.Lock()
        self._models = {
            m.config.name: m.semantic for m in services.project.models.values()
        }  # by name: the catalogs
        self._model_ids = {m.config.name: m.id for m in services.project.models.values()}
        authenticator = services.auth

        def authenticate(header: str) -> Principal:
            found: Principal | None = authenticator.cached(header)
            if found is not None:
                return found
            principal: Principal = self._bridge.call(authenticator.authenticate(header))
            return principal

        auth = _Auth(authenticate)
        super().__init__(
            location,
            auth_handler=_Handshake(),
            middleware={"auth": auth},
            tls_certificates=tls_certificates or [],
        )

    # -- RPCs -----------------------------------------------------------------------------------

    def get_flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        return self._guard(self._flight_info, context, descriptor)

    def get_schema(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        info = self._guard(self._flight_info, context, descriptor)
        return flight.SchemaResult(info.schema)

    def do_get(self, context: Any, ticket: flight.Ticket) -> Any:
        return self._guard(self._do_get, context, ticket)

    def do_action(self, context: Any, action: flight.Action) -> Any:
        return self._guard(self._do_action, context, action)

    def list_actions(self, context: Any) -> list[tuple[str, str]]:
        return [
            ("CreatePreparedStatement", "prepare a semantic SQL query"),
            ("ClosePreparedStatement", "drop a prepared statement"),
            ("CancelFlightInfo", "drop a result not yet fetched"),
        ]

    def do_put(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
        raise flight.FlightServerError(READ_ONLY_MESSAGE)

    def do_exchange(self, context: Any, descriptor: Any, reader: Any, writer: Any) -> None:
        raise flight.FlightServerError(READ_ONLY_MESSAGE)

    def shutdown(self) -> None:
        super().shutdown()
        self._held.close()

    # -- the work -------------------------------------------------------------------------------

    def _guard(self, fn: Callable[..., T], *args: Any) -> T:
        """Only Flight's error classes leave: any other exception would put a traceback in the
        status message the client sees."""
        try:
            return fn(*args)
        except flight.FlightError:
            raise
        except SluiceError as exc:
            raise _flight_error(exc) from None
        except Exception:
            request_id = uuid.uuid4().hex[:16]
            log.exception("Flight SQL call failed (request %s)", request_id)
            raise flight.FlightInternalError(
                f"Internal error (request id {request_id}); the server log has the details"
            ) from None

    def _flight_info(self, context: Any, descriptor: flight.FlightDescriptor) -> Any:
        session = _session(context)
        command = _command(descriptor.command if descriptor.command else b"")
        name, msg = command
        if name == "CommandStatementQuery":
            return self._statement(context, session, descriptor, msg.query)
        if name == "CommandPreparedStatementQuery":
            sql = self._prepared_sql(session, msg.prepared_statement_handle)
            return self._statement(context, session, descriptor, sql)
        if name in CATALOG_COMMANDS:
            table = self._catalog(name, msg)
            endpoint = flight.FlightEndpoint(descriptor.command, [])
            return flight.FlightInfo(table.schema, descriptor, [endpoint], table.num_rows, -1)
        if name in ("CommandStatementUpdate", "CommandPreparedStatementUpdate"):
            raise flight.FlightServerError(READ_ONLY_MESSAGE)
        raise flight.FlightServerError(f"{name} is not supported by sluice")

    def _do_get(self, context: Any, ticket: flight.Ticket) -> Any:
        session = _session(context)
        name, msg = _command(ticket.ticket)
        if name == "TicketStatementQuery":
            held = self._held.pop(msg.statement_handle, session.principal.organization_id)
            if held is None:
                raise flight.FlightServerError(
                    "Unknown or expired ticket: results are held for "
                    f"{HELD_RESULT_S:.0f} s after GetFlightInfo and can be fetched once"
                )
            return flight.RecordBatchStream(held.reader)
        if name in CATALOG_COMMANDS:
            return flight.RecordBatchStream(self._catalog(name, msg))
        raise flight.FlightServerError(f"{name} is not a ticket sluice issues")

    def _do_action(self, context: Any, action: flight.Action) -> Iterator[bytes]:
        session = _session(context)
        body = action.body.to_pybytes() if action.body is not None else b""
        kind = action.type
        org = session.principal.organization_id
        if kind == "CreatePreparedStatement":
            name, msg = _command(body)
            if name != "ActionCreatePreparedStatementRequest":
                raise SemanticSqlError("CreatePreparedStatement takes a prepared statement request")
            self._translate(msg.query)  # refuse a bad statement when it is prepared
            handle = uuid.uuid4().bytes
            with self._lock:
                if len(self._prepared) > 10_000:
                    self._prepared.clear()
                self._prepared[handle] = (org, msg.query)
            result = message(
                "ActionCreatePreparedStatementResult", prepared_statement_handle=handle
            )
            return iter([pack(result)])
        if kind == "ClosePreparedStatement":
            name, msg = _command(body)
            with self._lock:
                found = self._prepared.get(msg.prepared_statement_handle)
                if found is not None and found[0] == org:
                    del self._prepared[msg.prepared_statement_handle]
            return iter([])
        if kind in ("CancelFlightInfo", "CancelQuery"):
            info_bytes = _cancel_info(kind, body)
            status = self._drop(info_bytes, org)
            if kind == "CancelQuery":
                return iter([pack(message("ActionCancelQueryResult", result=status))])
            return iter([bytes([0x08, status])])  # CancelFlightInfoResult{status}
        raise flight.FlightServerError(f"Action {kind} is not supported by sluice")

    def _drop(self, info_bytes: bytes, organization_id: str) -> int:
        """Drop the results a FlightInfo names (its statement already ran in GetFlightInfo)."""
        try:
            info = flight.FlightInfo.deserialize(info_bytes)
        except Exception:
            raise SemanticSqlError("The cancel request does not carry a FlightInfo") from None
        dropped = False
        for endpoint in info.endpoints:
            found = unpack(endpoint.ticket.ticket)
            if found is not None and found[0] == "TicketStatementQuery" and found[1] is not None:
                held = self._held.pop(found[1].statement_handle, organization_id)
                if held is not None:
                    _close(held.result)
                    dropped = True
        return CANCEL_CANCELLED if dropped else CANCEL_NOT_CANCELLABLE

    def _prepared_sql(self, session: _Session, handle: bytes) -> str:
        with self._lock:
            found = self._prepared.get(handle)
        if found is None or found[0] != session.principal.organization_id:
            raise SemanticSqlError("Unknown prepared statement (closed, or from another server)")
        return found[1]

    def _translate(self, sql: str) -> SemanticQuery:
        """The statement's query object; remembered by text (parsing is most of a cached
        query's time on the server, and the models do not change while it runs)."""
        with self._lock:
            found = self._translated.get(sql)
            if found is not None:
                self._translated.move_to_end(sql)
                return found
        server = self._svc.config.server
        semantic = translate(
            sql, self._models, max_rows=server.max_rows, high_limit=server.high_limit
        )
        with self._lock:
            self._translated[sql] = semantic
            while len(self._translated) > TRANSLATED_MAX:
                self._translated.popitem(last=False)
        return semantic

    def _statement(
        self, context: Any, session: _Session, descriptor: flight.FlightDescriptor, sql: str
    ) -> Any:
        semantic = self._translate(sql)
        user: UserConfig | None = self._svc.auth.acting_user(session.principal, session.user_id)
        org = session.principal.organization_id
        query = {"modelId": self._model_ids[semantic.model], **semantic.query}
        request = JobRequest(
            organization_id=org,
            user=user,
            model_id=self._model_ids[semantic.model],
            query=query,
            spec=parse_query(query),  # parsed here, once, like the HTTP API's edge
            cache=CachePolicy.SKIP_REQUERY,
            document=True,
        )
        job_id, outcome = self._run(context, request)
        record = outcome.record
        if record.status is not JobStatus.COMPLETE or outcome.result is None:
            raise _job_error(record.error_type, record.error_message)
        reader = pa.ipc.open_stream(outcome.result)
        reader = _select(reader, semantic.columns)
        handle = uuid.uuid4().bytes
        held = _Held(org, reader, outcome.result, time.monotonic() + HELD_RESULT_S, job_id)
        self._held.put(handle, held)
        ticket = flight.Ticket(pack(message("TicketStatementQuery", statement_handle=handle)))
        endpoint = flight.FlightEndpoint(ticket, [])
        rows = record.result_rows if record.result_rows is not None else -1
        return flight.FlightInfo(reader.schema, descriptor, [endpoint], rows, -1)

    def _run(self, context: Any, request: JobRequest) -> tuple[str, Outcome]:
        """Submit the job on the loop and wait for it; a cancelled call cancels the job."""
        jobs = self._svc.jobs

        async def start() -> tuple[str, asyncio.Future[Outcome]]:
            record, done = jobs.submit_watched(request)
            return record.id, done

        job_id, done = self._bridge.call(start())

        async def finished() -> Outcome:
            return await asyncio.shield(done)

        waiting = self._bridge.submit(finished())
        while True:
            try:
                return job_id, waiting.result(timeout=0.05)
            except concurrent.futures.TimeoutError:
                if self.stopping.is_set():
                    waiting.cancel()
                    self._bridge.call(jobs.cancel(request.organization_id, job_id))
                    raise flight.FlightUnavailableError(
                        "The server is shutting down; run the query again"
                    ) from None
                if context.is_cancelled():
                    waiting.cancel()
                    self._bridge.call(jobs.cancel(request.organization_id, job_id))
                    log.info("Flight SQL call cancelled by the client: job %s cancelled", job_id)
                    raise flight.FlightCancelledError("The query was cancelled") from None

    def _catalog(self, name: str, msg: Any) -> pa.Table:
        models = self._models
        if name == "CommandGetCatalogs":
            return catalog.catalogs_table(models)
        if name == "CommandGetDbSchemas":
            return catalog.db_schemas_table(
                models,
                msg.catalog if msg.HasField("catalog") else None,
                msg.db_schema_filter_pattern if msg.HasField("db_schema_filter_pattern") else None,
            )
        if name == "CommandGetTables":
            return catalog.tables_table(
                models,
                catalog=msg.catalog if msg.HasField("catalog") else None,
                schema_pattern=(
                    msg.db_schema_filter_pattern
                    if msg.HasField("db_schema_filter_pattern")
                    else None
                ),
                table_pattern=(
                    msg.table_name_filter_pattern
                    if msg.HasField("table_name_filter_pattern")
                    else None
                ),
                table_types=list(msg.table_types),
                include_schema=msg.include_schema,
            )
        if name == "CommandGetTableTypes":
            return catalog.table_types_table()
        if name == "CommandGetSqlInfo":
            return sqlinfo.sql_info_table(self._version, list(msg.info))
        return catalog.empty_keys_table()  # primary, exported and imported keys: none


def _select(reader: pa.RecordBatchReader, columns: tuple[tuple[str, str], ...]) -> Any:
    """The result's columns in SELECT order, under their output names (aliases)."""
    schema = reader.schema
    names = schema.names
    if [out for _, out in columns] == names:
        return reader
    index = {name: i for i, name in enumerate(names)}
    picked = [index[field] for field, _ in columns]
    out_schema = pa.schema(
        [schema.field(i).with_name(out) for i, (_, out) in zip(picked, columns, strict=True)]
    )

    def batches() -> Iterator[pa.RecordBatch]:
        for batch in reader:
            yield pa.RecordBatch.from_arrays([batch.column(i) for i in picked], schema=out_schema)

    return pa.RecordBatchReader.from_batches(out_schema, batches())


def _session(context: Any) -> _Session:
    found = context.get_middleware("auth")
    if not isinstance(found, _Session):
        raise flight.FlightUnauthenticatedError("Send an API key")
    return found


def _command(raw: bytes) -> tuple[str, Any]:
    found = unpack(raw)
    if found is None:
        raise flight.FlightServerError(
            "Not a Flight SQL command: sluice speaks Flight SQL (a google.protobuf.Any of an "
            "arrow.flight.protocol.sql message)"
        )
    name, msg = found
    if msg is None:
        raise flight.FlightServerError(f"{name} is not supported by sluice")
    return name, msg


def _cancel_info(kind: str, body: bytes) -> bytes:
    """The serialized FlightInfo a cancel request carries."""
    if kind == "CancelQuery":
        return bytes(_command(body)[1].info)
    # CancelFlightInfoRequest { FlightInfo info = 1; }: a tag byte, a varint length, the bytes.
    if not body or body[0] != 0x0A:
        return b""
    length, shift, at = 0, 0, 1
    while at < len(body):
        byte = body[at]
        length |= (byte & 0x7F) << shift
        at += 1
        if not byte & 0x80:
            break
        shift += 7
    return body[at : at + length]


def _flight_error(exc: SluiceError) -> flight.FlightError:
    if exc.code == "FORBIDDEN":
        return flight.FlightUnauthorizedError(exc.message)
    if exc.code == "UNAUTHORIZED":
        return flight.FlightUnauthenticatedError(exc.message)
    if exc.code == "RATE_LIMITED":
        return flight.FlightUnavailableError(exc.message)
    if isinstance(exc, NotFound):
        return flight.FlightServerError(f"Not found: {exc.message}")
    if exc.code in ("BAD_REQUEST", "PLAN", "UNSUPPORTED", "MODEL"):
        return flight.FlightServerError(f"Invalid query: {exc.message}")
    if exc.code == "KILL":
        return flight.FlightCancelledError(exc.message)
    return flight.FlightServerError(exc.message)


def _job_error(error_type: str | None, text: str | None) -> flight.FlightError:
    text = text or "The query failed"
    if error_type in ("PLAN", "UNSUPPORTED"):
        return flight.FlightServerError(f"Invalid query: {text}")
    if error_type == "FORBIDDEN":
        return flight.FlightUnauthorizedError(text)
    if error_type == "KILL":
        return flight.FlightCancelledError(text)
    if error_type == "INTERNAL":
        return flight.FlightInternalError(text)
    return flight.FlightServerError(text)  # QUERY: the warehouse's own message


@dataclass
class FlightHandle:
    server: SluiceFlightServer
    location: str

    async def stop(self) -> None:
        self.server.stopping.set()  # a call waiting on a job would hold shutdown until it ends
        await asyncio.to_thread(self.server.shutdown)


async def start_flight(services: Any, *, host: str, port: int, version: str) -> FlightHandle:
    """Start the Flight SQL server on ``host:port`` (TLS when a certificate is configured).

    The server answers from the moment it is constructed, on gRPC's threads. ``serve()`` is
    never called: it only blocks, and it installs its own SIGINT/SIGTERM handlers, which would
    take the signals uvicorn's graceful shutdown needs."""
    server_config = services.config.server
    cert, key = server_config.flight_tls_cert, server_config.flight_tls_key
    tls: list[tuple[bytes, bytes]] = []
    if (cert is None) != (key is None):
        raise ConfigError("server.flight_tls_cert and server.flight_tls_key go together")
    if cert is not None and key is not None:
        tls = [(cert.read_bytes(), key.read_bytes())]
    scheme = "grpc+tls" if tls else "grpc+tcp"
    location = f"{scheme}://{host}:{port}"
    loop = asyncio.get_running_loop()
    server = await asyncio.to_thread(
        SluiceFlightServer, location, services, loop, version=version, tls_certificates=tls
    )
    log.info("Flight SQL on %s", location)
    return FlightHandle(server, location)


__all__ = ["FlightHandle", "SluiceFlightServer", "start_flight"]
