"""The embedded store: bytes on disk, an SQLite index, LRU eviction by bytes, restarts."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pytest

from sluice.cache import CacheEntry
from sluice.stores.embedded.cache import LocalCacheStore


def entry(
    key: str, size: int, *, model: str = "m", version: str = "v1", at: float = 100.0
) -> CacheEntry:
    return CacheEntry(key, model, version, at, 60.0, 1, size, {"columns": ["x"]})


def data(size: int, fill: bytes = b"x") -> bytes:
    return fill * size


@pytest.fixture()
def clock() -> list[float]:
    return [1000.0]


def store(tmp_path: Path, clock: list[float], capacity: int = 100) -> LocalCacheStore:
    return LocalCacheStore(tmp_path / "cache", capacity_bytes=capacity, clock=lambda: clock[0])


def test_put_get_open(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock)
    assert s.put(entry("a", 10), data(10, b"a"))
    found = s.get("a")
    assert found is not None and found.num_bytes == 10 and found.meta == {"columns": ["x"]}
    opened = s.open("a")
    assert opened is not None and opened.path == s.path("a")
    with opened.file as f:
        assert f.read() == b"a" * 10
    assert s.get("nope") is None and s.open("nope") is None
    s.close()


def test_eviction_is_least_recently_used_first(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock, capacity=30)
    for key in "abc":
        clock[0] += 1
        s.put(entry(key, 10), data(10))
    clock[0] += 1
    s.get("a")  # a is now the most recently used
    s.put(entry("d", 10), data(10))
    assert [e.key for e in s.entries()] == ["c", "a", "d"]
    assert s.size_bytes == 30 and not s.path("b").exists()
    assert not s.put(entry("huge", 31), data(31))  # larger than the whole store: not kept
    assert s.get("huge") is None and s.size_bytes == 30
    s.put(entry("e", 25), data(25))  # evicts as many as it takes
    assert [e.key for e in s.entries()] == ["e"]
    s.close()


def test_replacing_an_entry_keeps_the_accounting(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock)
    s.put(entry("a", 10), data(10))
    s.put(entry("a", 20), data(20))
    assert s.size_bytes == 20 and len(s.entries()) == 1
    s.close()


def test_the_store_survives_a_restart_with_its_lru_order(
    tmp_path: Path, clock: list[float]
) -> None:
    s = store(tmp_path, clock)
    for key in "abc":
        clock[0] += 1
        s.put(entry(key, 10), pa.py_buffer(data(10)))
    clock[0] += 1
    s.get("a")
    s.close()
    (tmp_path / "cache" / "orphan.arrows").write_bytes(b"?")  # no row: removed
    (tmp_path / "cache" / "half.1234.tmp").write_bytes(b"?")  # a write that never finished
    s.path("x")
    reopened = store(tmp_path, clock)
    assert [e.key for e in reopened.entries()] == ["b", "c", "a"]
    assert reopened.size_bytes == 30
    assert sorted(p.name for p in (tmp_path / "cache").iterdir() if p.suffix != ".sqlite" and "sqlite" not in p.name) == [
        "a.arrows", "b.arrows", "c.arrows",
    ]  # fmt: skip
    reopened.close()


def test_a_missing_file_is_forgotten(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock)
    s.put(entry("a", 10), data(10))
    s.path("a").unlink()
    assert s.open("a") is None and s.get("a") is None
    s.close()
    s = store(tmp_path, clock)
    assert s.entries() == []
    s.close()


def test_discard_model_and_purge(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock)
    s.put(entry("old", 10, version="v1"), data(10))
    s.put(entry("new", 10, version="v2"), data(10))
    s.put(entry("other", 10, model="n", version="v1"), data(10))
    assert s.discard_model("m", keep_version="v2") == 1
    assert {e.key for e in s.entries()} == {"new", "other"}
    s.put(entry("early", 10, at=0.0), data(10))  # expired at 60
    assert s.purge(expired_before=100.0) == 1 and s.get("early") is None
    s.discard("new")
    assert {e.key for e in s.entries()} == {"other"}
    s.close()


def test_an_open_file_stays_readable_after_eviction(tmp_path: Path, clock: list[float]) -> None:
    s = store(tmp_path, clock, capacity=10)
    s.put(entry("a", 10), data(10, b"a"))
    opened = s.open("a")
    assert opened is not None
    s.put(entry("b", 10), data(10, b"b"))  # evicts a, and removes its file
    assert not s.path("a").exists()
    with opened.file as f:
        assert f.read() == b"a" * 10
    s.close()


def test_index_rows_are_written_in_batches_and_a_crash_loses_only_cache_entries(
    tmp_path: Path, clock: list[float]
) -> None:
    """A put writes its file at once and its index row with the next batch (``flush``, a purge,
    ``close``, or a put FLUSH_S later): one commit for many puts. A store opened after a crash
    that lost the batch forgets those entries and removes their files; flushed ones survive."""
    s = store(tmp_path, clock)
    assert s.put(entry("a", 10), data(10, b"a")) and s.path("a").exists()
    assert s.get("a") is not None  # served at once, before its row is written
    s.put(entry("b", 10), data(10, b"b"))
    s.flush()
    s.put(entry("c", 10), data(10, b"c"))  # its row waits for the next batch
    s.discard("b")  # a row written, then dropped

    after_crash = store(tmp_path, clock)  # the first store never closed: as if it crashed
    assert after_crash.get("a") is not None
    assert after_crash.get("b") is None and after_crash.get("c") is None
    assert not s.path("c").exists()  # a file no row describes is removed at start
    after_crash.close()
    s.close()  # now c's row is written, but its file is gone: the next start forgets it
    reopened = store(tmp_path, clock)
    assert [e.key for e in reopened.entries()] == ["a"]
    reopened.close()
