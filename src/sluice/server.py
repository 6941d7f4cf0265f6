"""The composition root: config -> project (models, engines) -> stores -> services -> the app.

``create_app(config)`` is the server's ASGI app: when it starts it opens the project (unless one
is handed in), the stores (``stores.select``: embedded, or Redis when a URL is configured), the
model service, the result cache, the job service, authentication and the schema refresh jobs,
then the Arrow Flight SQL server when ``server.flight_port`` is set; it closes them in the
reverse order when it stops. ``api.app.build_app`` only routes to what this module wires.

``sluice serve`` calls :func:`preflight` (what would stop the server, found before it starts)
and then :func:`run` (uvicorn until stopped).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path

from starlette.applications import Starlette

from sluice.api.app import build_app, sluice_version
from sluice.api.state import Services
from sluice.api.statedir import StateDirProbe
from sluice.auth.principal import Authenticator
from sluice.cache import CacheStore, InvalidCachePolicy, ResultCache, parse_ttl
from sluice.compiler.types import CompiledQuery
from sluice.config import Config, ServerConfig
from sluice.errors import ConfigError, SluiceError
from sluice.jobs.service import JobService
from sluice.jobs.types import CacheScope, ScopeOf
from sluice.models.branches import BranchStore
from sluice.models.refresh import RefreshJobs
from sluice.models.service import ModelService
from sluice.observability.metrics import Metrics
from sluice.project import BRANCH_SEPARATOR, Project
from sluice.stores.select import open_branches, open_model_sync, open_stores

Clock = Callable[[], float]

log = logging.getLogger("sluice.api")  # the name these lines have always been logged under


class StartError(Exception):
    """The server cannot start: one line naming the path, port or model, and the cause."""


class ServeError(Exception):
    """The server stopped on an error (the message), or never started (empty: uvicorn logged
    why)."""


def create_app(
    config: Config, *, clock: Clock = time.time, project: Project | None = None
) -> Starlette:
    """The Omni-compatible query API for ``config``. Nothing opens until the lifespan starts.

    ``clock`` (epoch seconds) is what jobs and the result cache read the time from; tests pass
    one they can move forward. ``project``: one already opened (``sluice serve`` opens it
    before the server starts, so a broken model is one line, not a traceback); the app owns
    and closes it."""
    metrics = Metrics()
    return build_app(lambda: serving(config, clock, metrics, project), metrics=metrics)


@contextlib.asynccontextmanager
async def serving(
    config: Config, clock: Clock, metrics: Metrics, project: Project | None = None
) -> AsyncIterator[Services]:
    """The wired services, with the Flight SQL server on when ``server.flight_port`` is set."""
    async with open_services(config, clock, metrics, project) as svc:
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
            yield svc
        finally:
            if flight_server is not None:
                await flight_server.stop()


@contextlib.asynccontextmanager
async def open_services(
    config: Config, clock: Clock, metrics: Metrics, opened: Project | None = None
) -> AsyncIterator[Services]:
    """Open the project, stores and services for ``config``; close them all on the way out.

    A model that does not load and a connection that does not answer leave the server up
    (degraded): the one is logged and waits for a change that validates, the other is retried
    every ``server.reconnect_s``."""
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
            svc = Services(
                config,
                project,
                jobs,
                auth,
                model_timestamps(config),
                stores.kind,
                StateDirProbe(server.state_dir) if stores.kind == "embedded" else None,
                models,
                RefreshJobs(),
            )
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
        # Looked up when asked: a model added to sluice.yaml while serving has no entry in a
        # table built at start.
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


def model_timestamps(config: Config) -> dict[str, str]:
    """When each model folder last changed (``createdAt``/``updatedAt`` of ``GET /models``)."""
    out = {}
    for model in config.models.values():
        files = [p for p in Path(model.path).rglob("*") if p.is_file()]
        latest = max((p.stat().st_mtime for p in files), default=0.0)
        out[model.id] = datetime.fromtimestamp(latest, UTC).isoformat().replace("+00:00", "Z")
    return out


# -- sluice serve ---------------------------------------------------------------------------------


def preflight(config: Config, host: str, port: int) -> Project:
    """What would stop the server, found before it starts: the state directory is writable, the
    port is free, the project opens (degraded: a broken model or an unreachable connection does
    not stop it). Raises :class:`StartError`, never a traceback."""
    state_dir = config.server.state_dir
    try:
        state_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StartError(
            f"state_dir {state_dir} cannot be created: {exc.strerror or exc}"
        ) from None
    problem = StateDirProbe(state_dir).problem()
    if problem is not None:
        raise StartError(f"state_dir {state_dir} cannot be written: {problem}")
    try:
        with socket.create_server((host, port), reuse_port=False):
            pass
    except OSError as exc:
        raise StartError(f"cannot listen on {host}:{port}: {exc.strerror or exc}") from None
    try:
        return Project.open(config, degraded=True)
    except SluiceError as exc:
        raise StartError(exc.message) from None
    except OSError as exc:
        raise StartError(f"{exc.filename or 'the project'}: {exc.strerror or exc}") from None


def run(
    config: Config,
    project: Project,
    host: str,
    port: int,
    *,
    log_level: str,
    on_ready: Callable[[], None] | None = None,
) -> None:
    """Serve ``project`` (from :func:`preflight`; the app owns and closes it) until stopped.

    ``on_ready`` runs once the server listens: anything that must not happen unless the server
    really starts (the demo's key) goes there; if it raises, the server stops and
    :class:`ServeError` carries the error. A server that never started raises it too."""
    import uvicorn

    server_config = uvicorn.Config(
        create_app(config, project=project),
        host=host,
        port=port,
        log_level=log_level,
        log_config=None,  # every record goes through sluice's handler (JSON or text)
        access_log=False,  # sluice logs each request itself, with its request id and timing
        # A long-poll can hold a connection for the whole wait window; don't wait for it.
        timeout_graceful_shutdown=3,
    )
    server = uvicorn.Server(server_config)
    failed: list[str] = []

    async def serve() -> None:
        task = asyncio.create_task(server.serve())
        while on_ready and not server.started and not task.done():
            await asyncio.sleep(0.05)
        if on_ready and server.started:
            try:
                on_ready()
            except (SluiceError, OSError) as exc:  # e.g. the key store or key file unusable
                failed.append(exc.message if isinstance(exc, SluiceError) else str(exc))
                server.should_exit = True
        await task

    # uvloop (and httptools) when installed, as ``uvicorn.run`` would pick them.
    with asyncio.Runner(loop_factory=server_config.get_loop_factory()) as runner:
        runner.run(serve())
    if failed:
        raise ServeError(failed[0])
    if not server.started:
        raise ServeError("")
