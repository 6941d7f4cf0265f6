"""Endpoints for the load balancer and the scraper (no authentication; bind accordingly):

* ``GET /healthz``: liveness, 200 as long as the process serves requests;
* ``GET /readyz``: readiness, the job store (SQLite or Redis) and every connection's warehouse
  each answer a trivial query within ``server.ready_timeout_s``; 200
  ``{"status": "ready", "checks": {...}, "schema": {...}}``, or 503 ``{"status": "not ready",
  "failing": [...], "checks": {...}, "schema": {...}}`` naming each failing check and why;
  ``schema`` gives each model's schema-layer snapshot time and age. A model whose files do not
  validate (a broken edit, or never loaded) leaves it ready with ``"degraded": ["model:<name>"]``;
* ``GET /metrics``: Prometheus text format (``sluice.observability.metrics``).

``GET /health`` (liveness) stays for existing clients.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from sluice.api.catalog import iso_time
from sluice.api.state import Services, services
from sluice.api.statedir import StateDirProbe
from sluice.engines.base import CancelToken, Engine
from sluice.observability.metrics import CONTENT_TYPE
from sluice.project import LoadedModel

PROBE_SQL = "SELECT 1"
OK = ("ok", "degraded")


async def healthz(request: Request) -> Response:
    return JSONResponse({"status": "ok"})


async def readyz(request: Request) -> Response:
    svc = services(request)
    timeout = svc.config.server.ready_timeout_s
    checks: dict[str, Callable[[CancelToken], None]] = {"job_store": lambda _: svc.jobs.check()}
    if svc.state_dir is not None:
        checks["state_dir"] = lambda _: _writable(svc.state_dir)
    for name, engine in sorted(svc.project.engines.items()):
        checks[f"connection:{name}"] = _probe(engine)
    names = list(checks)
    results = await asyncio.gather(*(_run(checks[name], timeout) for name in names))
    report = dict(zip(names, results, strict=True))
    for name, why in sorted(svc.project.unreachable.items()):
        report[f"connection:{name}"] = {
            "status": "error",
            "error": f"unreachable since start, retrying: {why}",
        }
    degraded = _model_checks(svc, report)
    failing = [name for name, result in report.items() if result["status"] not in OK]
    schema = _schema_ages(svc.project.models.values(), time.time())
    if failing:
        body = {"status": "not ready", "failing": failing, "checks": report, "schema": schema}
        return JSONResponse(body, status_code=503)
    body = {"status": "ready", "store": svc.store_kind, "checks": report, "schema": schema}
    if degraded:
        body["degraded"] = degraded
    return JSONResponse(body)


def _schema_ages(models: Iterable[LoadedModel], now: float) -> dict[str, Any]:
    """Per model, when its schema layer's snapshot was read and how old it is (informational:
    an old snapshot is not a failure; ``sluice refresh`` reads the warehouse again)."""
    return {
        loaded.config.name: {
            "refreshed_at": iso_time(loaded.schema_taken_at),
            "age_s": round(now - loaded.schema_taken_at, 1),
        }
        for loaded in models
        if loaded.schema_taken_at is not None
    }


def _model_checks(svc: Services, report: dict[str, dict[str, Any]]) -> list[str]:
    """A model whose files do not validate (a broken edit, or never loaded) leaves the server
    ready but degraded: ``model:<name>`` names its issues. Returns those checks' names."""
    degraded = []
    models = svc.models
    for cfg in sorted(svc.config.models.values(), key=lambda m: m.name):
        if models is None or cfg.connection in svc.project.unreachable:
            continue
        errors = [str(i) for i in models.issues(cfg.id) if i.severity == "error"]
        name = f"model:{cfg.name}"
        if not errors:
            continue
        serving = cfg.id in svc.project.models
        report[name] = {
            "status": "degraded",
            "error": ("the last good version serves; " if serving else "never loaded; ")
            + "; ".join(errors),
        }
        degraded.append(name)
    return degraded


async def metrics(request: Request) -> Response:
    svc = services(request)
    return Response(svc.jobs.metrics.render(), media_type=CONTENT_TYPE)


def _writable(probe: StateDirProbe | None) -> None:
    problem = probe.problem() if probe is not None else None
    if problem is not None:
        raise OSError(f"{probe.state_dir if probe else ''} cannot be written: {problem}")


def _probe(engine: Engine) -> Callable[[CancelToken], None]:
    def probe(cancel: CancelToken) -> None:
        engine.execute(PROBE_SQL, cancel)

    return probe


async def _run(check: Callable[[CancelToken], None], timeout: float) -> dict[str, Any]:
    cancel = CancelToken()
    started = time.perf_counter()
    try:
        await asyncio.wait_for(asyncio.to_thread(check, cancel), timeout)
    except TimeoutError:
        cancel.cancel()
        return {"status": "error", "error": f"no answer within {timeout:g} s"}
    except Exception as exc:
        message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
        return {"status": "error", "error": message}
    return {"status": "ok", "ms": round((time.perf_counter() - started) * 1000, 3)}
