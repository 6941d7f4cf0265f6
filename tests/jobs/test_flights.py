"""Single flight in the job service, with a gated stand-in warehouse: who shares an execution,
and when cancelling a job interrupts it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

from sluice.cache import CachePolicy, ResultCache
from sluice.jobs.service import JobService
from sluice.jobs.types import CacheScope, JobRequest
from sluice.stores.embedded.cache import LocalCacheStore
from sluice.stores.embedded.jobs import SqliteJobStore
from tests.jobs.test_service import GatedBackend


class CountingBackend(GatedBackend):
    def __init__(self) -> None:
        super().__init__()
        self.runs = 0

    def run(self, *args: Any, **kwargs: Any) -> Any:
        self.runs += 1
        return super().run(*args, **kwargs)


def request(**changes: Any) -> JobRequest:
    return JobRequest(organization_id="org", user=None, model_id="m", query={}, **changes)


def scope(model_id: str, compiled: Any) -> CacheScope:
    return CacheScope("conn", 60.0)


def service(tmp_path: Path, backend: GatedBackend, **kw: Any) -> tuple[JobService, SqliteJobStore]:
    store = SqliteJobStore(tmp_path)
    jobs = JobService(backend, store, workers=3, retention_s=3600, scope=scope, **kw)
    return jobs, store


async def started(jobs: JobService, backend: CountingBackend, runs: int = 1) -> None:
    for _ in range(500):
        if backend.runs >= runs:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the execution did not start")


def lines_of(result: Any) -> list[dict[str, Any]]:
    return [json.loads(line) for line in result.lines]


def test_jobs_share_one_execution_and_a_cancel_only_detaches(tmp_path: Path) -> None:
    backend = CountingBackend()

    async def scenario() -> list[dict[str, Any]]:
        jobs, store = service(tmp_path, backend)
        await jobs.start()
        try:
            ids = [jobs.submit(request()).id for _ in range(3)]
            await started(jobs, backend)
            await asyncio.sleep(0.05)  # the other two attach to the running flight
            killed = await jobs.cancel("org", ids[0])
            assert killed is not None and json.loads(killed)["error_type"] == "KILL"
            assert not backend.gate.is_set()  # two jobs still wait: the statement goes on
            backend.gate.set()
            return lines_of(await jobs.wait("org", ids, timeout=10))
        finally:
            await jobs.close()
            store.close()

    lines = asyncio.run(scenario())
    assert [line["status"] for line in lines] == ["ERROR", "COMPLETE", "COMPLETE"]
    assert backend.runs == 1


def test_cancelling_every_job_of_an_execution_interrupts_it(tmp_path: Path) -> None:
    backend = CountingBackend()

    async def scenario() -> int:
        jobs, store = service(tmp_path, backend)
        await jobs.start()
        try:
            ids = [jobs.submit(request()).id for _ in range(2)]
            await started(jobs, backend)
            await asyncio.sleep(0.05)
            for job_id in ids:
                await jobs.cancel("org", job_id)
            assert backend.gate.is_set()  # the cancel reached the warehouse
            for _ in range(500):
                if jobs.executing == 0:
                    break
                await asyncio.sleep(0.01)
            return jobs.executing
        finally:
            await jobs.close()
            store.close()

    assert asyncio.run(scenario()) == 0


def test_skip_cache_does_not_share_and_a_later_query_hits_the_cache(tmp_path: Path) -> None:
    backend = CountingBackend()
    backend.gate.set()

    async def scenario() -> list[str]:
        cache = ResultCache(
            LocalCacheStore(tmp_path / "cache", capacity_bytes=1 << 20), default_ttl_s=60
        )
        jobs, store = service(tmp_path, backend, cache=cache)
        await jobs.start()
        try:
            first = [jobs.submit(request(cache=CachePolicy.SKIP_CACHE)).id for _ in range(2)]
            await jobs.wait("org", first, timeout=10)
            for _ in range(500):
                if jobs.executing == 0:
                    break
                await asyncio.sleep(0.01)
            later = jobs.submit(request()).id
            result = await jobs.wait("org", [*first, later], timeout=10)
            return [line["summary"]["cache_type"] for line in lines_of(result)]
        finally:
            await jobs.close()
            store.close()
            cache.close()

    assert asyncio.run(scenario()) == ["MISS", "MISS", "EXACT"]
    assert backend.runs == 2
