"""Helpers for the API tests: a project folder, tokens, and an in-process client.

The client drives the real ASGI app through ``httpx.ASGITransport`` on an event loop running in
a background thread, so tests stay synchronous while the app's lifespan (project, stores,
executor) lives for as long as the fixture that owns it.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx

from sluice.auth.tokens import ORGANIZATION, PERSONAL, TokenStore
from sluice.config import Config, load_config
from sluice.server import create_app
from sluice.stores.embedded.tokens import SqliteTokenStore

T = TypeVar("T")

ROOT = Path(__file__).resolve().parents[2]
DEMO_MODEL = ROOT / "src" / "sluice" / "demo" / "model"
LAB_MODEL = Path(__file__).resolve().parent / "lab_model"
ALICE = "0f8fad5b-d9cb-469f-a165-70867728950e"
BOB = "7c9e6679-7425-40de-944b-e07fc1f90ae7"
ORG = "sluice"
OTHER_ORG = "acme"

CONFIG = """\
connections:
  warehouse: {{engine: duckdb, database: {database}}}
  lab: {{engine: duckdb}}
models:
  ecommerce: {{connection: warehouse, path: {demo_model}}}
  lab: {{connection: lab, path: {lab_model}}}
server:
  state_dir: {state_dir}
  organization_id: {org}
users:
  - {{id: {alice}, email: alice@example.com, name: Alice, attributes: {{region: West}}}}
  - {{id: {bob}, email: bob@example.com, name: Bob, allow_raw_sql: true}}
"""


def write_project(folder: Path, database: Path) -> Path:
    """A project folder with the demo model (on ``database``) and the lab model."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "sluice.yaml"
    path.write_text(
        CONFIG.format(
            database=database,
            demo_model=DEMO_MODEL,
            lab_model=LAB_MODEL,
            state_dir=folder / "state",
            org=ORG,
            alice=ALICE,
            bob=BOB,
        )
    )
    return path


def with_server(config: Config, **changes: Any) -> Config:
    return dataclasses.replace(config, server=dataclasses.replace(config.server, **changes))


def with_connection(config: Config, name: str, **changes: Any) -> Config:
    """``config`` with connection ``name`` changed (``max_concurrency=1``, ...)."""
    connections = dict(config.connections)
    connections[name] = dataclasses.replace(connections[name], **changes)
    return dataclasses.replace(config, connections=connections)


@dataclasses.dataclass(frozen=True)
class Keys:
    org: str
    other_org: str
    alice: str  # personal access token
    revoked: str
    expired: str


def create_keys(state_dir: Path) -> Keys:
    store = SqliteTokenStore(state_dir)
    try:
        return create_keys_in(store)
    finally:
        store.close()


def create_keys_in(store: TokenStore) -> Keys:
    org, _ = store.create(ORGANIZATION, ORG, name="tests")
    other, _ = store.create(ORGANIZATION, OTHER_ORG, name="another organization")
    alice, _ = store.create(PERSONAL, ORG, user_id=ALICE, name="alice")
    revoked, token = store.create(ORGANIZATION, ORG, name="revoked")
    store.revoke(token.id)
    expired, _ = store.create(ORGANIZATION, ORG, name="expired", expires_at=1.0)
    return Keys(org, other, alice, revoked, expired)


class FakeClock:
    """A clock tests move by hand (epoch seconds), for TTLs without sleeping."""

    def __init__(self, start: float | None = None) -> None:
        self.now = time.time() if start is None else start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


class LoopThread:
    """An asyncio loop in a daemon thread; ``run`` executes a coroutine on it and waits."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self._thread.start()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 60) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class ApiClient:
    """The app, started, and a synchronous face on an httpx client bound to it in process."""

    keys: Keys

    def __init__(self, config: Config, clock: Callable[[], float] | None = None) -> None:
        self.config = config
        self.app = create_app(config, clock=clock) if clock else create_app(config)
        self.lt = LoopThread()
        self._stack = contextlib.AsyncExitStack()
        try:
            self.lt.run(self._start())
        except BaseException:
            self.lt.close()
            raise

    async def _start(self) -> None:
        await self._stack.enter_async_context(self.app.router.lifespan_context(self.app))
        transport = httpx.ASGITransport(app=self.app, raise_app_exceptions=False)
        self.client = await self._stack.enter_async_context(
            httpx.AsyncClient(transport=transport, base_url="http://sluice.test")
        )

    @property
    def services(self) -> Any:
        return self.app.state.sluice

    def model_id(self, name: str = "ecommerce") -> str:
        return self.config.models[name].id

    def request(
        self, method: str, url: str, *, key: str | None = None, **kw: Any
    ) -> httpx.Response:
        headers = dict(kw.pop("headers", {}))
        if key is not None:
            headers["Authorization"] = f"Bearer {key}"
        return self.lt.run(self.client.request(method, url, headers=headers, **kw))

    def get(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("GET", url, **kw)

    def post(self, url: str, **kw: Any) -> httpx.Response:
        return self.request("POST", url, **kw)

    def run(self, query: Mapping[str, Any], *, key: str, **body: Any) -> list[dict[str, Any]]:
        """POST /query/run; returns the parsed NDJSON lines (status 200 asserted)."""
        response = self.post("/api/v1/query/run", key=key, json={"query": dict(query), **body})
        assert response.status_code == 200, response.text
        return ndjson(response)

    def close(self) -> None:
        try:
            self.lt.run(self._stack.aclose())
        finally:
            self.lt.close()


def open_api(
    folder: Path,
    database: Path,
    *,
    clock: Callable[[], float] | None = None,
    connections: Mapping[str, Mapping[str, Any]] | None = None,
    keys: Keys | None = None,
    **server: Any,
) -> ApiClient:
    """A project in ``folder`` (its own state dir and keys, unless ``keys`` are given),
    started with server and connection overrides."""
    config_path = write_project(folder, database)
    found = keys if keys is not None else create_keys(folder / "state")
    config = with_server(load_config(config_path, env={}), **server)
    for name, changes in (connections or {}).items():
        config = with_connection(config, name, **changes)
    client = ApiClient(config, clock=clock)
    client.keys = found
    return client


def ndjson(response: httpx.Response) -> list[dict[str, Any]]:
    """Parse an NDJSON body, checking the framing the SDK depends on."""
    assert response.headers["content-type"] == "text/ndjson"
    text = response.text
    assert text.endswith("\n") and "\n\n" not in text, text[:200]
    lines = text[:-1].split("\n")
    parsed = [json.loads(line) for line in lines]
    for line, obj in zip(lines, parsed, strict=True):
        assert line == json.dumps(obj, separators=(",", ":"), ensure_ascii=False)
    return parsed


def job_lines(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "job_id" in line]


ApiFactory = Callable[..., ApiClient]  # the ``api_factory`` fixture: more apps, own state
