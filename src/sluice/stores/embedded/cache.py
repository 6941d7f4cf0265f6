"""The embedded result cache: one file per entry under ``state_dir/cache/``, an SQLite index.

* ``<key>.arrows`` is the entry's Arrow IPC stream, written to a temporary name and renamed, so a
  reader never sees half a file; ``index.sqlite`` holds each entry's metadata and when it was last
  used. Both survive a restart; on opening, rows without a file and files without a row are
  dropped.
* The store is bounded in bytes: a put that goes over ``capacity_bytes`` evicts the least
  recently used entries first. The in-memory index is the source of truth while the process
  runs; last-use times reach the index file on ``purge`` (periodic) and ``close``.
* A reader that has opened an entry's file keeps it: on POSIX an open file stays readable
  after an eviction removes its name.
* A large result reaches the cache already on disk (the worker streamed it to a file in this
  directory, ``spill_dir``): ``put`` hard-links it, and the job store links the same file, so
  one copy serves both; evicting the entry removes only the cache's name.
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import sqlite3
import threading
import time
import uuid
from collections import OrderedDict
from collections.abc import Callable
from pathlib import Path

import pyarrow as pa

from sluice.cache.store import CachedData, CacheEntry
from sluice.results.stream import ResultFile

INDEX_FILE = "index.sqlite"
SUFFIX = ".arrows"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    key TEXT PRIMARY KEY,
    model_id TEXT NOT NULL,
    model_version TEXT NOT NULL,
    computed_at REAL NOT NULL,
    ttl_s REAL NOT NULL,
    num_rows INTEGER NOT NULL,
    num_bytes INTEGER NOT NULL,
    last_used REAL NOT NULL,
    meta TEXT NOT NULL
);
"""


FLUSH_S = 1.0  # new entries' index rows are written at most this long after their put
FLUSH_ROWS = 256  # ... or once this many are waiting


class LocalCacheStore:
    shared = False

    def __init__(
        self,
        directory: Path,
        *,
        capacity_bytes: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = directory
        self.capacity_bytes = capacity_bytes
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: OrderedDict[str, CacheEntry] = OrderedDict()  # least recently used first
        self._used: dict[str, float] = {}
        self._dirty: set[str] = set()
        # Index rows of entries put since the last flush: written in one transaction at most
        # every FLUSH_S (or FLUSH_ROWS rows), not one commit per put. A crash loses them, and
        # with them only cache entries: their files, which no row describes, go at the next start.
        self._new: dict[str, tuple[object, ...]] = {}
        self._paths: dict[str, Path] = {}  # of entries, by key
        self._flushed_at = time.monotonic()
        self._size = 0
        directory.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(
            directory / INDEX_FILE, check_same_thread=False, isolation_level=None, timeout=10.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_SCHEMA)
        self._load()

    # -- reading -------------------------------------------------------------------------------

    @property
    def size_bytes(self) -> int:
        return self._size

    def get(self, key: str) -> CacheEntry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
                self._used[key] = self._clock()
                self._dirty.add(key)
            return entry

    def open(self, key: str) -> CachedData | None:
        # Not under the lock (opening releases the GIL; holding the lock across that would
        # convoy every reader). An entry evicted meanwhile is simply not found; a replaced one
        # is either file, both complete (files are renamed into place, never written in place).
        if key not in self._entries:
            return None
        path = self.path(key)
        try:
            file = pa.OSFile(str(path))
        except (FileNotFoundError, pa.ArrowIOError):
            with self._lock:  # a ``put`` replacing the file holds it: look again after
                if key not in self._entries:
                    return None
                try:
                    file = pa.OSFile(str(path))
                except (FileNotFoundError, pa.ArrowIOError):
                    self._drop_locked(key)  # removed behind our back: forget it
                    return None
        return CachedData(file, path)

    def entries(self) -> list[CacheEntry]:
        with self._lock:
            return list(self._entries.values())

    def path(self, key: str) -> Path:
        """Where the entry ``key``'s file is (remembered while the entry lives: a hit asks)."""
        found = self._paths.get(key)
        if found is None:
            found = self.directory / f"{key}{SUFFIX}"
            if key in self._entries:
                self._paths[key] = found
        return found

    # -- writing -------------------------------------------------------------------------------

    @property
    def spill_dir(self) -> Path:
        """Where a large result is streamed to before it is put here (linked, not copied)."""
        return self.directory

    def put(self, entry: CacheEntry, data: pa.Buffer | bytes | ResultFile) -> bool:
        """Store an entry: bytes are written to a new file; a ``ResultFile`` (a large result
        already on disk) is hard-linked, so the job store and the cache share one copy."""
        size = data.size if isinstance(data, ResultFile) else memoryview(data).nbytes
        if size > self.capacity_bytes:
            return False
        entry = dataclasses.replace(entry, num_bytes=size)
        path = self.path(entry.key)
        tmp = path.with_name(f"{entry.key}.{uuid.uuid4().hex}.tmp")
        if isinstance(data, ResultFile):
            if not data.link(tmp):
                return False
        else:
            with open(tmp, "wb") as out:
                out.write(memoryview(data))
        with self._lock:
            # The old file goes first: renaming over an existing file makes ext4 write the new
            # one's data out at once (its replace-via-rename safeguard), three times the cost.
            # Readers that miss it in between look again under this lock (``open``).
            with contextlib.suppress(FileNotFoundError):
                path.unlink()
            os.replace(tmp, path)
            old = self._entries.pop(entry.key, None)
            if old is not None:
                self._size -= old.num_bytes
            self._entries[entry.key] = entry
            self._size += entry.num_bytes
            self._used[entry.key] = now = self._clock()
            self._dirty.discard(entry.key)
            self._new[entry.key] = _row(entry, now)
            self._evict_locked()
            if len(self._new) >= FLUSH_ROWS or time.monotonic() - self._flushed_at >= FLUSH_S:
                self._flush_locked()
        return True

    def flush(self) -> None:
        """Write the index rows of new entries and the last-used times of read ones."""
        with self._lock:
            self._flush_locked()

    def discard(self, key: str) -> None:
        with self._lock:
            self._drop_locked(key)

    def discard_model(self, model_id: str, *, keep_version: str) -> int:
        with self._lock:
            stale = [
                e.key
                for e in self._entries.values()
                if e.model_id == model_id and e.model_version != keep_version
            ]
            for key in stale:
                self._drop_locked(key)
        return len(stale)

    def purge(self, expired_before: float) -> int:
        with self._lock:
            old = [e.key for e in self._entries.values() if e.expires_at < expired_before]
            for key in old:
                self._drop_locked(key)
            self._flush_locked()
        return len(old)

    def close(self) -> None:
        with self._lock:
            self._flush_locked()
            self._db.close()

    # -- internals (lock held) -----------------------------------------------------------------

    def _evict_locked(self) -> None:
        while self._size > self.capacity_bytes and self._entries:
            key = next(iter(self._entries))
            self._drop_locked(key)

    def _drop_locked(self, key: str) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._size -= entry.num_bytes
        self._used.pop(key, None)
        self._dirty.discard(key)
        with contextlib.suppress(FileNotFoundError):
            self.path(key).unlink()
        self._paths.pop(key, None)
        if self._new.pop(key, None) is None:  # a row not yet written needs no DELETE
            self._db.execute("DELETE FROM entries WHERE key = ?", (key,))

    def _flush_locked(self) -> None:
        self._flushed_at = time.monotonic()
        if not self._dirty and not self._new:
            return
        used = [(self._used[k], k) for k in self._dirty if k in self._used]
        self._db.execute("BEGIN")
        self._db.executemany(
            "INSERT OR REPLACE INTO entries VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            list(self._new.values()),
        )
        self._db.executemany("UPDATE entries SET last_used = ? WHERE key = ?", used)
        self._db.execute("COMMIT")
        self._new.clear()
        self._dirty.clear()

    def _load(self) -> None:
        """Rebuild the in-memory index from the index file, dropping what is not on disk."""
        rows = self._db.execute(
            "SELECT key, model_id, model_version, computed_at, ttl_s, num_rows, num_bytes,"
            " last_used, meta FROM entries ORDER BY last_used"
        ).fetchall()
        gone: list[str] = []
        for key, model_id, version, computed_at, ttl_s, num_rows, num_bytes, used, meta in rows:
            try:
                on_disk = self.path(key).stat().st_size
            except FileNotFoundError:
                on_disk = -1
            if on_disk != num_bytes:
                gone.append(key)
                continue
            self._entries[key] = CacheEntry(
                key, model_id, version, computed_at, ttl_s, num_rows, num_bytes, json.loads(meta)
            )
            self._used[key] = used
            self._size += num_bytes
        with self._lock:
            for key in gone:
                self._drop_locked(key)
            for path in self.directory.iterdir():  # files no row describes, and half-writes
                if path.name.endswith(".tmp") or (
                    path.suffix == SUFFIX and path.name[: -len(SUFFIX)] not in self._entries
                ):
                    with contextlib.suppress(FileNotFoundError):
                        path.unlink()
            self._evict_locked()


def _row(entry: CacheEntry, last_used: float) -> tuple[object, ...]:
    return (
        entry.key,
        entry.model_id,
        entry.model_version,
        entry.computed_at,
        entry.ttl_s,
        entry.num_rows,
        entry.num_bytes,
        last_used,
        json.dumps(entry.meta, separators=(",", ":")),
    )
