"""The job state machine, as a pure function.

Statuses are the ones Omni puts on the wire. A job is created ``ADDED``; a worker moves it to
``PLANNING`` (compile), then either ``PLANNED`` (``planOnly``) or ``EXECUTING`` and ``COMPLETE``.
Any non-terminal status may fail to ``ERROR``. Terminal statuses accept no event.
"""

from __future__ import annotations

import enum


class JobStatus(enum.StrEnum):
    ADDED = "ADDED"
    PLANNING = "PLANNING"
    EXECUTING = "EXECUTING"
    PLANNED = "PLANNED"
    COMPLETE = "COMPLETE"
    ERROR = "ERROR"

    @property
    def is_terminal(self) -> bool:
        return self in TERMINAL


class JobEvent(enum.StrEnum):
    START = "start"  # a worker picked the job up and is compiling it
    PLANNED = "planned"  # compiled; planOnly stops here
    EXECUTE = "execute"  # compiled; the statement is sent to the warehouse
    SUCCEED = "succeed"  # the result is in hand
    FAIL = "fail"  # planning or execution failed, was cancelled, or the server restarted


TERMINAL = frozenset({JobStatus.PLANNED, JobStatus.COMPLETE, JobStatus.ERROR})

_TRANSITIONS: dict[tuple[JobStatus, JobEvent], JobStatus] = {
    (JobStatus.ADDED, JobEvent.START): JobStatus.PLANNING,
    (JobStatus.PLANNING, JobEvent.PLANNED): JobStatus.PLANNED,
    (JobStatus.PLANNING, JobEvent.EXECUTE): JobStatus.EXECUTING,
    (JobStatus.EXECUTING, JobEvent.SUCCEED): JobStatus.COMPLETE,
    (JobStatus.ADDED, JobEvent.FAIL): JobStatus.ERROR,
    (JobStatus.PLANNING, JobEvent.FAIL): JobStatus.ERROR,
    (JobStatus.EXECUTING, JobEvent.FAIL): JobStatus.ERROR,
}


class InvalidTransition(Exception):
    """A programming error: an event that the job's current status does not allow."""


def transition(status: JobStatus, event: JobEvent) -> JobStatus:
    """The status after ``event``; raises InvalidTransition when ``status`` does not allow it."""
    try:
        return _TRANSITIONS[(status, event)]
    except KeyError:
        raise InvalidTransition(f"a {status} job cannot take the {event!r} event") from None
