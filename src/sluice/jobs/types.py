"""What the job modules share: a job request, its live state, its outcome, its cache plan."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pyarrow as pa

from sluice.cache import CachePolicy
from sluice.compiler.types import CompiledQuery
from sluice.config import UserConfig
from sluice.engines.base import CancelToken
from sluice.errors import UserError
from sluice.jobs.flights import Flight
from sluice.jobs.record import JobRecord
from sluice.project import QueryResult, QueryStream, on_branch
from sluice.query.spec import QuerySpec

SHUTDOWN_MESSAGE = "The server shut down before this job finished; run the query again."
CANCELLED_MESSAGE = "The query was cancelled by a request to cancel job {job_id}."
DEFAULT_CONNECTION = "default"


class QueryBackend(Protocol):
    """What a job needs from the project (``sluice.project.Project`` is one)."""

    def compile(
        self,
        model_id: str,
        query: QuerySpec | Mapping[str, Any],
        *,
        now: datetime,
        user: UserConfig | None = None,
        timezone: str | None = None,
    ) -> CompiledQuery: ...

    def run(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> QueryResult: ...


@runtime_checkable
class StreamingBackend(Protocol):
    """A backend whose results can stream from the warehouse into the result's IPC stream
    (``Project`` is one); the worker uses ``stream`` for the queries that ``streams``."""

    def streams(self, compiled: CompiledQuery) -> bool: ...

    def stream(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> AbstractContextManager[QueryStream]: ...


@dataclass(frozen=True, slots=True)
class CacheScope:
    """Where a compiled query's results live in the cache: its connection and its TTL."""

    connection_id: str
    ttl_s: float  # 0: never stored (the topic's cache_policy is "none")


ScopeOf = Callable[[str, CompiledQuery], CacheScope]  # (model id, compiled) -> scope


class ResultTooLarge(UserError):
    """The result is above ``server.max_result_mb``."""


@dataclass(frozen=True, slots=True)
class JobRequest:
    organization_id: str
    user: UserConfig | None
    model_id: str
    query: Mapping[str, Any]  # as sent: echoed in the job's line and history
    plan_only: bool = False
    timezone: str | None = None
    cache: CachePolicy = CachePolicy.SKIP_REQUERY
    document: bool = False  # resultType: answered with a document, the NDJSON line on demand
    spec: QuerySpec | None = None  # ``query`` parsed at the edge (None: the backend parses it)
    branch_id: str | None = None  # run on this branch of the model (top-level ``branchId``)

    @property
    def compilable(self) -> QuerySpec | Mapping[str, Any]:
        return self.spec if self.spec is not None else self.query

    @property
    def target(self) -> str:
        """The id the backend resolves: the model's, or its branch's (``on_branch``)."""
        return on_branch(self.model_id, self.branch_id)


@dataclass(frozen=True, slots=True)
class Outcome:
    """A finished job as the loop receives it."""

    record: JobRecord
    line: bytes | None  # the NDJSON line (None: a document job; rendered from the store if asked)
    result: pa.Buffer | pa.NativeFile | None = None  # the IPC stream, for a document


@dataclass(frozen=True, slots=True)
class WaitResult:
    lines: list[bytes]  # terminal job lines, in the order the ids were asked for
    remaining: list[str]  # ids still running when the window closed


@dataclass(frozen=True, slots=True)
class Plan:
    """Where a job's result is looked up and kept: its cache key and TTL, and the policy."""

    key: str | None  # None: no cache and no sharing
    ttl_s: float
    policy: CachePolicy

    def with_policy(self, policy: CachePolicy) -> Plan:
        return self if self.policy is policy else Plan(self.key, self.ttl_s, policy)


class LiveJob:
    """A job that has not finished. ``record`` is replaced by the worker as the job advances
    (never with a terminal record: the terminal one is published)."""

    __slots__ = (
        "cancel", "cancel_reason", "connection", "deadline", "done", "exposed", "flight",
        "orphan_timer", "record", "request", "watchers",
    )  # fmt: skip

    def __init__(
        self,
        record: JobRecord,
        request: JobRequest,
        done: asyncio.Future[Outcome],
        connection: str,
    ) -> None:
        self.record = record
        self.request = request
        self.done = done
        self.connection = connection
        self.cancel = CancelToken()
        self.cancel_reason: str | None = None
        self.deadline: asyncio.TimerHandle | None = None
        self.flight: Flight | None = None
        self.exposed = False  # its id left the server as still running
        self.watchers = 0  # open /query/run and /query/wait requests naming it
        self.orphan_timer: asyncio.TimerHandle | None = None  # armed while nobody watches


@dataclass(frozen=True, slots=True)
class Finished:
    organization_id: str
    finished_at: float
    line: bytes | None  # None: a document job, whose line is rendered from the store


@dataclass(frozen=True, slots=True)
class Running:
    """A job the shared store holds as running (on another replica)."""

    organization_id: str
    record: JobRecord


Stored = Finished | Running


def default_connection(model_id: str) -> str:
    return DEFAULT_CONNECTION
