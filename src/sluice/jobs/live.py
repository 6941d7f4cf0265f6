"""The table of live jobs and how a job leaves it (event loop): published when it finishes,
killed when it is cancelled, times out, is orphaned or the server shuts down."""

from __future__ import annotations

from collections.abc import Callable

import pyarrow as pa

from sluice.jobs.finished import FinishedJobs
from sluice.jobs.flights import Flights
from sluice.jobs.lines import job_line
from sluice.jobs.queues import ConnectionQueues
from sluice.jobs.state import TERMINAL, JobEvent
from sluice.jobs.store import StoredResult
from sluice.jobs.types import Finished, LiveJob, Outcome
from sluice.jobs.writer import JobWriter
from sluice.observability.metrics import Metrics


class LiveJobs:
    def __init__(
        self,
        finished: FinishedJobs,
        *,
        writer: JobWriter,
        flights: Flights,
        queues: ConnectionQueues,
        clock: Callable[[], float],
        metrics: Metrics,
        call_on_loop: Callable[..., None],
    ) -> None:
        self.jobs: dict[str, LiveJob] = {}
        self._finished = finished
        self._writer = writer
        self._flights = flights
        self._queues = queues
        self._clock = clock
        self._call_on_loop = call_on_loop
        self._finished_count = {s: metrics.jobs.labels(s.value) for s in TERMINAL}

    def finish(self, live: LiveJob, outcome: Outcome, stored: StoredResult = None) -> None:
        """Any thread: hand a finished job to the loop."""
        self._call_on_loop(self.publish, live, outcome, stored)

    def publish(self, live: LiveJob, outcome: Outcome, stored: StoredResult) -> None:
        if live.done.done():  # killed first: this late result is dropped
            if isinstance(outcome.result, pa.NativeFile):
                outcome.result.close()
            return
        record = outcome.record
        self.jobs.pop(record.id, None)
        if live.deadline is not None:
            live.deadline.cancel()
        if live.orphan_timer is not None:
            live.orphan_timer.cancel()
        self._finished_count[record.status].inc()
        self._finished.published(
            record.id, Finished(record.organization_id, record.finished_at or 0.0, outcome.line)
        )
        live.done.set_result(outcome)
        if live.request.document and not live.exposed:
            stored = None  # its id never left the server: nobody can ask for the result again
        self._writer.put(record, stored)

    def kill(self, live: LiveJob, reason: str) -> None:
        """End a running job now as ``ERROR``/``KILL``; its statement is interrupted unless
        another job shares it."""
        if live.done.done():
            return
        live.cancel_reason = reason
        live.cancel.cancel()
        flight = live.flight
        if flight is not None:
            self._flights.leave(flight, live.record.id)
            ticket = flight.ticket
            if flight.cancel.cancelled and ticket is not None and self._queues.withdraw(ticket):
                self._flights.retire(flight)  # it waited for a slot: it leaves the queue unrun
        record = live.record.advance(
            JobEvent.FAIL, finished_at=self._clock(), error_type="KILL", error_message=reason
        )
        self.publish(live, Outcome(record, job_line(record)), None)

    def expire(self, live: LiveJob, timeout_s: float) -> None:
        self.kill(
            live,
            f"The query ran longer than the server's limit of {timeout_s:g} s "
            "(server.query_timeout_s) and was cancelled.",
        )

    def values(self) -> list[LiveJob]:
        return list(self.jobs.values())

    def get(self, job_id: str) -> LiveJob | None:
        return self.jobs.get(job_id)

    def __len__(self) -> int:
        return len(self.jobs)

    def __setitem__(self, job_id: str, live: LiveJob) -> None:
        self.jobs[job_id] = live

    def __getitem__(self, job_id: str) -> LiveJob:
        return self.jobs[job_id]
