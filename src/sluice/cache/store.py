"""What a result cache stores, and the small protocol every store implements.

An entry is the *encoded* result, the Arrow IPC stream bytes a job line's base64 is made of,
plus what a job line needs besides (fields, column names, timings). Serving a hit is a read, never
a re-encode. The embedded default is ``sluice.stores.embedded.cache.LocalCacheStore`` (files on
local disk, an SQLite index); ``sluice.stores.redis.cache.RedisCacheStore``, shared by replicas,
implements the same protocol.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import pyarrow as pa


@dataclass(frozen=True, slots=True)
class CacheEntry:
    key: str
    model_id: str
    model_version: str
    computed_at: float  # epoch seconds
    ttl_s: float  # fresh until computed_at + ttl_s
    num_rows: int
    num_bytes: int  # size of the IPC stream
    # summary.fields, invalid_calculations, columns, execution_time_ms of the run that made it
    meta: Mapping[str, Any] = field(default_factory=dict)

    @property
    def expires_at(self) -> float:
        return self.computed_at + self.ttl_s


@dataclass(frozen=True, slots=True)
class CachedData:
    """An entry's bytes, opened for reading. The caller owns ``file`` and closes it."""

    file: pa.NativeFile  # positioned at the start of the IPC stream
    path: Path | None = None  # a local store's file (the job store hard-links it)


class CacheStore(Protocol):
    """Thread-safe. Bounded in bytes; the least recently used entries go first."""

    capacity_bytes: int
    shared: bool  # other replicas read and write it (calls go over the network)

    @property
    def size_bytes(self) -> int: ...

    def get(self, key: str) -> CacheEntry | None:
        """The entry under ``key`` (marking it used), or None."""
        ...

    def open(self, key: str) -> CachedData | None:
        """The entry's bytes, or None when it is gone (evicted since ``get``)."""
        ...

    def put(self, entry: CacheEntry, data: pa.Buffer | bytes) -> bool:
        """Store (or replace) an entry; False when it is larger than the whole store."""
        ...

    def discard(self, key: str) -> None: ...

    def discard_model(self, model_id: str, *, keep_version: str) -> int:
        """Drop the entries of ``model_id`` made by any other version; returns how many."""
        ...

    def purge(self, expired_before: float) -> int:
        """Drop entries that expired before ``expired_before``; returns how many."""
        ...

    def entries(self) -> list[CacheEntry]:
        """Every entry, least recently used first (tests, diagnostics)."""
        ...

    def close(self) -> None: ...
