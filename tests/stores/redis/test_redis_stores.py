"""The Redis stores on a real Redis: jobs (records, results, bound, events, lease and sweep), the
result cache (byte bound, LRU, TTL), API tokens and shared rate limits."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import pyarrow as pa
import pytest
import redis

from sluice.auth.ratelimit import TooManyRequests
from sluice.auth.tokens import ORGANIZATION, PERSONAL
from sluice.cache.store import CacheEntry
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobStatus
from sluice.jobs.store import EventHandlers
from sluice.stores.redis.cache import RedisCacheStore
from sluice.stores.redis.jobs import LEASE_EXPIRED_MESSAGE, RedisJobEvents, RedisJobStore
from sluice.stores.redis.keys import Keys, connect
from sluice.stores.redis.ratelimit import RedisRateLimiter
from sluice.stores.redis.tokens import RedisTokenStore


@pytest.fixture()
def client(redis_url: str) -> Iterator[redis.Redis]:
    found = connect(redis_url)
    yield found
    found.close()


@pytest.fixture()
def keys(redis_prefix: str) -> Keys:
    return Keys(redis_prefix)


def record(**changes: Any) -> JobRecord:
    base: dict[str, Any] = {
        "id": str(uuid.uuid4()), "client_result_id": str(uuid.uuid4()), "organization_id": "org",
        "user_id": None, "model_id": "m", "status": JobStatus.EXECUTING, "created_at": 1.0,
        "connection": "warehouse",
    }  # fmt: skip
    return JobRecord(**{**base, **changes})


def complete(job: JobRecord) -> JobRecord:
    return replace(job, status=JobStatus.COMPLETE, finished_at=time.time(), result_bytes=3)


def jobs_store(client: redis.Redis, keys: Keys, replica: str, cap: int = 1 << 20) -> RedisJobStore:
    return RedisJobStore(client, keys, replica_id=replica, retention_s=600, max_result_bytes=cap)


class Recorder:
    def __init__(self) -> None:
        self.finished: list[str] = []
        self.cancelled: list[str] = []
        self.orphaned = 0
        self.event = threading.Event()

    def handlers(self) -> EventHandlers:
        def done(job_id: str) -> None:
            self.finished.append(job_id)
            self.event.set()

        def orphaned(count: int) -> None:
            self.orphaned += count

        return EventHandlers(done, self.cancelled.append, lambda: None, orphaned)


# -- jobs --------------------------------------------------------------------------------------


def test_a_terminal_record_is_final_and_carries_its_result(client: redis.Redis, keys: Keys) -> None:
    store = jobs_store(client, keys, "r1")
    running = record()
    store.write_batch([(running, None)])
    assert client.hget(keys.running, running.id) == b"r1"
    found = store.get(running.id)
    assert found is not None and found.record == running and found.result is None
    done = complete(running)
    store.write_batch([(done, b"ipc")])
    assert client.hget(keys.running, running.id) is None
    store.write_batch([(running, None)])  # a late running write
    store.write_batch([(replace(done, status=JobStatus.ERROR, error_type="KILL"), None)])
    found = store.get(running.id)
    assert found is not None and found.record == done and found.result == b"ipc"
    assert 0 < client.ttl(keys.job(running.id)) <= 600
    assert 0 < client.ttl(keys.result(running.id)) <= 600
    assert store.get(str(uuid.uuid4())) is None


def test_results_are_bounded_in_bytes_oldest_out(client: redis.Redis, keys: Keys) -> None:
    store = jobs_store(client, keys, "r1", cap=250)
    jobs = [complete(record()) for _ in range(4)]
    for job in jobs:
        store.write_batch([(job, b"x" * 100)])
    assert int(client.get(keys.result_total) or 0) == 200
    kept = [store.get(job.id) for job in jobs]
    assert [k.result is not None for k in kept if k] == [False, False, True, True]
    assert all(k is not None and k.record.status is JobStatus.COMPLETE for k in kept)
    store.write_batch([(complete(record()), b"y" * 300)])  # larger than the bound: not kept
    assert int(client.get(keys.result_total) or 0) == 200


def test_a_finished_job_is_published_to_every_replica(client: redis.Redis, keys: Keys) -> None:
    listeners = [Recorder(), Recorder()]
    events = [
        RedisJobEvents(client, keys, replica_id=f"r{i}", lease_s=3, retention_s=600)
        for i in range(2)
    ]
    for listener, ev in zip(listeners, events, strict=True):
        ev.start(listener.handlers())
    try:
        job = record()
        store = jobs_store(client, keys, "r0")
        store.write_batch([(job, None), (complete(job), b"ipc")])
        assert all(listener.event.wait(5) for listener in listeners)
        assert [listener.finished for listener in listeners] == [[job.id], [job.id]]
        events[1].request_cancel(job.id)
        deadline = time.monotonic() + 5
        while not listeners[0].cancelled and time.monotonic() < deadline:
            listeners[0].event.wait(0.05)
        assert listeners[0].cancelled == [job.id]
    finally:
        for ev in events:
            ev.close()


def test_the_jobs_of_a_replica_whose_lease_expired_fail_once(
    client: redis.Redis, keys: Keys
) -> None:
    alive = RedisJobEvents(client, keys, replica_id="alive", lease_s=3, retention_s=600)
    alive._renew()
    client.set(keys.lease("dead"), "1", px=100)  # a replica that stops renewing
    dead_store, alive_store = jobs_store(client, keys, "dead"), jobs_store(client, keys, "alive")
    orphans = [record(), record(status=JobStatus.ADDED)]
    dead_store.write_batch([(job, None) for job in orphans])
    own = record()
    alive_store.write_batch([(own, None)])
    assert alive.sweep(time.time()) == 0  # the dead replica's lease has not expired yet
    deadline = time.monotonic() + 5
    while client.exists(keys.lease("dead")) and time.monotonic() < deadline:
        time.sleep(0.02)
    # Two replicas sweep at once: each orphan is failed exactly once.
    other = RedisJobEvents(client, keys, replica_id="other", lease_s=3, retention_s=600)
    counts: list[int] = []
    threads = [
        threading.Thread(target=lambda s=s: counts.append(s.sweep(time.time())))
        for s in (alive, other)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sum(counts) == 2
    for job in orphans:
        found = alive_store.get(job.id)
        assert found is not None and found.record.status is JobStatus.ERROR
        assert found.record.error_type == "KILL"
        assert found.record.error_message == LEASE_EXPIRED_MESSAGE
    mine = alive_store.get(own.id)
    assert mine is not None and mine.record.status is JobStatus.EXECUTING  # its lease is alive
    assert client.hkeys(keys.running) == [own.id.encode()]
    assert alive.sweep(time.time()) == 0


def test_a_replica_that_closes_gives_its_lease_up(client: redis.Redis, keys: Keys) -> None:
    events = RedisJobEvents(client, keys, replica_id="r1", lease_s=1.5, retention_s=600)
    events.start(Recorder().handlers())
    try:
        ttl = client.pttl(keys.lease("r1"))
        assert 0 < ttl <= 1500
        time.sleep(0.7)  # renewed every lease_s / 3
        assert client.pttl(keys.lease("r1")) > 1000
    finally:
        events.close()
    assert not client.exists(keys.lease("r1"))


# -- the result cache ----------------------------------------------------------------------------


def entry(
    key: str, *, computed_at: float, ttl_s: float = 60.0, model_version: str = "v1"
) -> CacheEntry:
    return CacheEntry(key, "model", model_version, computed_at, ttl_s, 1, 0, {"columns": ["x"]})


def test_the_cache_is_bounded_and_evicts_the_least_recently_used(
    client: redis.Redis, keys: Keys
) -> None:
    now = [1000.0]
    cache = RedisCacheStore(client, keys, capacity_bytes=250, max_stale_s=30, clock=lambda: now[0])
    for name in ("a", "b"):
        assert cache.put(entry(name, computed_at=now[0]), b"x" * 100)
        now[0] += 1
    found = cache.get("a")  # "a" is used: "b" is now the least recently used
    assert found is not None and found.num_bytes == 100 and found.meta == {"columns": ["x"]}
    data = cache.open("a")
    assert data is not None and data.file.read_buffer().to_pybytes() == b"x" * 100
    now[0] += 1
    assert cache.put(entry("c", computed_at=now[0]), b"y" * 100)
    assert [e.key for e in cache.entries()] == ["a", "c"]
    assert cache.size_bytes == 200
    assert not cache.put(entry("huge", computed_at=now[0]), b"z" * 300)
    # The keys expire when the entry is too stale to serve: ttl 60 s + max stale 30 s.
    assert 89_000 < client.pttl(keys.cache_entry("c")) <= 90_000
    assert cache.discard_model("model", keep_version="v2") == 2
    assert cache.entries() == [] and cache.size_bytes == 0


def test_purge_drops_expired_entries_and_forgets_vanished_ones(
    client: redis.Redis, keys: Keys
) -> None:
    now = [1000.0]
    cache = RedisCacheStore(client, keys, capacity_bytes=1000, max_stale_s=30, clock=lambda: now[0])
    cache.put(entry("old", computed_at=now[0], ttl_s=10), b"o" * 10)
    cache.put(entry("new", computed_at=now[0], ttl_s=100), b"n" * 10)
    cache.put(entry("gone", computed_at=now[0], ttl_s=100), b"g" * 10)
    client.delete(keys.cache_entry("gone"), keys.cache_data("gone"))  # as if Redis expired it
    assert cache.purge(expired_before=now[0] + 20) == 2
    assert [e.key for e in cache.entries()] == ["new"] and cache.size_bytes == 10
    assert cache.open("gone") is None and cache.get("gone") is None


def test_two_replicas_share_one_cache(client: redis.Redis, keys: Keys) -> None:
    one = RedisCacheStore(client, keys, capacity_bytes=1000, max_stale_s=0)
    two = RedisCacheStore(client, keys, capacity_bytes=1000, max_stale_s=0)
    table = pa.table({"x": [1, 2]})
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    one.put(entry("k", computed_at=time.time()), sink.getvalue())
    data = two.open("k")
    assert data is not None
    assert pa.ipc.open_stream(data.file.read_buffer()).read_all().equals(table)


# -- tokens and rate limits -------------------------------------------------------------------


def test_tokens_created_once_are_seen_and_revoked_everywhere(
    client: redis.Redis, keys: Keys
) -> None:
    one, two = RedisTokenStore(client, keys), RedisTokenStore(client, keys)
    secret, token = one.create(ORGANIZATION, "org", name="ci")
    personal, _ = one.create(PERSONAL, "org", user_id="ana")
    found = two.lookup(secret)
    assert found == token and found.usable(time.time())
    assert two.lookup(secret + "x") is None
    assert {t.name for t in two.list()} == {"ci", ""}
    revoked = two.revoke(token.prefix)  # by the displayed prefix, too
    assert revoked.id == token.id and revoked.revoked_at is not None
    again = one.lookup(secret)
    assert again is not None and not again.usable(time.time())
    assert [t.user_id for t in one.list()] == ["ana"]
    assert len(one.list(include_revoked=True)) == 2
    assert two.lookup(personal) is not None


def test_a_rate_limit_is_shared_by_every_replica(client: redis.Redis, keys: Keys) -> None:
    now = [6000.0 + 10]  # 10 s into a minute
    one = RedisRateLimiter(client, keys, 3, clock=lambda: now[0])
    two = RedisRateLimiter(client, keys, 3, clock=lambda: now[0])
    one.check("token")
    two.check("token")
    one.check("token")
    with pytest.raises(TooManyRequests) as refused:
        two.check("token")
    assert refused.value.retry_after_s == 50
    one.check("another token")
    now[0] += 60  # the next minute
    two.check("token")
