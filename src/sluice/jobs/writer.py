"""The job writer: one thread that persists job state with group commits.

``put`` never blocks the caller (the event loop at submit, a worker when a job ends). The thread
wakes for the first item, lets more arrive for ``gather_s``, then takes everything queued; it
keeps only the newest state of each job (a job that starts and finishes inside one
batch is written once) and writes the batch in one SQLite transaction. Under load that is one
commit for many jobs instead of two per job; idle, a job's state reaches disk within
``gather_s``. ``flush_future`` resolves once everything queued before it is written (within
``gather_s``, or at once when the writer is idle).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future

from sluice.jobs.record import JobRecord
from sluice.jobs.store import JobStore, StoredResult

log = logging.getLogger("sluice.jobs")

_Write = tuple[JobRecord, StoredResult]
_Item = _Write | Future[None] | None  # a write, a flush request, or stop


class JobWriter:
    """``on_written(job_ids)`` is called (on the writer thread) with the jobs whose terminal
    state was just written."""

    def __init__(
        self,
        store: JobStore,
        *,
        gather_s: float = 0.005,
        on_written: Callable[[list[str]], None] | None = None,
    ) -> None:
        self._store = store
        self._gather_s = gather_s
        self._on_written = on_written
        self._queue: queue.SimpleQueue[_Item] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="sluice-job-writer", daemon=True)
        self._thread.start()

    def put(self, record: JobRecord, result: StoredResult = None) -> None:
        self._queue.put((record, result))

    def flush_future(self) -> Future[None]:
        """A future resolved once everything put before this call is written."""
        done: Future[None] = Future()
        if not self._thread.is_alive():
            done.set_result(None)
            return done
        self._queue.put(done)
        return done

    def flush(self, timeout: float | None = None) -> None:
        self.flush_future().result(timeout)

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def _run(self) -> None:
        stop = False
        while not stop:
            batch: dict[str, _Write] = {}
            flushes: list[Future[None]] = []
            stop = self._take(self._queue.get(), batch, flushes)
            if not stop and not flushes and self._gather_s > 0:
                # Let a burst (or a job's whole life) arrive: one wake-up and one commit for all,
                # instead of a wake-up per put competing with the event loop for the GIL.
                time.sleep(self._gather_s)
            while not stop:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                stop = self._take(item, batch, flushes)
            self._write(batch)
            for flushed in flushes:
                flushed.set_result(None)

    @staticmethod
    def _take(item: _Item, batch: dict[str, _Write], flushes: list[Future[None]]) -> bool:
        if item is None:
            return True
        if isinstance(item, Future):
            flushes.append(item)
            return False
        record, result = item
        previous = batch.get(record.id)
        # The newest state wins, but a finished job never goes back to its ADDED row.
        if previous is None or not previous[0].is_terminal:
            batch[record.id] = (record, result)
        return False

    def _write(self, batch: dict[str, _Write]) -> None:
        if not batch:
            return
        try:
            self._store.write_batch(list(batch.values()))
        except Exception:
            log.exception("writing %d job record(s) failed", len(batch))
            return
        if self._on_written is not None:
            finished = [job_id for job_id, (record, _) in batch.items() if record.is_terminal]
            if finished:
                self._on_written(finished)
