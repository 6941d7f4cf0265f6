"""Query history in both job stores, SQLite and Redis (a real one): the same pages, filters,
cursor and rules (a terminal record is final; an orphaned job's failure reaches its history)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from sluice.jobs.history import HistoryCursor, HistoryQuery
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from sluice.jobs.store import JobStore
from sluice.stores.embedded.jobs import SqliteJobStore
from sluice.stores.redis.jobs import LEASE_EXPIRED_MESSAGE, RedisJobEvents, RedisJobStore
from sluice.stores.redis.keys import Keys, connect


@pytest.fixture(params=["sqlite", "redis"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[JobStore]:
    if request.param == "sqlite":
        found: JobStore = SqliteJobStore(tmp_path)
        yield found
        found.close()
        return
    prefix = request.getfixturevalue("redis_prefix")
    client = connect(request.getfixturevalue("redis_url"))
    yield RedisJobStore(
        client, Keys(prefix), replica_id="r1", retention_s=60, max_result_bytes=1 << 20
    )
    client.close()


def record(created_at: float, **changes: Any) -> JobRecord:
    base: dict[str, Any] = {
        "id": str(uuid.uuid4()), "client_result_id": str(uuid.uuid4()), "organization_id": "org",
        "user_id": None, "model_id": "m", "status": JobStatus.COMPLETE, "created_at": created_at,
        "finished_at": created_at + 1, "connection": "warehouse",
    }  # fmt: skip
    return JobRecord(**{**base, **changes})


def ids(records: list[JobRecord]) -> list[str]:
    return [r.id for r in records]


def test_pages_newest_first_with_a_cursor(store: JobStore) -> None:
    jobs = [record(1000.0 + i) for i in range(7)]
    tie = record(1003.0)  # the same created_at as jobs[3]: the id breaks the tie
    store.write_batch([(job, b"x") for job in [*jobs, tie]])
    expected = ids(sorted([*jobs, tie], key=lambda r: (r.created_at, r.id), reverse=True))
    seen: list[str] = []
    cursor = None
    while True:
        page = store.history(HistoryQuery("org", limit=3, cursor=cursor))
        seen += ids(page)
        if len(page) < 3:
            break
        cursor = HistoryCursor(page[-1].created_at, page[-1].id)
    assert seen == expected


def test_filters_by_organization_user_status_and_age(store: JobStore) -> None:
    alice = record(10.0, user_id="alice")
    bob = record(11.0, user_id="bob", status=JobStatus.ERROR, error_type="QUERY")
    other = record(12.0, organization_id="acme", user_id="alice")
    old = record(1.0, user_id="alice")
    store.write_batch([(alice, b"x"), (bob, None), (other, b"x"), (old, b"x")])
    assert ids(store.history(HistoryQuery("org"))) == [bob.id, alice.id, old.id]
    assert ids(store.history(HistoryQuery("org", user_id="alice"))) == [alice.id, old.id]
    assert ids(store.history(HistoryQuery("org", status=JobStatus.ERROR))) == [bob.id]
    assert ids(store.history(HistoryQuery("org", created_after=5.0))) == [bob.id, alice.id]
    assert ids(store.history(HistoryQuery("acme"))) == [other.id]
    assert store.history(HistoryQuery("nobody")) == []


def test_history_keeps_what_a_listing_shows_and_not_the_results_metadata(store: JobStore) -> None:
    fields = {"a.b": {"label": "B", "data_type": "NUMBER"}}
    job = record(
        7.0,
        summary={"sql": "SELECT 1", "cache_type": "MISS", "fields": fields},
        cache_metadata={"num_rows": 1},
        query={"model_job": {"fields": ["a.b"], "join_paths_from_topic_name": "a", "x": 1}},
        request_query={"fields": ["a.b"], "limit": 5},
    )
    store.write_batch([(job, b"x")])
    (kept,) = store.history(HistoryQuery("org"))
    assert kept.summary == {"sql": "SELECT 1", "cache_type": "MISS"}
    assert kept.cache_metadata is None and kept.request_query == job.request_query
    assert kept.query == {"model_job": {"fields": ["a.b"], "join_paths_from_topic_name": "a"}}
    stored = store.get(job.id)
    assert stored is not None and stored.record == job  # the job itself keeps everything


def test_a_running_job_is_listed_and_its_end_is_final(store: JobStore) -> None:
    running = record(5.0, status=JobStatus.EXECUTING, finished_at=None)
    store.write_batch([(running, None)])
    (listed,) = store.history(HistoryQuery("org"))
    assert listed.status is JobStatus.EXECUTING
    done = replace(running, status=JobStatus.COMPLETE, finished_at=6.0, result_rows=4)
    store.write_batch([(done, b"x")])
    store.write_batch([(running, None)])  # a stale running write never replaces the end
    (listed,) = store.history(HistoryQuery("org"))
    assert listed.status is JobStatus.COMPLETE and listed.result_rows == 4


def test_sqlite_purges_history_by_age(tmp_path: Path) -> None:
    store = SqliteJobStore(tmp_path)
    try:
        store.write_batch([(record(1.0), b"x"), (record(100.0), b"x")])
        assert store.purge(finished_before=1e9) == 2  # results and job rows go first
        assert len(store.history(HistoryQuery("org"))) == 2  # history stays
        assert store.purge_history(created_before=50.0) == 1
        assert [r.created_at for r in store.history(HistoryQuery("org"))] == [100.0]
    finally:
        store.close()


def test_redis_history_expires_and_an_orphans_failure_reaches_it(
    redis_url: str, redis_prefix: str
) -> None:
    client = connect(redis_url)
    keys = Keys(redis_prefix)
    try:
        short = RedisJobStore(
            client, keys, replica_id="dead", retention_s=60, max_result_bytes=1 << 20,
            history_retention_s=1,
        )  # fmt: skip
        running = record(time.time(), status=JobStatus.EXECUTING, finished_at=None)
        short.write_batch([(running, None)])
        sweeper = RedisJobEvents(
            client, keys, replica_id="alive", lease_s=1, retention_s=60, sweep_every_s=60
        )
        assert sweeper.sweep(time.time()) == 1  # "dead" holds no lease
        (listed,) = short.history(HistoryQuery("org"))
        assert listed.status is JobStatus.ERROR and listed.error_message == LEASE_EXPIRED_MESSAGE
        time.sleep(1.2)  # the entry's TTL: the listing drops it, and its index entry
        assert short.history(HistoryQuery("org")) == []
        assert client.zcard(keys.history_org("org")) == 0
    finally:
        client.close()
