"""Single flight: identical queries running at the same time share one execution.

A *flight* is one execution of one compiled query on the warehouse. Jobs attach to it and are
called back when it lands; a job that asks for a query already in flight (same cache key)
attaches to the running flight instead of starting another, so twenty concurrent identical
requests cost one warehouse statement. A flight has its own cancel token: cancelling one job
detaches it, and the statement is interrupted only when no job is left waiting (a background
refresh keeps running with nobody attached).

After it lands, a flight stays joinable until its result is in the cache (``retire``), so a
request arriving in between is answered from the flight rather than running again.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from typing import Any

import pyarrow as pa

from sluice.engines.base import CancelToken
from sluice.errors import SluiceError
from sluice.jobs.queues import Ticket
from sluice.results.arrow import b64encode
from sluice.results.stream import ResultFile

log = logging.getLogger("sluice.jobs")


class Executed:
    """A landed flight: the encoded result (IPC stream, in memory or, when large, a file) and
    what a job line needs besides."""

    __slots__ = ("_b64", "_lock", "computed_at", "encode_ms", "ipc", "meta", "num_rows", "ttl_s")

    def __init__(
        self,
        ipc: pa.Buffer | ResultFile,
        *,
        num_rows: int,
        meta: Mapping[str, Any],
        computed_at: float,
        ttl_s: float,
        encode_ms: float,
    ) -> None:
        self.ipc = ipc
        self.num_rows = num_rows
        self.meta = meta  # fields, invalid_calculations, columns, execution_time_ms
        self.computed_at = computed_at
        self.ttl_s = ttl_s
        self.encode_ms = encode_ms
        self._b64: bytes | None = None
        self._lock = threading.Lock()

    @property
    def num_bytes(self) -> int:
        return int(self.ipc.size)

    def source(self) -> pa.Buffer | pa.NativeFile:
        """The IPC stream to read a document from: the buffer, or the file opened for this
        reader alone (read batch by batch; the reader closes it)."""
        return self.ipc.open() if isinstance(self.ipc, ResultFile) else self.ipc

    @property
    def b64_if_done(self) -> bytes | None:
        """The base64, if some job already needed it."""
        return self._b64

    def b64(self) -> bytes:
        """The base64 of the IPC stream, computed once for every job of the flight."""
        with self._lock:
            if self._b64 is None:
                ipc = self.ipc
                self._b64 = b64encode(ipc.read_buffer() if isinstance(ipc, ResultFile) else ipc)
            return self._b64


FlightOutcome = Executed | SluiceError
Callback = Callable[[FlightOutcome], None]


class Flight:
    __slots__ = ("cancel", "keep_alive", "key", "outcome", "ticket", "waiters")

    def __init__(self, key: str | None, *, keep_alive: bool = False) -> None:
        self.key = key
        self.keep_alive = keep_alive  # a background refresh: runs with nobody waiting
        self.cancel = CancelToken()
        self.waiters: dict[str, Callback] = {}
        self.outcome: FlightOutcome | None = None
        self.ticket: Ticket | None = None  # its place in its connection's queue


class Flights:
    """The flights in the air, by cache key. Thread-safe; one lock, held only briefly."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._by_key: dict[str, Flight] = {}
        self._running: set[Flight] = set()
        self.started = 0  # flights ever started (each one is a warehouse execution)

    def __len__(self) -> int:
        with self._lock:
            return len(self._running)

    def join(
        self, key: str | None, job_id: str, callback: Callback, *, share: bool
    ) -> tuple[Flight, bool, FlightOutcome | None]:
        """Attach ``job_id`` to the flight for ``key`` (``share``) or to a new one.

        Returns the flight, whether the caller must run it (a new flight), and the outcome when
        the flight has already landed, in which case ``callback`` is not kept: call it yourself.
        """
        with self._lock:
            flight = self._by_key.get(key) if key is not None and share else None
            leader = flight is None
            if flight is None:
                flight = self._start_locked(key, keep_alive=False)
            if flight.outcome is not None:
                return flight, leader, flight.outcome
            flight.waiters[job_id] = callback
            return flight, leader, None

    def refresh(self, key: str) -> Flight | None:
        """A background flight for ``key``, or None when one is already in the air."""
        with self._lock:
            if key in self._by_key:
                return None
            return self._start_locked(key, keep_alive=True)

    def leave(self, flight: Flight, job_id: str) -> None:
        """``job_id`` no longer waits; the last one to leave interrupts the execution."""
        with self._lock:
            flight.waiters.pop(job_id, None)
            idle = not flight.waiters and flight.outcome is None and not flight.keep_alive
            if idle and flight.key is not None and self._by_key.get(flight.key) is flight:
                del self._by_key[flight.key]  # nobody may join a flight being cancelled
        if idle:
            flight.cancel.cancel()

    def land(self, flight: Flight, outcome: FlightOutcome) -> None:
        """Record the outcome and call back every waiting job (in this thread)."""
        with self._lock:
            flight.outcome = outcome
            waiters = list(flight.waiters.values())
            flight.waiters.clear()
            if isinstance(outcome, SluiceError):
                self._retire_locked(flight)  # an error is never shared with later arrivals
        for callback in waiters:
            try:
                callback(outcome)
            except Exception:
                log.exception("a job callback failed")

    def retire(self, flight: Flight) -> None:
        with self._lock:
            self._retire_locked(flight)

    def cancel_all(self) -> None:
        with self._lock:
            running = list(self._running)
            self._by_key.clear()
        for flight in running:
            flight.cancel.cancel()

    def _start_locked(self, key: str | None, *, keep_alive: bool) -> Flight:
        flight = Flight(key, keep_alive=keep_alive)
        if key is not None:
            self._by_key[key] = flight
        self._running.add(flight)
        self.started += 1
        return flight

    def _retire_locked(self, flight: Flight) -> None:
        if flight.key is not None and self._by_key.get(flight.key) is flight:
            del self._by_key[flight.key]
        self._running.discard(flight)
