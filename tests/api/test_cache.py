"""The result cache through the API: every policy, TTLs on an injected clock, single flight,
the byte bound, a restart, and a model change."""

from __future__ import annotations

import asyncio
import shutil
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from sluice.config import load_config, model_uuid
from sluice.errors import ConfigError
from sluice.results.arrow import decode_table
from tests.api.support import (
    ALICE,
    BOB,
    LAB_MODEL,
    ApiClient,
    ApiFactory,
    FakeClock,
    create_keys,
    job_lines,
    ndjson,
    open_api,
    with_server,
)

REVENUE = {
    "join_paths_from_topic_name": "order_items",
    "fields": ["users.state", "order_items.total_sale_price"],
    "sorts": [{"column_name": "order_items.total_sale_price", "sort_descending": True}],
    "limit": 20,
}


class Counted:
    """Counts the statements the app's project sends to the warehouse (run whole, or
    streamed)."""

    def __init__(self, app: ApiClient) -> None:
        self.count = 0
        project = app.services.project
        execute, stream = project.execute, project.stream

        def counting(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return execute(*args, **kwargs)

        def counting_stream(*args: Any, **kwargs: Any) -> Any:
            self.count += 1
            return stream(*args, **kwargs)

        project.execute = counting
        project.stream = counting_stream  # type: ignore[method-assign]


def wait_for(condition: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out waiting"
        time.sleep(0.01)


def run_job(app: ApiClient, query: dict[str, Any] | None = None, **body: Any) -> dict[str, Any]:
    """Run a query and wait until its execution is in the cache (a finished execution stays
    joinable until then, which an injected clock would make look stale)."""
    query = {"modelId": app.model_id(), **(query or REVENUE)}
    (job,) = job_lines(app.run(query, key=app.keys.org, **body))
    assert job["status"] == "COMPLETE", job
    wait_for(lambda: app.services.jobs.executing == 0)
    return job


@pytest.fixture()
def clocked(api_factory: ApiFactory) -> tuple[ApiClient, FakeClock, Counted]:
    clock = FakeClock()
    app = api_factory(clock=clock)
    return app, clock, Counted(app)


def test_skip_requery_serves_a_fresh_result_and_runs_once_it_expires(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    app, clock, counted = clocked
    first = run_job(app)
    assert first["summary"]["cache_type"] == "MISS"
    assert first["cache_metadata"]["served_from_cache"] is False
    clock.advance(3599)
    hit = run_job(app)  # SkipRequery is the default
    assert hit["summary"]["cache_type"] == "EXACT" and counted.count == 1
    meta = hit["cache_metadata"]
    assert meta["served_from_cache"] is True and meta["ttl_seconds"] == 3600
    assert meta["computed_at"] == first["cache_metadata"]["computed_at"]
    assert meta["expires_at"] == first["cache_metadata"]["expires_at"]
    assert meta["num_rows"] == 20 and meta["result_size_bytes"] > 0
    assert hit["result"] == first["result"]  # the stored bytes, not a re-encode
    assert hit["summary"]["fields"] == first["summary"]["fields"]
    assert hit["query"]["model_job"]["fields"] == REVENUE["fields"]
    clock.advance(2)  # now past the TTL
    again = run_job(app)
    assert again["summary"]["cache_type"] == "MISS" and counted.count == 2
    assert again["cache_metadata"]["computed_at"] > first["cache_metadata"]["computed_at"]


def test_standard_serves_a_stale_result_and_refreshes_it_behind(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    app, clock, counted = clocked
    first = run_job(app, cache="Standard")
    assert first["summary"]["cache_type"] == "MISS"
    assert run_job(app, cache="Standard")["summary"]["cache_type"] == "EXACT"
    clock.advance(4000)
    stale = run_job(app, cache="Standard")
    assert stale["summary"]["cache_type"] == "EXACT_STALE"
    assert stale["cache_metadata"]["served_from_cache"] is True
    assert stale["cache_metadata"]["computed_at"] == first["cache_metadata"]["computed_at"]
    wait_for(lambda: counted.count == 2 and app.services.jobs.executing == 0)  # the refresh
    fresh = run_job(app, cache="Standard")
    assert fresh["summary"]["cache_type"] == "EXACT" and counted.count == 2
    assert fresh["cache_metadata"]["computed_at"] > first["cache_metadata"]["computed_at"]
    assert decode_table(fresh["result"]).equals(decode_table(first["result"]))


def test_skip_requery_does_not_serve_a_stale_result(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    app, clock, counted = clocked
    run_job(app)
    clock.advance(4000)
    assert run_job(app)["summary"]["cache_type"] == "MISS" and counted.count == 2


def test_a_result_too_stale_even_for_standard_is_run_again(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    app, clock, counted = clocked
    run_job(app)
    clock.advance(3600 + 86_400 + 1)  # past the TTL and server.cache_max_stale_s
    assert run_job(app, cache="Standard")["summary"]["cache_type"] == "MISS"
    assert counted.count == 2


@pytest.mark.parametrize("policy", ["SkipCache", "SkipCacheAndRebuildExtracts"])
def test_skip_cache_always_runs_and_stores_the_result(
    clocked: tuple[ApiClient, FakeClock, Counted], policy: str
) -> None:
    app, clock, counted = clocked
    run_job(app)
    clock.advance(10)
    second = run_job(app, cache=policy)
    third = run_job(app, cache=policy)
    assert second["summary"]["cache_type"] == third["summary"]["cache_type"] == "MISS"
    assert counted.count == 3
    hit = run_job(app)
    assert hit["summary"]["cache_type"] == "EXACT" and counted.count == 3
    assert hit["cache_metadata"]["computed_at"] == third["cache_metadata"]["computed_at"]


def test_a_topics_cache_policy_sets_the_ttl(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    app, clock, counted = clocked
    lab = app.model_id("lab")
    hourly = {"modelId": lab, "join_paths_from_topic_name": "hourly", "fields": ["numbers.total"]}
    live = {"modelId": lab, "join_paths_from_topic_name": "live", "fields": ["numbers.total"]}
    first = run_job(app, hourly)
    assert first["cache_metadata"]["ttl_seconds"] == 600  # cache_policy: 10m
    clock.advance(599)
    assert run_job(app, hourly)["summary"]["cache_type"] == "EXACT"
    clock.advance(2)
    assert run_job(app, hourly)["summary"]["cache_type"] == "MISS"
    for _ in range(2):  # cache_policy: none
        job = run_job(app, live)
        assert job["summary"]["cache_type"] == "MISS" and job["cache_metadata"]["ttl_seconds"] == 0
    assert counted.count == 4


def test_twenty_concurrent_identical_queries_run_once(api_factory: ApiFactory) -> None:
    app = api_factory(workers=4)
    counted = Counted(app)
    heavy = {"modelId": app.model_id("lab"), "table": "heavy", "fields": ["heavy.checksum"]}

    async def burst() -> list[Any]:
        posts = [
            app.client.post(
                "/api/v1/query/run",
                json={"query": heavy},
                headers={"Authorization": f"Bearer {app.keys.org}"},
            )
            for _ in range(20)
        ]
        return await asyncio.gather(*posts)

    responses = app.lt.run(burst())
    jobs = [job_lines(ndjson(r))[0] for r in responses]
    assert [j["status"] for j in jobs] == ["COMPLETE"] * 20
    assert counted.count == 1 and app.services.jobs.executions == 1
    checksums = {decode_table(j["result"]).column(0)[0].as_py() for j in jobs}
    assert len(checksums) == 1
    assert len({j["job_id"] for j in jobs}) == 20  # twenty jobs, one execution


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(
    tmp_path: Path, demo_db: Path
) -> None:
    queries = [
        {**REVENUE, "fields": ["order_items.id"], "limit": n, "sorts": []} for n in (700, 701, 702)
    ]
    probe = open_api(tmp_path / "probe", demo_db)
    try:
        sizes = [run_job(probe, q)["cache_metadata"]["result_size_bytes"] for q in queries]
    finally:
        probe.close()
    capacity = sizes[0] + sizes[2] + min(sizes) // 2  # two entries fit, three do not
    app = open_api(tmp_path / "bounded", demo_db, cache_max_mb=capacity / (1 << 20))
    try:
        store = app.services.jobs._result_cache.store
        a, b, c = queries
        run_job(app, a)
        run_job(app, b)
        assert run_job(app, a)["summary"]["cache_type"] == "EXACT"  # a is now the most recent
        run_job(app, c)  # over the bound: b, the least recently used, goes
        assert store.size_bytes <= store.capacity_bytes
        assert len(store.entries()) == 2
        assert run_job(app, a)["summary"]["cache_type"] == "EXACT"
        assert run_job(app, c)["summary"]["cache_type"] == "EXACT"
        assert run_job(app, b)["summary"]["cache_type"] == "MISS"
        files = list((tmp_path / "bounded" / "state" / "cache").glob("*.arrows"))
        assert len(files) == 2
    finally:
        app.close()


def test_cached_results_survive_a_restart(tmp_path: Path, demo_db: Path) -> None:
    """The cache survives a restart, and so does a hit's job: its result is kept with it (the
    entry's file, linked), so /query/wait delivers it after the next restart."""
    first = open_api(tmp_path / "project", demo_db)
    try:
        computed = run_job(first)["cache_metadata"]["computed_at"]
    finally:
        first.close()
    second = open_api(tmp_path / "project", demo_db)
    try:
        counted = Counted(second)
        hit = run_job(second)
        assert hit["summary"]["cache_type"] == "EXACT" and counted.count == 0
        assert hit["cache_metadata"]["computed_at"] == computed
    finally:
        second.close()
    third = open_api(tmp_path / "project", demo_db)
    try:
        params = {"jobIds": hit["job_id"]}
        waited = job_lines(
            ndjson(third.get("/api/v1/query/wait", key=third.keys.org, params=params))
        )
        assert waited[0]["status"] == "COMPLETE" and waited[0]["result"] == hit["result"]
    finally:
        third.close()


@pytest.fixture()
def own_lab(tmp_path: Path, demo_db: Path) -> Iterator[Callable[[], ApiClient]]:
    """Start apps on a project whose lab model is a copy this test may edit."""
    model = tmp_path / "lab_model"
    shutil.copytree(LAB_MODEL, model)
    folder = tmp_path / "project"
    folder.mkdir()
    (folder / "sluice.yaml").write_text(
        "connections:\n  lab: {engine: duckdb}\n  warehouse: {engine: duckdb, database: "
        f"'{demo_db}'}}\nmodels:\n  lab: {{connection: lab, path: '{model}'}}\n"
        "  other: {connection: lab, path: '" + str(LAB_MODEL) + "'}\n"
        f"server: {{state_dir: '{folder / 'state'}'}}\n"
    )
    keys = create_keys(folder / "state")
    opened: list[ApiClient] = []

    def start() -> ApiClient:
        client = ApiClient(with_server(load_config(folder / "sluice.yaml")))
        client.keys = keys
        opened.append(client)
        return client

    yield start
    for client in opened:
        if not client.lt.loop.is_closed():  # the test closed it to restart
            client.close()


def test_a_changed_model_invalidates_its_cached_results(own_lab: Callable[[], ApiClient]) -> None:
    query = {"table": "numbers", "fields": ["numbers.bucket", "numbers.total"]}
    first = own_lab()
    lab, other = model_uuid("lab"), model_uuid("other")
    for model_id in (lab, other):
        (job,) = job_lines(first.run({"modelId": model_id, **query}, key=first.keys.org))
        assert job["summary"]["cache_type"] == "MISS"
    first.close()
    view = Path(first.config.models["lab"].path) / "numbers.view.yaml"
    view.write_text(view.read_text().replace("label: Numbers", "label: Numbers, renamed"))

    second = own_lab()
    entries = second.services.jobs._result_cache.store.entries()
    assert [e.model_id for e in entries] == [other]  # the old version's entry is gone
    (changed,) = job_lines(second.run({"modelId": lab, **query}, key=second.keys.org))
    (same,) = job_lines(second.run({"modelId": other, **query}, key=second.keys.org))
    assert changed["summary"]["cache_type"] == "MISS"
    assert same["summary"]["cache_type"] == "EXACT"
    assert changed["query"]["model_version"] != same["query"]["model_version"]


def test_users_only_share_results_when_the_sql_does_not_read_their_attributes(
    api_factory: ApiFactory,
) -> None:
    app = api_factory()
    query = {"modelId": app.model_id(), **REVENUE}
    alice = job_lines(app.run(query, key=app.keys.org, userId=ALICE))[0]
    wait_for(lambda: app.services.jobs.executing == 0)
    bob = job_lines(app.run(query, key=app.keys.org, userId=BOB))[0]
    assert alice["summary"]["cache_type"] == "MISS"
    assert bob["summary"]["cache_type"] == "EXACT"  # no access filter reads an attribute here


def test_an_invalid_cache_policy_stops_the_server_at_startup(
    own_lab: Callable[[], ApiClient], tmp_path: Path
) -> None:
    (tmp_path / "lab_model" / "bad.topic.yaml").write_text(
        "base_view: numbers\ncache_policy: soon\n"
    )
    with pytest.raises(ConfigError, match="topic bad: cache_policy 'soon' is not a duration"):
        own_lab()


def test_a_cached_small_result_is_answered_at_once_without_a_compile(
    api_factory: ApiFactory,
) -> None:
    app = api_factory(run_window_s=0)
    compiles = []
    compile_ = app.services.project.compile
    app.services.project.compile = lambda *a, **kw: compiles.append(1) or compile_(*a, **kw)
    query = {"modelId": app.model_id(), **REVENUE}
    (job_id,) = app.run(query, key=app.keys.org)[-1]["remaining_job_ids"]  # a zero run window
    app.get("/api/v1/query/wait", key=app.keys.org, params={"jobIds": job_id})
    wait_for(lambda: app.services.jobs.executing == 0)
    assert len(compiles) == 1  # once: the compiler marks whether it reads the clock
    lines = app.run(query, key=app.keys.org)
    (job,) = job_lines(lines)  # answered inside even a zero run window
    assert lines[-1] == {"remaining_job_ids": [], "timed_out": "false"}
    assert job["summary"]["cache_type"] == "EXACT" and len(compiles) == 1
    assert (
        job["summary"]["display_sql"] and job["query"]["model_job"]["fields"] == REVENUE["fields"]
    )


def test_a_query_with_relative_dates_is_compiled_once_a_day(api_factory: ApiFactory) -> None:
    app = api_factory()
    compiles = []
    compile_ = app.services.project.compile
    app.services.project.compile = lambda *a, **kw: compiles.append(1) or compile_(*a, **kw)
    recent = {
        **REVENUE,
        "filters": {"order_items.created_at": {"type": "date", "kind": "TIME_FOR_INTERVAL_DURATION",
                                               "left_side": "90 days ago", "right_side": "90 days"}},
    }  # fmt: skip
    day = datetime.now(UTC).date()
    run_job(app, recent)
    hit = run_job(app, recent)
    assert hit["summary"]["cache_type"] == "EXACT"  # still cached, by its resolved SQL
    # It reads the clock at the day: remembered for the rest of the (UTC) day, then compiled
    # again (tests/jobs/test_memory.py moves the clock across the day's end).
    assert len(compiles) == (1 if datetime.now(UTC).date() == day else 2)


def test_repeated_hits_show_the_same_summary_query_and_cache_metadata(
    clocked: tuple[ApiClient, FakeClock, Counted],
) -> None:
    """A hit's summary, query and cache metadata are worked out on its first hit and shared by
    the next: each hit still has its own ids and times, the miss's result, and the summary the
    first hit showed; a stale hit shows its own (EXACT_STALE)."""
    app, clock, _ = clocked
    miss = run_job(app, cache="Standard")
    first, second = run_job(app, cache="Standard"), run_job(app, cache="Standard")
    assert miss["summary"]["cache_type"] == "MISS" and first["summary"]["cache_type"] == "EXACT"
    assert first["job_id"] != second["job_id"] != miss["job_id"]
    assert first["client_result_id"] != second["client_result_id"]
    for key in ("summary", "query", "cache_metadata", "result"):
        assert first[key] == second[key], key
    assert first["result"] == miss["result"] and first["query"] == miss["query"]
    assert {k: v for k, v in first["summary"].items() if k != "cache_type"} == {
        k: v for k, v in miss["summary"].items() if k not in ("cache_type", "execution_time_ms")
    } | {"execution_time_ms": first["summary"]["execution_time_ms"]}
    clock.advance(3601)
    stale = run_job(app, cache="Standard")
    assert stale["summary"]["cache_type"] == "EXACT_STALE"
    assert stale["cache_metadata"] == first["cache_metadata"]
