"""The job service's Prometheus gauges: queues per connection, jobs queued and running."""

from __future__ import annotations

from collections.abc import Sequence

from sluice.jobs.queues import ConnectionQueues
from sluice.jobs.types import LiveJob
from sluice.observability.metrics import Gauges


def job_gauges(queues: ConnectionQueues, lives: Sequence[LiveJob]) -> Gauges:
    states = queues.states()
    waiting = {id(ticket) for ticket in queues.waiting()}
    queued = sum(
        1 for live in lives if live.flight is not None and id(live.flight.ticket) in waiting
    )
    by_connection = [(s.connection,) for s in states]
    return [
        ("sluice_queue_depth", "Jobs waiting for a slot on their connection",
         ["connection"], list(zip(by_connection, (s.waiting for s in states), strict=True))),
        ("sluice_connection_running", "Statements running on the connection (jobs, refreshes)",
         ["connection"], list(zip(by_connection, (s.running for s in states), strict=True))),
        ("sluice_connection_max_concurrency", "Statements the connection may run at once",
         ["connection"], list(zip(by_connection, (s.limit for s in states), strict=True))),
        ("sluice_jobs_in_progress", "Jobs not finished: queued (waiting for a slot) or "
         "running (compiling, executing)", ["state"],
         [(("queued",), queued), (("running",), len(lives) - queued)]),
    ]  # fmt: skip
