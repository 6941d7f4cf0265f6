"""The ASGI app, ``create_app(config)``; its lifespan owns the project, stores and executor.

The stores are the embedded ones (SQLite, local disk) or, with a Redis URL configured, the shared
ones of ``sluice.stores.redis``; the job service and the routes are the same either way.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

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
from sluice.api.statedir import StateDirProbe
from sluice.auth.principal import Authenticator
from sluice.cache import CacheStore, InvalidCachePolicy, ResultCache, parse_ttl
from sluice.compiler.types import CompiledQuery
from sluice.config import Config, ServerConfig
from sluice.errors import ConfigError
from sluice.jobs.service import JobService
from sluice.jobs.types import CacheScope, ScopeOf
from sluice.models.branches import BranchStore
from sluice.models.service import ModelService
from sluice.observability.metrics import Metrics
from sluice.project import BRANCH_SEPARATOR, Project
from sluice.stores.select import open_branches, open_model_sync, open_stores

Clock = Callable[[], float]

log = logging.getLogger("sluice.api")


def sluice_version() -> str:
    try:
        return version("sluice")
    except PackageNotFoundError:
        return "0+unknown"


def create_app(
    config: Config, *, clock: Clock = time.time, project: Project | None = None
) -> Starlette:
    """The Omni-compatible query API for ``config``. Nothing opens until the lifespan starts.

    ``clock`` (epoch seconds) is what jobs and the result cache read the time from; tests pass
    one they can move forward. ``project``: one already opened (``sluice serve`` opens it
    before the server starts, so a broken model is one line, not a traceback); the app owns
    and closes it."""

    metrics = Metrics()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        async with _services(config, clock, metrics, project) as svc:
            app.state.sluice = svc
            flight_server = None
            if config.server.flight_port:
                from sluice.flight.server import start_flight  # pyarrow.flight only when used

                flight_server = await start_flight(
                    svc,
                    host=config.server.host,
                    port=config.server.flight_port,
                    version=sluice_version(),
                )
            try:
                yield
            finally:
                if flight_server is not None:
                    await flight_server.stop()
                app.state.sluice = None

    document = openapi_document(sluice_version())

    async def openapi(request: Request) -> Response:
        return JSONResponse(document)

    async def health(request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    routes = [
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
    return Starlette(
        routes=[*routes, *web.routes()],
        lifespan=lifespan,
        middleware=[Middleware(RequestMiddleware, metrics=metrics)],
        exception_handlers={
            HTTPException: http_exception_handler,
            Exception: unhandled_exception_handler,
        },
    )


@contextlib.asynccontextmanager
async def _services(
    config: Config, clock: Clock, metrics: Metrics, opened: Project | None = None
) -> AsyncIterator[Services]:
    server = config.server
    project: Project = (
        opened
        if opened is not None
        else await asyncio.to_thread(Project.open, config, degraded=True)
    )
    for model_id, issues in project.broken.items():
        log.error(
            "model %s has never loaded; it is unavailable until a change validates: %s",
            model_id,
            "; ".join(str(i) for i in issues if i.severity == "error"),
        )
    for name, why in project.unreachable.items():
        log.error(
            "connection %s could not be reached; its models are unavailable and sluice retries "
            "every %g s: %s",
            name,
            server.reconnect_s,
            why,
        )
    stores = None
    branches: BranchStore | None = None
    try:
        check_cache_policies(project)
        stores = await asyncio.to_thread(open_stores, server, clock=clock)
        branches = await asyncio.to_thread(open_branches, server)
        sync = await asyncio.to_thread(open_model_sync, server)
        models = ModelService(project, branches=branches, sync=sync, clock=clock)
        cache = await asyncio.to_thread(open_result_cache, server, project, stores.cache, clock)
        jobs = JobService(
            project,
            stores.jobs,
            workers=server.workers,
            retention_s=server.result_retention_s,
            history_retention_s=server.history_retention_days * 86400,
            query_timeout_s=server.query_timeout_s,
            orphan_timeout_s=server.orphan_timeout_s,
            result_memory_bytes=int(server.result_memory_mb * (1 << 20)),
            max_result_bytes=int(server.max_result_mb * (1 << 20)),
            cache=cache,
            scope=cache_scope(project, cache),
            model_version=models.version_hash,
            clock=clock,
            events=stores.events,
            limits=project.concurrency_limits(),
            connection_of=project.connection_of,
            metrics=metrics,
        )
        auth = Authenticator(
            stores.tokens,
            config.users,
            rate_limit_per_minute=server.rate_limit_per_minute,
            limiter=stores.limiter,
        )
        await jobs.start()
        if stores.replica_id:
            log.info("replica %s: jobs, cache and keys in Redis", stores.replica_id)
        retry = asyncio.create_task(_reconnect(project, server.reconnect_s))
        watch = asyncio.create_task(_watch(models, server.model_poll_s))
        try:
            timestamps = _model_timestamps(config)
            probe = StateDirProbe(server.state_dir) if stores.kind == "embedded" else None
            svc = Services(config, project, jobs, auth, timestamps, stores.kind, probe, models)
            models.on_config(lambda changed: setattr(svc, "config", changed))  # sluice.yaml
            yield svc
        finally:
            for task in (retry, watch):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            await jobs.close(server.shutdown_grace_s)
            models.close()
    finally:
        if stores is not None:
            stores.close()  # the cache store too
        if branches is not None:
            branches.close()
        project.close()


async def _reconnect(project: Project, every_s: float) -> None:
    """Retry the connections that were unreachable at start until every one answers."""
    while project.unreachable and every_s > 0:
        await asyncio.sleep(every_s)
        try:
            back = await asyncio.to_thread(project.reconnect)
        except Exception:
            log.exception("reconnecting failed")
            continue
        for name in back:
            log.info("connection %s is reachable again; its models serve", name)


async def _watch(models: ModelService, every_s: float) -> None:
    """The live reload: check the model folders every ``every_s`` for changed files."""
    while every_s > 0:
        await asyncio.sleep(every_s)
        try:
            await asyncio.to_thread(models.poll)
        except Exception:
            log.exception("reloading the models failed")


def open_result_cache(
    server: ServerConfig, project: Project, store: CacheStore | None, clock: Clock
) -> ResultCache | None:
    """The result cache on ``store`` (None: no cache, ``cache_max_mb`` is 0), without what
    earlier versions of the loaded models left in it."""
    if store is None:
        return None
    cache = ResultCache(
        store, default_ttl_s=server.cache_ttl_s, max_stale_s=server.cache_max_stale_s, clock=clock
    )
    for model_id, loaded in project.models.items():
        dropped = cache.invalidate_model(model_id, loaded.semantic.version)
        if dropped:
            log.info("model %s changed: dropped %d cached result(s)", loaded.config.name, dropped)
    return cache


def cache_scope(project: Project, cache: ResultCache | None) -> ScopeOf:
    """Where a compiled query's results are cached: its connection, and its topic's TTL."""

    def scope(model_id: str, compiled: CompiledQuery) -> CacheScope:
        model = project.config.model_by_id(model_id.partition(BRANCH_SEPARATOR)[0])
        connection = project.config.connections[model.connection].id if model else ""
        if cache is None:
            return CacheScope(connection, 0.0)
        topics = project.model(model_id).semantic.topics
        topic = topics.get(compiled.topic) if compiled.topic else None
        return CacheScope(connection, cache.ttl(topic.cache_policy if topic else None))

    return scope


def check_cache_policies(project: Project) -> None:
    """Every topic's ``cache_policy`` must parse (a typo would silently cache for the default)."""
    problems = []
    for loaded in project.models.values():
        for topic in loaded.semantic.topics.values():
            if topic.cache_policy is None:
                continue
            try:
                parse_ttl(topic.cache_policy)
            except InvalidCachePolicy as exc:
                problems.append(f"model {loaded.config.name}, topic {topic.name}: {exc}")
    if problems:
        raise ConfigError("; ".join(problems))


def _model_timestamps(config: Config) -> dict[str, str]:
    """When each model folder last changed (``createdAt``/``updatedAt`` of ``GET /models``)."""
    out = {}
    for model in config.models.values():
        files = [p for p in Path(model.path).rglob("*") if p.is_file()]
        latest = max((p.stat().st_mtime for p in files), default=0.0)
        out[model.id] = datetime.fromtimestamp(latest, UTC).isoformat().replace("+00:00", "Z")
    return out
