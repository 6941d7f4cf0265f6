"""Per-connection admission: at most ``max_concurrency`` statements of a connection at once, the
rest waiting in FIFO order with a visible position.

A *ticket* is one unit of warehouse work: a flight (one statement and its post-query work, shared
by every job attached to it) or a background refresh. ``enter`` starts it at once when its
connection has a free slot and no ticket is waiting, otherwise queues it; ``leave`` (called when
the work ends, on any thread) hands the slot straight to the next waiting ticket, so the order is
first come, first served and a slot is never idle while work waits. ``withdraw`` takes a ticket
out of the queue (its jobs were cancelled). Thread-safe; ``start`` callbacks run outside the
lock.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field


@dataclass(eq=False, slots=True)
class Ticket:
    connection: str
    start: Callable[[], None]  # called once, when admitted (hands the work to a thread)
    job_id: str | None = None  # None: a background refresh


@dataclass(slots=True)
class _Queue:
    limit: int
    running: int = 0
    waiting: deque[Ticket] = field(default_factory=deque)


@dataclass(frozen=True, slots=True)
class QueueState:
    connection: str
    limit: int
    running: int
    waiting: int


class ConnectionQueues:
    def __init__(self, limits: Mapping[str, int], *, default_limit: int = 4) -> None:
        self._default = max(1, default_limit)
        self._queues = {name: _Queue(max(1, limit)) for name, limit in limits.items()}
        self._lock = threading.Lock()

    @property
    def capacity(self) -> int:
        """Statements that may run at once over every configured connection."""
        return sum(q.limit for q in self._queues.values()) or self._default

    def enter(self, ticket: Ticket, *, inline: bool = False) -> int:
        """Start ``ticket`` now (returns 0) or queue it (returns its 1-based position). With
        ``inline``, a ticket admitted at once is not started: the caller runs the work itself
        (and calls ``leave``); a queued one is started by ``leave`` as usual."""
        with self._lock:
            queue = self._queue(ticket.connection)
            if queue.running < queue.limit and not queue.waiting:
                queue.running += 1
                position = 0
            else:
                queue.waiting.append(ticket)
                position = len(queue.waiting)
        if position == 0 and not inline:
            ticket.start()
        return position

    def leave(self, connection: str) -> None:
        """A started ticket of ``connection`` is done: the first waiting one starts."""
        with self._lock:
            queue = self._queue(connection)
            following = queue.waiting.popleft() if queue.waiting else None
            if following is None:
                queue.running = max(0, queue.running - 1)
        if following is not None:
            following.start()  # the slot passes on: ``running`` is unchanged

    def withdraw(self, ticket: Ticket) -> bool:
        """Take a waiting ticket out of its queue; False when it has started (or is unknown)."""
        with self._lock:
            queue = self._queue(ticket.connection)
            try:
                queue.waiting.remove(ticket)
            except ValueError:
                return False
            return True

    def position(self, ticket: Ticket) -> int | None:
        """1 for the next ticket to start, 2 after it, ...; None once started."""
        with self._lock:
            for index, waiting in enumerate(self._queue(ticket.connection).waiting, start=1):
                if waiting is ticket:
                    return index
        return None

    def waiting(self) -> list[Ticket]:
        """Every waiting ticket, over all connections."""
        with self._lock:
            return [t for q in self._queues.values() for t in q.waiting]

    def states(self) -> list[QueueState]:
        with self._lock:
            return [
                QueueState(name, q.limit, q.running, len(q.waiting))
                for name, q in sorted(self._queues.items())
            ]

    def _queue(self, connection: str) -> _Queue:
        queue = self._queues.get(connection)
        if queue is None:  # a connection nobody configured a limit for (tests' fake backends)
            queue = self._queues[connection] = _Queue(self._default)
        return queue
