"""The ASGI app: Omni's query API routed to services wired elsewhere (``sluice.server``).

``build_app(wire, metrics=...)`` adds the routes, the request middleware and the error handlers;
its lifespan enters ``wire()`` (an async context manager yielding the ``Services``) when the app
starts and leaves it when the app stops. ``sluice.server.create_app(config)`` is the app of a
configured server.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager
from importlib.metadata import PackageNotFoundError, version

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from sluice.api import (
    catalog_routes,
    history_routes,
    model_routes,
    operations,
    query_routes,
    refresh_routes,
    web,
)
from sluice.api.errors import http_exception_handler, unhandled_exception_handler
from sluice.api.middleware import RequestMiddleware
from sluice.api.openapi import openapi_document
from sluice.api.state import Services
from sluice.observability.metrics import Metrics

#: Opens the services when the app starts, closes them when it stops.
Wire = Callable[[], AbstractAsyncContextManager[Services]]


def sluice_version() -> str:
    try:
        return version("sluice")
    except PackageNotFoundError:
        return "0+unknown"


def build_app(wire: Wire, *, metrics: Metrics) -> Starlette:
    """The Omni-compatible query API over the services ``wire()`` yields; ``metrics`` is the
    registry the request middleware counts into (the one the services were given)."""

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with wire() as svc:
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

    # The query routes first: Starlette tries routes in order, and these take nearly every
    # request (no other route's path overlaps theirs, so the order changes nothing else).
    routes = []
    for prefix in ("/api/v1", "/api/unstable"):
        routes.append(Route(f"{prefix}/query/run", query_routes.run_query, methods=["POST"]))
        routes.append(Route(f"{prefix}/query/wait", query_routes.wait_query, methods=["GET"]))
        routes.append(Route(f"{prefix}/query/jobs", history_routes.list_jobs, methods=["GET"]))
        routes.append(
            Route(f"{prefix}/query/jobs/{{jobId}}", query_routes.cancel_job, methods=["DELETE"])
        )
        routes.append(
            Route(f"{prefix}/query/jobs/{{jobId}}", query_routes.job_status, methods=["GET"])
        )
    routes += [
        Route("/health", health, methods=["GET"]),
        Route("/healthz", operations.healthz, methods=["GET"]),
        Route("/readyz", operations.readyz, methods=["GET"]),
        Route("/metrics", operations.metrics, methods=["GET"]),
        Route("/openapi.json", openapi, methods=["GET"]),
        Route("/api/v1/whoami", catalog_routes.whoami, methods=["GET"]),
        Route("/api/v1/models", catalog_routes.list_models, methods=["GET"]),
        Route("/api/v1/models", model_routes.create_model, methods=["POST"]),
        Route(
            "/api/v1/models/{modelId}/branch/{branchName:path}/merge",
            model_routes.merge_branch,
            methods=["POST"],
        ),
        Route(
            "/api/v1/models/{modelId}/branch/{branchName:path}",
            model_routes.delete_branch,
            methods=["DELETE"],
        ),
        Route("/api/v1/models/{modelId}/topic", catalog_routes.list_topics, methods=["GET"]),
        Route(
            "/api/v1/models/{modelId}/topic/{topicName:path}",
            catalog_routes.get_topic,
            methods=["GET"],
        ),
        Route("/api/v1/models/{modelId}/view", catalog_routes.list_views, methods=["GET"]),
        Route("/api/v1/models/{modelId}/refresh", refresh_routes.refresh_model, methods=["POST"]),
        Route("/api/v1/jobs/{jobId}/status", refresh_routes.job_status, methods=["GET"]),
        Route("/api/v1/models/{modelId}/validate", model_routes.validate, methods=["GET"]),
        Route("/api/v1/models/{modelId}/yaml", model_routes.get_yaml, methods=["GET"]),
        Route("/api/v1/models/{modelId}/yaml", model_routes.post_yaml, methods=["POST"]),
        Route("/api/v1/models/{modelId}/yaml", model_routes.delete_yaml, methods=["DELETE"]),
    ]
    return Starlette(
        routes=[*routes, *web.routes()],
        lifespan=lifespan,
        middleware=[Middleware(RequestMiddleware, metrics=metrics)],
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )
