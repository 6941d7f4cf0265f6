"""In-memory tables of the job service: finished lines, compiled queries, fresh job ids, and the
least-recently-used map they (and the cache hits' completions) are built on."""

from __future__ import annotations

import json
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from datetime import datetime
from typing import Generic, TypeVar

from sluice.compiler import clock_bucket
from sluice.compiler.types import CompiledQuery
from sluice.jobs.types import Finished, JobRequest, Plan

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class Lru(Generic[K, V]):
    """At most ``capacity`` values by key, least recently used out. Thread-safe."""

    def __init__(self, capacity: int) -> None:
        self._capacity = capacity
        self._items: OrderedDict[K, V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: K) -> V | None:
        with self._lock:
            found = self._items.get(key)
            if found is not None:
                self._items.move_to_end(key)
            return found

    def put(self, key: K, value: V) -> None:
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            while len(self._items) > self._capacity:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


@dataclass(frozen=True, slots=True)
class Memo:
    """A compiled query and where its result lives; ``bucket``: for a query whose SQL reads the
    clock, the clock bucket it was compiled in (``compiler.clock_bucket``), else None."""

    compiled: CompiledQuery
    plan: Plan
    bucket: datetime | None = None


class CompiledMemo:
    """Compiled queries by request, least recently used out. Thread-safe.

    A query whose SQL reads the clock (a relative date) is remembered with the clock bucket it
    was compiled in, and answers only while the clock is still in that bucket (the same day, for
    ``last 7 days`` in the query's time zone; the same second, for ``now``)."""

    def __init__(self, capacity: int = 4096) -> None:
        self._items: Lru[str, Memo] = Lru(capacity)

    def get(
        self, key: str, now: Callable[[], datetime], timezone: str | None
    ) -> tuple[CompiledQuery, Plan] | None:
        """The memo of ``key`` when it holds for the clock ``now()`` (asked only when needed)."""
        found = self._items.get(key)
        if found is None:
            return None
        grain = found.compiled.clock_grain
        if grain is not None and clock_bucket(grain, now(), timezone) != found.bucket:
            return None
        return found.compiled, found.plan

    def put(
        self, key: str, compiled: CompiledQuery, plan: Plan, now: datetime, timezone: str | None
    ) -> None:
        """Remember ``compiled``, compiled at the clock ``now``."""
        grain = compiled.clock_grain
        bucket = None if grain is None else clock_bucket(grain, now, timezone)
        self._items.put(key, Memo(compiled, plan, bucket))

    def __len__(self) -> int:
        return len(self._items)


_CANONICAL = json.JSONEncoder(sort_keys=True, separators=(",", ":"), default=str)


def memo_key(request: JobRequest, version: str = "") -> str:
    """Everything a compile reads besides the clock: the model (or branch) and the version it
    serves, query, user, time zone. A query remembered for another version compiles again."""
    query = _CANONICAL.encode(request.query)
    return f"{request.target}\x00{version}\x00{request.timezone}\x00{request.user!r}\x00{query}"


class UuidSource:
    """Random (version 4) UUIDs from the OS's CSPRNG, read in blocks: one ``getrandom`` system
    call per 256 ids instead of one per id. Used from the event loop only."""

    _BLOCK = 256

    def __init__(self) -> None:
        self._pool = b""
        self._at = 0

    def next(self) -> str:
        if self._at >= len(self._pool):
            self._pool, self._at = os.urandom(16 * self._BLOCK), 0
        raw = self._pool[self._at : self._at + 16]
        self._at += 16
        # What ``str(uuid.UUID(bytes=raw, version=4))`` gives, without building the object:
        # the version nibble set to 4 and the variant's two high bits to 10.
        h = raw.hex()
        return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{_VARIANT[h[16]]}{h[17:20]}-{h[20:]}"


_VARIANT = {c: "89ab"[int(c, 16) & 3] for c in "0123456789abcdef"}  # 10xx: 8, 9, a or b


class LineCache:
    """Rendered lines of recently finished jobs, least recently used first out, bounded in bytes."""

    def __init__(self, capacity_bytes: int) -> None:
        self.capacity = capacity_bytes
        self.size = 0
        self._lines: OrderedDict[str, Finished] = OrderedDict()

    def get(self, job_id: str) -> Finished | None:
        found = self._lines.get(job_id)
        if found is not None:
            self._lines.move_to_end(job_id)
        return found

    def put(self, job_id: str, finished: Finished) -> None:
        self.pop(job_id)
        if finished.line is None or len(finished.line) > self.capacity:
            return
        self._lines[job_id] = finished
        self.size += len(finished.line or b"")
        while self.size > self.capacity:
            _, evicted = self._lines.popitem(last=False)
            self.size -= len(evicted.line or b"")

    def pop(self, job_id: str) -> None:
        found = self._lines.pop(job_id, None)
        if found is not None:
            self.size -= len(found.line or b"")

    def expire(self, finished_before: float) -> None:
        for job_id in [j for j, f in self._lines.items() if f.finished_at < finished_before]:
            self.pop(job_id)

    def __len__(self) -> int:
        return len(self._lines)
