"""The compile memo: one compile per query, model version and (for a query whose SQL reads the
clock) clock bucket; a repeat, cache bypassed or not, skips the compiler."""

from __future__ import annotations

import asyncio
import json
import os
import uuid
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from sluice.cache import CachePolicy
from sluice.compiler.types import CompiledQuery
from sluice.config import UserConfig
from sluice.engines.base import CancelToken
from sluice.jobs.memory import CompiledMemo, UuidSource
from sluice.jobs.service import JobService
from sluice.jobs.types import JobRequest, Plan
from sluice.project import QueryResult
from sluice.stores.embedded.jobs import SqliteJobStore


def compiled(grain: str | None = None, sql: str = "SELECT 1") -> CompiledQuery:
    return CompiledQuery(
        sql=sql, dialect="duckdb", fields=(), missing_fields=(), model_version="v",
        base_view="v", topic=None, limit=None, clock_grain=grain,
    )  # fmt: skip


PLAN = Plan(None, 0.0, CachePolicy.SKIP_CACHE)


def test_a_query_that_reads_the_clock_is_remembered_for_its_day_in_its_time_zone() -> None:
    memo = CompiledMemo()
    # 23:00 on 9 January in New York (UTC-5): the day there ends at 05:00 UTC.
    at = datetime(2025, 1, 10, 4, 0, tzinfo=UTC)
    memo.put("k", compiled("day"), PLAN, at, "America/New_York")
    memo.put("utc", compiled("day"), PLAN, at, None)
    assert memo.get("k", lambda: at + timedelta(minutes=59, seconds=59), "America/New_York")
    assert memo.get("k", lambda: at + timedelta(hours=1), "America/New_York") is None
    assert memo.get("utc", lambda: at + timedelta(hours=19, minutes=59), None)
    assert memo.get("utc", lambda: at + timedelta(hours=20), None) is None


def test_a_query_that_does_not_read_the_clock_is_remembered_whatever_the_time() -> None:
    memo = CompiledMemo(capacity=2)
    at = datetime(2025, 1, 10, tzinfo=UTC)
    for key in ("a", "b"):
        memo.put(key, compiled(), PLAN, at, None)
    assert memo.get("a", lambda: at + timedelta(days=400), None) is not None
    memo.put("c", compiled(), PLAN, at, None)  # "b" was used least recently: it goes
    assert memo.get("b", lambda: at, None) is None
    assert memo.get("a", lambda: at, None) and memo.get("c", lambda: at, None)
    assert len(memo) == 2


def test_the_clock_is_read_only_for_a_query_that_reads_it() -> None:
    memo = CompiledMemo()
    at = datetime(2025, 1, 10, tzinfo=UTC)
    memo.put("k", compiled(), PLAN, at, None)

    def clock() -> datetime:
        raise AssertionError("the clock was read for a query that does not read it")

    assert memo.get("k", clock, None) is not None


class CountingBackend:
    """Compiles to a fixed statement, counting compiles; runs return one row at once."""

    def __init__(self, grain: str | None = None) -> None:
        self.compiles = 0
        self.grain = grain

    def compile(
        self,
        model_id: str,
        query: Mapping[str, Any],
        *,
        now: datetime,
        user: UserConfig | None = None,
        timezone: str | None = None,
    ) -> CompiledQuery:
        self.compiles += 1
        return compiled(self.grain, sql=f"SELECT {self.compiles}")

    def run(
        self, model_id: str, compiled: CompiledQuery, cancel: CancelToken | None = None
    ) -> QueryResult:
        return QueryResult(pa.table({"x": [1]}), {}, {})


def run_twice(tmp_path: Path, backend: CountingBackend, versions: list[str]) -> list[str]:
    """Submit the same SkipCache query twice, the model serving ``versions[i]`` the i-th time."""

    async def scenario() -> list[str]:
        served = iter(versions)
        current = [""]

        def version(model_id: str) -> str:
            return current[0]

        store = SqliteJobStore(tmp_path)
        jobs = JobService(backend, store, workers=2, retention_s=3600, model_version=version)
        await jobs.start()
        statuses = []
        try:
            for _ in versions:
                current[0] = next(served)
                request = JobRequest(organization_id="org", user=None, model_id="m",
                                     query={"fields": ["a.b"]}, cache=CachePolicy.SKIP_CACHE)  # fmt: skip
                job = jobs.submit(request)
                waited = await jobs.wait("org", [job.id], timeout=30)
                statuses.append(json.loads(waited.lines[0])["status"])
        finally:
            await jobs.close()
            store.close()
        return statuses

    return asyncio.run(scenario())


def test_a_cache_bypassing_repeat_is_not_compiled_again(tmp_path: Path) -> None:
    backend = CountingBackend()
    assert run_twice(tmp_path, backend, ["v1", "v1", "v1"]) == ["COMPLETE"] * 3
    assert backend.compiles == 1


def test_a_new_model_version_compiles_again(tmp_path: Path) -> None:
    backend = CountingBackend()
    assert run_twice(tmp_path, backend, ["v1", "v2", "v2"]) == ["COMPLETE"] * 3
    assert backend.compiles == 2


def test_job_ids_are_the_version_4_uuids_of_the_random_bytes(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """``UuidSource`` spells ids without building ``uuid.UUID`` objects: the same text."""
    block = bytes(range(256)) * 16  # every byte value in every position of an id
    monkeypatch.setattr(os, "urandom", lambda n: block[:n])
    ids = UuidSource()
    for at in range(0, 256 * 16, 16):
        assert ids.next() == str(uuid.UUID(bytes=block[at : at + 16], version=4))
    monkeypatch.undo()
    fresh = UuidSource()
    made = {fresh.next() for _ in range(1000)}
    assert len(made) == 1000
    assert all(uuid.UUID(i).version == 4 and uuid.UUID(i).variant == uuid.RFC_4122 for i in made)
