"""The one cache-hit decision: may a job be answered by a cached result, and the answer if so.

Used on the event loop (the fast path: only a result held in memory, as base64 text) and in a
worker thread (any result: held in memory, read from disk, or streamed into a document). A
stale result served by the ``Standard`` policy starts one background refresh of its key.

What a hit's record and line show besides ids, times and the result (summary, query, cache
metadata, and their JSON) depends only on the query and the entry: it is worked out on the
first hit and shared by the next ones (``CacheHits.completions``), so a repeated hit encodes no
JSON but its ids.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import pyarrow as pa

from sluice.cache import CachedData, Lookup, ResultCache
from sluice.compiler.types import CompiledQuery
from sluice.jobs.lines import Completion, complete, complete_line, completion
from sluice.jobs.memory import Lru
from sluice.jobs.record import JobRecord
from sluice.jobs.store import StoredResult
from sluice.jobs.types import Outcome, Plan
from sluice.observability.metrics import Metrics
from sluice.results.arrow import b64encode

Answer = tuple[Outcome, StoredResult]
Refresh = Callable[[Plan, str, CompiledQuery], None]  # (plan, model id, compiled)
# The job's record, asked at most once a job. ``True``: running, with its plan's summary and
# query (needed only to work out a completion not seen before); ``False``: as it is, which on
# the loop is still ADDED (``lines.complete`` takes it to COMPLETE in one step).
Running = Callable[[bool], JobRecord]
CompletionKey = tuple[str, str, float, str]  # (memo key, entry key, computed at, cache type)


class CacheHits:
    def __init__(
        self,
        cache: ResultCache | None,
        *,
        inline_max: int,
        metrics: Metrics,
        clock: Callable[[], float],
        refresh: Refresh,
    ) -> None:
        self._cache = cache
        self._inline_max = inline_max
        self._metrics = metrics
        self._clock = clock
        self._refresh = refresh
        # Completions of recent hits by (query, entry, cache type).
        self.completions: Lru[CompletionKey, Completion] = Lru(2048)

    def answer(
        self,
        record: Running,
        *,
        plan: Plan,
        model_id: str,
        compiled: CompiledQuery,
        document: bool,
        hot_only: bool,
        memo_key: str | None = None,
    ) -> Answer | None:
        """The job's outcome from the cache, or None when the cache cannot answer it.

        ``record`` gives the job's running record, asked only on a hit. ``hot_only`` (the
        event loop): only a result held in memory answers, and a miss is not counted (the
        worker looks again and counts it). ``memo_key``: the query's compile-memo key, under
        which the hit's completion is remembered (None: worked out every time)."""
        cache = self._cache
        if cache is None or plan.key is None or plan.ttl_s <= 0 or not plan.policy.reads:
            return None
        found = cache.lookup(plan.key)
        if found is None or not (found.fresh or plan.policy.serves_stale):
            if not hot_only:
                self._metrics.cache_lookup(None)
            return None
        hot = None if document else cache.hot(found.entry)
        if hot is not None:
            self._metrics.cache_lookup(found.fresh)
            answer = self._hot_hit(record, found, hot, memo_key)
        elif hot_only:
            return None
        else:
            data = cache.open(plan.key)
            if data is None:
                self._metrics.cache_lookup(None)
                return None
            self._metrics.cache_lookup(found.fresh)
            try:
                answer = self._hit(record, found, data, memo_key, document=document)
            except BaseException:
                data.file.close()
                raise
        if not found.fresh:
            self._refresh(plan, model_id, compiled)
        return answer

    def _hot_hit(self, record: Running, found: Lookup, b64: bytes, memo_key: str | None) -> Answer:
        """A hit answered from the base64 text the cache holds in memory."""
        done, how = self._complete(record, found, memo_key, stream_ms=0.0)
        # The entry's file, linked by the job store (not the bytes inline: a blob a hit makes
        # the store's log grow, measured slower at 32 clients: 6,100 against 7,100 hits/s).
        stored = self._cache.stored(found.entry.key, b64) if self._cache else None
        return Outcome(done, complete_line(done, how, b64)), stored

    def _hit(
        self,
        record: Running,
        found: Lookup,
        data: CachedData,
        memo_key: str | None,
        *,
        document: bool,
    ) -> Answer:
        """A job answered by a cache entry: the bytes are read (or streamed), never re-encoded."""
        began = time.perf_counter()
        entry = found.entry
        large = data.path is not None and entry.num_bytes > self._inline_max
        stored: StoredResult
        if document and large:
            source: pa.Buffer | pa.NativeFile = data.file  # streamed into the document
            b64 = None
        else:
            with data.file:
                source = data.file.read_buffer()
            b64 = None if document else b64encode(source)
            if b64 is not None and self._cache is not None:
                self._cache.remember(entry, source, b64)
        stored = data.path if large and data.path is not None else source
        stream_ms = (time.perf_counter() - began) * 1000
        done, how = self._complete(record, found, memo_key, stream_ms=stream_ms)
        line = complete_line(done, how, b64) if b64 is not None else None
        return Outcome(done, line, source if document else None), stored

    def _complete(
        self, record: Running, found: Lookup, memo_key: str | None, *, stream_ms: float
    ) -> tuple[JobRecord, Completion]:
        """The job's COMPLETE record, answered by the cache entry ``found``, and its completion
        (remembered under ``memo_key``, or worked out from the running record's plan)."""
        entry = found.entry
        cache_type = "EXACT" if found.fresh else "EXACT_STALE"
        key = (memo_key, entry.key, entry.computed_at, cache_type) if memo_key else None
        how = self.completions.get(key) if key is not None else None
        running = record(how is None)  # asked once: it advances the job
        if how is None:
            how = completion(
                running, meta=entry.meta, num_rows=entry.num_rows, num_bytes=entry.num_bytes,
                computed_at=entry.computed_at, ttl_s=entry.ttl_s, cache_type=cache_type,
            )  # fmt: skip
            if key is not None:
                self.completions.put(key, how)
        done = complete(running, how, finished_at=self._clock(), stream_ms=stream_ms)
        return done, how
