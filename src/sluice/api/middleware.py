"""Every HTTP request: a request id, a metrics sample and one access log line.

The request id is the client's ``X-Request-Id`` when it sends a sane one, else a fresh one; it is
echoed in the response's ``X-Request-Id`` header, set in ``sluice.observability.logs.request_id``
for everything logged while serving the request, and named by a 500's body. The route label of
the metrics is the route's template (``/api/v1/query/jobs/{jobId}``), never the raw path, so ids
do not multiply the series; a path no route matches is ``unmatched``.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sluice.observability import logs
from sluice.observability.metrics import Metrics

access_log = logging.getLogger("sluice.access")

_REQUEST_ID = b"x-request-id"


class RequestMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics
        # The labelled series of each (route, method, status) seen: ``labels()`` takes a lock
        # and builds a key on every call; the series themselves never change.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        incoming = None
        for name, value in scope.get("headers") or ():
            if name == _REQUEST_ID:
                incoming = value.decode("latin-1")
                break
        request_id = logs.accepted_request_id(incoming)
        id_token = logs.request_id.set(request_id)
        jobs_token = logs.job_ids.set([])
        started = time.perf_counter()
        status = 500
        echo = (_REQUEST_ID, request_id.encode())

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = [h for h in message.get("headers") or () if h[0].lower() != _REQUEST_ID]
                message = {**message, "headers": [*headers, echo]}
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - started)
            logs.job_ids.reset(jobs_token)
            logs.request_id.reset(id_token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        method = scope.get("method", "")
        series = self._series.get((route, method, status))
        if series is None:
            series = (
                self.metrics.requests.labels(route, method, str(status)),
                self.metrics.request_seconds.labels(route),
            )
            self._series[(route, method, status)] = series
        series[0].inc()
        series[1].observe(seconds)
        if access_log.isEnabledFor(logging.INFO):
            jobs = logs.job_ids.get()
            extra = {
                "request_id": logs.request_id.get(),
                "method": method,
                "route": route,
                "path": scope.get("path", ""),
                "status": status,
                "duration_ms": round(seconds * 1000, 3),
                "job_id": ",".join(jobs) if jobs else None,
            }
            access_log.info("%s %s %d", method, scope.get("path", ""), status, extra=extra)
