"""The engine contract: run SQL, hand back Arrow, and stop when asked.

Every warehouse backend implements ``Engine``. Calls block (they run in executor threads, never
on the event loop); ``CancelToken`` is the cancel path: the engine registers how to interrupt the
statement it is running, and ``cancel()`` from any thread calls it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from typing import Protocol, runtime_checkable

import pyarrow as pa


class CancelToken:
    """Shared between the code that runs a statement and the code that may cancel it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._interrupt: Callable[[], None] | None = None
        self._progress: Callable[[], float | None] | None = None
        self.cancelled = False

    def bind(self, interrupt: Callable[[], None] | None) -> None:
        """Register (or clear, with None) how to interrupt the running statement."""
        with self._lock:
            self._interrupt = interrupt
            fire = self.cancelled and interrupt is not None
        if fire and interrupt is not None:
            interrupt()

    def bind_progress(self, progress: Callable[[], float | None] | None) -> None:
        """Register (or clear) how to read the running statement's progress, 0 to 1 (None:
        the engine cannot tell right now). Engines that cannot tell never register one."""
        with self._lock:
            self._progress = progress

    def progress(self) -> float | None:
        """The running statement's progress from 0 to 1, where the engine reports it."""
        with self._lock:
            read = self._progress
        if read is None:
            return None
        try:
            value = read()
        except Exception:  # a statement ending under us: progress is only ever a hint
            return None
        return None if value is None else min(1.0, max(0.0, value))

    def cancel(self) -> None:
        with self._lock:
            self.cancelled = True
            interrupt = self._interrupt
        if interrupt is not None:
            interrupt()


@runtime_checkable
class Engine(Protocol):
    """A warehouse connection. Thread-safe: each call may come from a different thread."""

    dialect: str

    def execute(self, sql: str, cancel: CancelToken | None = None) -> pa.Table:
        """Run ``sql`` and return its whole result. Raises QueryError or Cancelled."""
        ...

    def execute_reader(
        self, sql: str, cancel: CancelToken | None = None
    ) -> AbstractContextManager[pa.RecordBatchReader]:
        """Run ``sql`` and hand back its result as a stream of record batches, read while the
        statement runs where the engine can (the engine is busy until the context exits; an
        early exit abandons the statement). Reading raises QueryError or Cancelled, as
        ``execute`` does."""
        ...

    def column_types(self, table: str, schema: str | None = None) -> dict[str, str]:
        """Column name -> sluice data type (string, number, timestamp, date, boolean)."""
        ...

    def close(self) -> None: ...


@contextmanager
def table_reader(
    execute: Callable[[str, CancelToken | None], pa.Table],
    sql: str,
    cancel: CancelToken | None = None,
) -> Iterator[pa.RecordBatchReader]:
    """``execute_reader`` for an engine that can only hand back whole tables: the table it
    returns, read batch by batch."""
    table = execute(sql, cancel)
    reader = table.to_reader(max_chunksize=READER_BATCH_ROWS)
    try:
        yield reader
    finally:
        reader.close()


# Rows per record batch an engine's reader hands back (the IPC stream keeps them as they come).
READER_BATCH_ROWS = 65_536
