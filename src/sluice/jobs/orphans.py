"""Running jobs nobody waits on (event loop): counted watchers, and a timer while there are none.

A running job that no open ``/query/run`` or ``/query/wait`` names for ``timeout_s`` is cancelled
(``server.orphan_timeout_s``; 0: never).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from sluice.jobs.types import LiveJob
from sluice.observability.metrics import Metrics


class Orphans:
    def __init__(
        self,
        timeout_s: float,
        *,
        kill: Callable[[LiveJob, str], None],
        loop: Callable[[], asyncio.AbstractEventLoop],
        metrics: Metrics,
    ) -> None:
        self.timeout_s = timeout_s
        self._kill = kill
        self._loop = loop
        self._metrics = metrics

    def watched(self, lives: Sequence[LiveJob]) -> None:
        for live in lives:
            live.watchers += 1
            if live.orphan_timer is not None:
                live.orphan_timer.cancel()
                live.orphan_timer = None

    def unwatched(self, lives: Sequence[LiveJob]) -> None:
        for live in lives:
            live.watchers -= 1
            if live.watchers == 0:
                self.arm(live)

    def arm(self, live: LiveJob) -> None:
        if self.timeout_s > 0 and not live.done.done() and live.orphan_timer is None:
            live.orphan_timer = self._loop().call_later(self.timeout_s, self._orphaned, live)

    def _orphaned(self, live: LiveJob) -> None:
        live.orphan_timer = None
        if live.watchers > 0 or live.done.done():
            return
        self._metrics.orphaned.inc()
        self._kill(
            live,
            f"Nobody waited for this job for {self.timeout_s:g} s (no open /query/run "
            "or /query/wait named it), so it was cancelled (server.orphan_timeout_s); run the "
            "query again",
        )
