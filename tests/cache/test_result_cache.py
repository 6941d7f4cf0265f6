"""TTLs and staleness on an injected clock."""

from __future__ import annotations

from pathlib import Path

from sluice.cache import ResultCache
from sluice.stores.embedded.cache import LocalCacheStore


def make(tmp_path: Path, now: list[float]) -> ResultCache:
    store = LocalCacheStore(tmp_path / "c", capacity_bytes=1 << 20, clock=lambda: now[0])
    return ResultCache(store, default_ttl_s=100, max_stale_s=50, clock=lambda: now[0])


def put(cache: ResultCache, now: list[float], ttl: float = 100) -> None:
    cache.put(
        "k", b"data", model_id="m", model_version="v", computed_at=now[0], ttl_s=ttl,
        num_rows=1, meta={},
    )  # fmt: skip


def test_fresh_then_stale_then_gone(tmp_path: Path) -> None:
    now = [1000.0]
    cache = make(tmp_path, now)
    assert cache.lookup("k") is None
    put(cache, now)
    found = cache.lookup("k")
    assert found is not None and found.fresh and found.entry.expires_at == 1100
    now[0] = 1099.9
    assert cache.lookup("k").fresh  # type: ignore[union-attr]
    now[0] = 1100.0
    stale = cache.lookup("k")
    assert stale is not None and not stale.fresh
    now[0] = 1150.0  # expired + max_stale_s: dropped
    assert cache.lookup("k") is None
    assert cache.store.entries() == []
    cache.close()


def test_ttl_from_the_topic_policy(tmp_path: Path) -> None:
    cache = make(tmp_path, [0.0])
    assert cache.ttl(None) == 100 and cache.ttl("") == 100
    assert cache.ttl("15m") == 900 and cache.ttl("none") == 0
    assert cache.ttl("garbage") == 100  # checked at startup; never fatal here
    cache.close()


def test_purge_drops_what_is_too_stale(tmp_path: Path) -> None:
    now = [1000.0]
    cache = make(tmp_path, now)
    put(cache, now)
    now[0] = 1149.0
    assert cache.purge() == 0
    now[0] = 1151.0
    assert cache.purge() == 1
    cache.close()
