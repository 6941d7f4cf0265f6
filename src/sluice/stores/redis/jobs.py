"""Jobs in Redis: records, results, completion events, and the lease that fails orphaned jobs.

Keys (under the prefix, ``sluice.stores.redis.keys``):

* ``job:<id>``, a hash: ``record`` (the JobRecord JSON), ``status``, ``terminal`` (``0``/``1``),
  ``replica`` (who wrote it); it expires ``result_retention_s`` after its last write;
* ``result:<id>``: the IPC stream of a COMPLETE job, same expiry. Results are bounded in bytes
  (``server.redis_results_max_mb``): ``results:stored`` (a sorted set by time stored),
  ``results:sizes`` and ``results:bytes`` account for them, and storing one drops the oldest
  while the total is over the bound. A job whose result was dropped answers like an expired
  one;
* ``jobs:running``, a hash: job id -> the replica running it, for every job whose record is
  running (its id left a run response before it finished);
* ``history:job:<id>`` (the record JSON, expiring ``history_retention_s`` after its last write)
  and ``history:org:<organization>`` (a sorted set: job id -> created at): query history, written
  by the same script as the job;
* ``lease:<replica>``: set with a TTL of ``lease_s`` and renewed every ``lease_s / 3`` by each
  live replica.

Writes go through one Lua script (``_SAVE``) that refuses to replace a terminal record and, when
a job ends, stores its result, clears it from ``jobs:running`` and publishes its id on
``events:done``: every replica listens there (one pub/sub subscription each) and wakes its
waiters for that id. A sweep on every replica, once a second, looks for running jobs whose
replica's lease has expired and fails them (``ERROR``/``KILL``, ``LEASE_EXPIRED_MESSAGE``)
through a second script (``_FAIL``) that checks the lease and the record again atomically, so
two replicas sweeping at once fail a job once.
"""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Sequence
from pathlib import Path

import redis
from redis.client import PubSub

from sluice.jobs.history import HistoryQuery, history_record
from sluice.jobs.record import JobRecord
from sluice.jobs.state import JobEvent
from sluice.jobs.store import EventHandlers, StoredJob, StoredResult
from sluice.results.stream import ResultFile
from sluice.stores.redis.keys import Keys

log = logging.getLogger("sluice.replicas")

LEASE_EXPIRED_MESSAGE = (
    "The replica running this job stopped before it finished; run the query again."
)
_HISTORY_BATCH = 200
_NO_INLINE_LIMIT = 1 << 62  # results are read whole from Redis (there is no file to stream)

_SAVE = """
-- KEYS: job hash, jobs:running, result key, results:stored, results:sizes, results:bytes,
--       history entry, the organization's history zset
-- ARGV: job id, status, terminal (0/1), record JSON, replica, ttl s, result, has result (0/1),
--       now, max result bytes, done channel, result key prefix, history ttl s, created at,
--       history record JSON
local job, running = KEYS[1], KEYS[2]
if redis.call('HGET', job, 'terminal') == '1' then return 0 end
local ttl = tonumber(ARGV[6])
redis.call('HSET', job, 'status', ARGV[2], 'terminal', ARGV[3], 'record', ARGV[4],
           'replica', ARGV[5])
redis.call('EXPIRE', job, ttl)
redis.call('SET', KEYS[7], ARGV[15], 'EX', tonumber(ARGV[13]))
redis.call('ZADD', KEYS[8], tonumber(ARGV[14]), ARGV[1])
if ARGV[3] == '0' then
  redis.call('HSET', running, ARGV[1], ARGV[5])
  return 1
end
redis.call('HDEL', running, ARGV[1])
local size, cap = string.len(ARGV[7]), tonumber(ARGV[10])
if ARGV[8] == '1' and size > 0 and size <= cap then
  local stored, sizes, total = KEYS[4], KEYS[5], KEYS[6]
  local function drop(id)
    local bytes = tonumber(redis.call('HGET', sizes, id) or '0')
    redis.call('HDEL', sizes, id)
    redis.call('ZREM', stored, id)
    redis.call('DEL', ARGV[12] .. id)
    if bytes > 0 then redis.call('DECRBY', total, bytes) end
  end
  drop(ARGV[1])
  redis.call('SET', KEYS[3], ARGV[7], 'EX', ttl)
  redis.call('HSET', sizes, ARGV[1], size)
  redis.call('ZADD', stored, tonumber(ARGV[9]), ARGV[1])
  local now_total = redis.call('INCRBY', total, size)
  -- results past retention have expired already: forget them, then the oldest while over
  local expired = redis.call('ZRANGEBYSCORE', stored, '-inf', tonumber(ARGV[9]) - ttl,
                             'LIMIT', 0, 256)
  for _, id in ipairs(expired) do drop(id) end
  now_total = tonumber(redis.call('GET', total) or '0')
  while now_total > cap do
    local oldest = redis.call('ZRANGE', stored, 0, 0)
    if #oldest == 0 then break end
    drop(oldest[1])
    now_total = tonumber(redis.call('GET', total) or '0')
  end
end
redis.call('PUBLISH', ARGV[11], ARGV[1])
return 1
"""

_FAIL = """
-- KEYS: job hash, jobs:running, the lease of the replica that ran the job, history entry
-- ARGV: job id, status, record JSON, ttl s, done channel, history record JSON
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
if redis.call('HGET', KEYS[1], 'terminal') ~= '0' then
  redis.call('HDEL', KEYS[2], ARGV[1])
  return 0
end
redis.call('HSET', KEYS[1], 'status', ARGV[2], 'terminal', '1', 'record', ARGV[3])
redis.call('SET', KEYS[4], ARGV[6], 'XX', 'KEEPTTL')
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
redis.call('HDEL', KEYS[2], ARGV[1])
redis.call('PUBLISH', ARGV[5], ARGV[1])
return 1
"""


class RedisJobStore:
    """The ``JobStore`` of replicas. Blocking and thread-safe (a connection pool)."""

    shared = True

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        replica_id: str,
        retention_s: float,
        max_result_bytes: int,
        history_retention_s: float = 30 * 86400.0,
    ) -> None:
        self.inline_max = _NO_INLINE_LIMIT
        self.replica_id = replica_id
        self._client = client
        self._keys = keys
        self._ttl = max(1, round(retention_s))
        self._history_ttl = max(1, round(history_retention_s))
        self._max_result_bytes = max(0, max_result_bytes)
        self._save = client.register_script(_SAVE)

    def write_batch(self, items: Sequence[tuple[JobRecord, StoredResult]]) -> None:
        k = self._keys
        pipe = self._client.pipeline(transaction=False)
        for record, result in items:
            data = _result_bytes(result) if record.has_result else b""
            self._save(
                keys=[
                    k.job(record.id), k.running, k.result(record.id),
                    k.results, k.result_sizes, k.result_total,
                    k.history(record.id), k.history_org(record.organization_id),
                ],
                args=[
                    record.id, record.status.value, int(record.is_terminal), record.to_json(),
                    self.replica_id, self._ttl, data, int(record.has_result),
                    time.time(), self._max_result_bytes, k.done_channel, k.result_prefix,
                    self._history_ttl, repr(record.created_at),
                    history_record(record).to_json(),
                ],
                client=pipe,
            )  # fmt: skip
        pipe.execute()

    def get(self, job_id: str) -> StoredJob | None:
        pipe = self._client.pipeline(transaction=False)
        pipe.hget(self._keys.job(job_id), "record")
        pipe.get(self._keys.result(job_id))
        text, result = pipe.execute()
        if text is None:
            return None
        record = JobRecord.from_json(text.decode() if isinstance(text, bytes) else text)
        kept = bytes(result) if result is not None and record.has_result else None
        return StoredJob(record, kept)

    def recover(self, now: float) -> int:
        """Nothing to do: a replica starts with a new id, and the sweep of any live replica fails
        the jobs of one that died (its lease expires)."""
        return 0

    def purge(self, finished_before: float) -> int:
        """Records and results expire by themselves; forget bookkeeping of the ones that did."""
        k = self._keys
        running = list(self._client.hkeys(k.running))
        stored = list(self._client.zrangebyscore(k.results, "-inf", finished_before))
        gone = 0
        for ids, check, forget in ((running, k.job, self._forget_running),
                                   (stored, k.result, self._forget_result)):  # fmt: skip
            if not ids:
                continue
            pipe = self._client.pipeline(transaction=False)
            for raw in ids:
                pipe.exists(check(_text(raw)))
            for raw, exists in zip(ids, pipe.execute(), strict=True):
                if not exists:
                    forget(_text(raw))
                    gone += 1
        return gone

    def _forget_running(self, job_id: str) -> None:
        self._client.hdel(self._keys.running, job_id)

    def _forget_result(self, job_id: str) -> None:
        k = self._keys
        size = self._client.hget(k.result_sizes, job_id)
        pipe = self._client.pipeline(transaction=True)
        pipe.hdel(k.result_sizes, job_id)
        pipe.zrem(k.results, job_id)
        if size is not None and int(size) > 0:
            pipe.decrby(k.result_total, int(size))
        pipe.execute()

    def history(self, query: HistoryQuery) -> list[JobRecord]:
        """Walk the organization's sorted set newest first, reading records in batches, until
        a page of matches (entries whose record expired are dropped from the set)."""
        index = self._keys.history_org(query.organization_id)
        self._client.zremrangebyscore(index, "-inf", f"({query.created_after!r}")
        top: str = repr(query.cursor.created_at) if query.cursor is not None else "+inf"
        found: list[JobRecord] = []
        expired: list[str] = []
        offset = 0
        while len(found) < query.limit:
            batch = [
                _text(raw)
                for raw in self._client.zrevrangebyscore(
                    index, top, repr(query.created_after), start=offset, num=_HISTORY_BATCH
                )
            ]
            if not batch:
                break
            offset += len(batch)
            texts = self._client.mget([self._keys.history(job_id) for job_id in batch])
            for job_id, text in zip(batch, texts, strict=True):
                if text is None:
                    expired.append(job_id)
                    continue
                record = JobRecord.from_json(_text(text))
                if query.matches(record):
                    found.append(record)
        if expired:
            self._client.zrem(index, *expired)
        found.sort(key=lambda r: (r.created_at, r.id), reverse=True)
        return found[: query.limit]

    def purge_history(self, created_before: float) -> int:
        """Entries expire by themselves; each listing trims its organization's index."""
        return 0

    def check(self) -> None:
        self._client.ping()

    def close(self) -> None:
        """The client belongs to ``sluice.stores.select.Stores``, which closes it."""


class RedisJobEvents:
    """This replica's lease and sweep (one thread) and its completion listener (another)."""

    def __init__(
        self,
        client: redis.Redis,
        keys: Keys,
        *,
        replica_id: str,
        lease_s: float,
        retention_s: float,
        sweep_every_s: float = 1.0,
    ) -> None:
        self.replica_id = replica_id
        self._client = client
        self._keys = keys
        self._lease_ms = max(100, round(lease_s * 1000))
        self._renew_every_s = lease_s / 3
        self._sweep_every_s = sweep_every_s
        self._ttl = max(1, round(retention_s))
        self._fail = client.register_script(_FAIL)
        self._control_channel = f"{keys.prefix}:events:replica:{replica_id}"
        self._stop = threading.Event()
        self._subscribed = threading.Event()
        self._handlers: EventHandlers | None = None
        self._threads: list[threading.Thread] = []

    # -- lifecycle ----------------------------------------------------------------------------

    def start(self, handlers: EventHandlers) -> None:
        self._handlers = handlers
        self._renew()  # alive before this replica writes any running job
        for target, name in ((self._listen, "listen"), (self._keep_lease, "lease")):
            thread = threading.Thread(target=target, name=f"sluice-replica-{name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        if not self._subscribed.wait(10):
            raise redis.ConnectionError("could not subscribe to job events in Redis")

    def close(self) -> None:
        """Stop listening and give the lease up (call after this replica's jobs are written)."""
        self._stop.set()
        with contextlib.suppress(redis.RedisError):  # wake the listener out of its read
            self._client.publish(self._control_channel, "stop")
        for thread in self._threads:
            thread.join(timeout=5)
        try:
            self._client.delete(self._keys.lease(self.replica_id))
        except redis.RedisError:
            log.warning("could not release this replica's lease; it expires by itself")

    def request_cancel(self, job_id: str) -> None:
        self._client.publish(self._keys.cancel_channel, job_id)

    # -- the lease and the sweep --------------------------------------------------------------

    def _renew(self) -> None:
        self._client.set(self._keys.lease(self.replica_id), "1", px=self._lease_ms)

    def _keep_lease(self) -> None:
        next_sweep = time.monotonic() + self._sweep_every_s
        tick = min(self._renew_every_s, self._sweep_every_s)
        while not self._stop.wait(tick):
            try:
                self._renew()
                if time.monotonic() >= next_sweep:
                    next_sweep = time.monotonic() + self._sweep_every_s
                    failed = self.sweep(time.time())
                    if failed and self._handlers is not None:
                        self._handlers.orphaned(failed)
            except redis.RedisError as exc:
                log.warning("renewing the lease or sweeping failed: %s", exc)
            except Exception:
                log.exception("the replica sweep failed")

    def sweep(self, now: float) -> int:
        """Fail the running jobs whose replica's lease has expired; returns how many this call
        failed (another replica sweeping at the same time fails the others)."""
        k = self._keys
        running = {
            _text(job): _text(replica) for job, replica in self._client.hgetall(k.running).items()
        }
        others = sorted({r for r in running.values() if r != self.replica_id})
        if not others:
            return 0
        pipe = self._client.pipeline(transaction=False)
        for replica in others:
            pipe.exists(k.lease(replica))
        dead = {r for r, alive in zip(others, pipe.execute(), strict=True) if not alive}
        failed = 0
        for job_id, replica in running.items():
            if replica in dead and self._fail_orphan(job_id, replica, now):
                failed += 1
                log.warning(
                    "job %s: replica %s stopped while running it; marked ERROR",
                    job_id, replica, extra={"job_id": job_id},
                )  # fmt: skip
        return failed

    def _fail_orphan(self, job_id: str, replica: str, now: float) -> bool:
        k = self._keys
        text = self._client.hget(k.job(job_id), "record")
        if text is None:  # expired: nothing left to fail
            self._client.hdel(k.running, job_id)
            return False
        record = JobRecord.from_json(_text(text))
        if record.is_terminal:
            self._client.hdel(k.running, job_id)
            return False
        failed = record.advance(
            JobEvent.FAIL, finished_at=now, error_type="KILL", error_message=LEASE_EXPIRED_MESSAGE
        )
        done = self._fail(
            keys=[k.job(job_id), k.running, k.lease(replica), k.history(job_id)],
            args=[
                job_id,
                failed.status.value,
                failed.to_json(),
                self._ttl,
                k.done_channel,
                history_record(failed).to_json(),
            ],
        )
        return bool(done)

    # -- completion events --------------------------------------------------------------------

    def _listen(self) -> None:
        reconnecting = False
        while not self._stop.is_set():
            pubsub: PubSub | None = None
            try:
                pubsub = _pubsub(self._client)
                pubsub.subscribe(
                    self._keys.done_channel, self._keys.cancel_channel, self._control_channel
                )
                self._subscribed.set()
                if reconnecting and self._handlers is not None:
                    log.warning("job events: reconnected to Redis; checking waiting jobs again")
                    self._handlers.resync()
                reconnecting = False
                while not self._stop.is_set():
                    # Blocks on the socket until a message arrives (or the timeout, to notice a
                    # stop): waking a waiter never waits for a poll interval.
                    message = pubsub.get_message(timeout=1.0)
                    if message is not None:
                        self._dispatch(message)
            except (redis.ConnectionError, redis.TimeoutError) as exc:
                if not self._stop.is_set():
                    log.warning("job events: lost the connection to Redis (%s); reconnecting", exc)
                    reconnecting = True
                    self._stop.wait(0.5)
            except Exception:
                log.exception("job events: the listener failed; restarting it")
                reconnecting = True
                self._stop.wait(0.5)
            finally:
                if pubsub is not None:
                    pubsub.close()

    def _dispatch(self, message: dict[str, object]) -> None:
        handlers = self._handlers
        if handlers is None or message.get("type") != "message":
            return
        channel = _text(message.get("channel"))
        job_id = _text(message.get("data"))
        if channel == self._keys.done_channel:
            handlers.finished(job_id)
        elif channel == self._keys.cancel_channel:
            handlers.cancel(job_id)


def _pubsub(client: redis.Redis) -> PubSub:
    pubsub: PubSub = client.pubsub(ignore_subscribe_messages=True)  # type: ignore[no-untyped-call]
    return pubsub


def _text(value: object) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _result_bytes(result: StoredResult) -> bytes:
    if result is None:
        return b""
    if isinstance(result, ResultFile):  # not made for this store (no inline limit), but kept
        result = result.path
    if isinstance(result, Path):
        try:
            return result.read_bytes()
        except OSError:
            log.warning("the result file %s disappeared before it could be kept", result)
            return b""
    return bytes(memoryview(result))
