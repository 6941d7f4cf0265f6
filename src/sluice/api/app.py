"""The ASGI app, ``create_app(config)``; its lifespan owns the project, stores and executor."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sluice.api import catalog_routes, query_routes
from sluice.api.errors import http_exception_handler, unhandled_exception_handler
from sluice.api.openapi import openapi_document
from sluice.api.state import Services
from sluice.auth.principal import Authenticator
from sluice.auth.tokens import TokenStore
from sluice.config import Config
from sluice.jobs.service import JobService
from sluice.jobs.store import JobStore
from sluice.project import Project

log = logging.getLogger("sluice.api")


def sluice_version() -> str:
    try:
        return version("sluice")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(config: Config) -> Starlette:
    """The Omni-compatible query API for ``config``. Nothing opens until the lifespan starts."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with _services(config) as svc:
            app.state.sluice = svc
            try:
                yield
            finally:
                app.state.sluice = None

    document = openapi_document(sluice_version())

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
        Route("/health", health, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/whoami", catalog_routes.whoami, methods=["GET"]),
        Route("/api/v1/models", catalog_routes.list_models, methods=["GET"]),
        Route("/api/v1/models/{modelId}/topic", catalog_routes.list_topics, methods=["GET"]),
        Route(
            "/api/v1/models/{modelId}/topic/{topicName:path}",
            catalog_routes.get_topic,
            methods=["GET"],
        ),
        Route("/api/v1/models/{modelId}/view", catalog_routes.list_views, methods=["GET"]),
    ]
    for prefix in ("/api/v1", "/api/unstable"):
        routes.append(Route(f"{prefix}/query/run", query_routes.run_query, methods=["POST"]))
        routes.append(Route(f"{prefix}/query/wait", query_routes.wait_query, methods=["GET"]))
    return Starlette(
        routes=routes,
        lifespan=lifespan,
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )


@contextlib.asynccontextmanager
async def _services(config: Config) -> AsyncIterator[Services]:
    server = config.server
    project = await asyncio.to_thread(Project.open, config)
    store = tokens = None
    try:
        store = JobStore(server.state_dir)
        tokens = TokenStore(server.state_dir)
        jobs = JobService(
            project,
            store,
            workers=server.workers,
            retention_s=server.result_retention_s,
            query_timeout_s=server.query_timeout_s,
            result_memory_bytes=int(server.result_memory_mb * (1 << 20)),
        )
        auth = Authenticator(
            tokens, config.users, rate_limit_per_minute=server.rate_limit_per_minute
        )
        await jobs.start()
        try:
            yield Services(config, project, jobs, auth, _model_timestamps(config))
        finally:
            await jobs.close(server.shutdown_grace_s)
    finally:
        for closeable in (tokens, store):
            if closeable is not None:
                closeable.close()
        project.close()


def _model_timestamps(config: Config) -> dict[str, str]:
    """When each model folder last changed (``createdAt``/``updatedAt`` of ``GET /models``)."""
    out = {}
    for model in config.models.values():
        files = [p for p in Path(model.path).rglob("*") if p.is_file()]
        latest = max((p.stat().st_mtime for p in files), default=0.0)
        out[model.id] = datetime.fromtimestamp(latest, UTC).isoformat().replace("+00:00", "Z")
    return out
