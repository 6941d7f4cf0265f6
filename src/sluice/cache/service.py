"""The result cache as the job service uses it: TTLs, freshness, and the store behind it.

Results up to ``hot_entry_max`` bytes are also kept in memory as the base64 text a job line
carries (``hot_bytes`` in all, least recently used out), so a hit on them reads no file and
encodes nothing: with a local store the job service answers such a hit on the event loop,
without a thread. The memory copy is tied to the entry it was made from (its ``computed_at``):
with a shared store another replica may have replaced the entry since, and then the copy is not
used.

A result is *fresh* for its TTL (the topic's ``cache_policy``, else ``server.cache_ttl_s``) and
*stale* after that. A stale entry is still served to ``Standard`` requests (``EXACT_STALE``, and
a refresh runs behind) for up to ``max_stale_s`` more; then it is dropped. The clock is
injected, so TTL behaviour is tested without sleeping.
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa
import pybase64

from sluice.cache.policy import InvalidCachePolicy, parse_ttl
from sluice.cache.store import CachedData, CacheEntry, CacheStore
from sluice.results.arrow import b64encode
from sluice.results.stream import ResultFile

log = logging.getLogger("sluice.cache")


@dataclass(frozen=True, slots=True)
class Lookup:
    entry: CacheEntry
    fresh: bool


class ResultCache:
    def __init__(
        self,
        store: CacheStore,
        *,
        default_ttl_s: float,
        max_stale_s: float = 86_400.0,
        clock: Callable[[], float] = time.time,
        hot_bytes: int = 128 << 20,
        hot_entry_max: int = 8 << 20,
    ) -> None:
        self.store = store
        self.default_ttl_s = max(0.0, default_ttl_s)
        self.max_stale_s = max(0.0, max_stale_s)
        self.clock = clock
        self._ttls: dict[str, float] = {}
        self._hot: OrderedDict[str, tuple[float, bytes]] = OrderedDict()
        self._hot_size = 0
        self._hot_bytes = hot_bytes
        self._hot_entry_max = hot_entry_max
        self._hot_lock = threading.Lock()

    @property
    def local(self) -> bool:
        """Whether lookups stay in this process (no network): safe on the event loop."""
        return not getattr(self.store, "shared", False)

    def ttl(self, topic_policy: str | None) -> float:
        """Seconds results stay fresh under a topic's ``cache_policy`` (None: the default)."""
        if topic_policy is None or not str(topic_policy).strip():
            return self.default_ttl_s
        found = self._ttls.get(topic_policy)
        if found is None:
            try:
                found = parse_ttl(topic_policy)
            except InvalidCachePolicy:
                log.warning("ignoring the invalid cache_policy %r", topic_policy)
                found = self.default_ttl_s
            self._ttls[topic_policy] = found
        return found

    def lookup(self, key: str) -> Lookup | None:
        entry = self.store.get(key)
        if entry is None:
            return None
        now = self.clock()
        if now >= entry.expires_at + self.max_stale_s:
            self.store.discard(key)
            return None
        return Lookup(entry, fresh=now < entry.expires_at)

    def open(self, key: str) -> CachedData | None:
        return self.store.open(key)

    def hot(self, entry: CacheEntry) -> bytes | None:
        """A small entry's base64 text from memory (only after ``lookup`` found the entry)."""
        with self._hot_lock:
            found = self._hot.get(entry.key)
            if found is None or found[0] != entry.computed_at:
                return None
            self._hot.move_to_end(entry.key)
            return found[1]

    def remember(
        self, entry: CacheEntry, data: pa.Buffer | bytes | ResultFile, b64: bytes | None = None
    ) -> None:
        """Keep a small entry's base64 text in memory (``b64``, when already computed)."""
        if _size(data) > self._hot_entry_max:
            return
        if b64 is not None:
            raw = b64
        else:
            raw = b64encode(data.read_buffer() if isinstance(data, ResultFile) else data)
        with self._hot_lock:
            old = self._hot.pop(entry.key, None)
            if old is not None:
                self._hot_size -= len(old[1])
            self._hot[entry.key] = (entry.computed_at, raw)
            self._hot_size += len(raw)
            while self._hot_size > self._hot_bytes:
                _, (_, evicted) = self._hot.popitem(last=False)
                self._hot_size -= len(evicted)

    @property
    def spill_dir(self) -> Path | None:
        """Where the worker streams a large result so that ``put`` can link it instead of
        writing a second copy: the local store's directory (None for a shared store)."""
        directory = getattr(self.store, "spill_dir", None)
        return directory if isinstance(directory, Path) and self.local else None

    def put(
        self,
        key: str,
        data: pa.Buffer | bytes | ResultFile,
        *,
        model_id: str,
        model_version: str,
        computed_at: float,
        ttl_s: float,
        num_rows: int,
        meta: Mapping[str, Any],
        b64: bytes | None = None,
    ) -> CacheEntry | None:
        entry = CacheEntry(
            key=key,
            model_id=model_id,
            model_version=model_version,
            computed_at=computed_at,
            ttl_s=ttl_s,
            num_rows=num_rows,
            num_bytes=_size(data),
            meta=dict(meta),
        )
        if isinstance(data, ResultFile) and self.spill_dir is None:
            stored = self.store.put(entry, data.read_buffer())  # this store only takes bytes
        else:
            stored = self.store.put(entry, data)  # type: ignore[arg-type]  # links the file
        if not stored:
            return None
        self.remember(entry, data, b64)
        return entry

    def stored(self, key: str, b64: bytes) -> Path | bytes:
        """What a job store keeps for a hit answered from memory: the entry's file where the
        store has one (linked, not copied), else the bytes."""
        path_of = getattr(self.store, "path", None)
        if callable(path_of):
            path = path_of(key)
            if isinstance(path, Path):
                return path
        return bytes(pybase64.b64decode(b64))

    def invalidate_model(self, model_id: str, version: str) -> int:
        """Drop what an earlier version of a model cached (its keys can never match again)."""
        return self.store.discard_model(model_id, keep_version=version)

    def purge(self) -> int:
        """Drop entries too stale to serve even to ``Standard``."""
        return self.store.purge(self.clock() - self.max_stale_s)

    def check(self) -> None:
        """Raise when the store cannot be used (readiness)."""
        self.store.get("readiness-check")

    def close(self) -> None:
        self.store.close()


def _size(data: pa.Buffer | bytes | ResultFile) -> int:
    return data.size if isinstance(data, ResultFile) else memoryview(data).nbytes
