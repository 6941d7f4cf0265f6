"""A topic's ``cache_policy`` syntax, and the request policies."""

from __future__ import annotations

import pytest

from sluice.cache import CachePolicy, InvalidCachePolicy, parse_ttl


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("90s", 90), ("15m", 900), ("1h", 3600), ("1.5h", 5400), ("2d", 172_800), ("45", 45),
        ("10 minutes", 600), ("1 hour", 3600), (" 30 sec ", 30), ("none", 0), ("off", 0),
        ("0", 0), ("NONE", 0), (120, 120), (0.5, 0.5),
    ],
)  # fmt: skip
def test_durations(text: str | float, seconds: float) -> None:
    assert parse_ttl(text) == seconds


@pytest.mark.parametrize("text", ["soon", "1w", "-5m", "h", "1h30m", ""])
def test_invalid_policies_say_what_is_allowed(text: str) -> None:
    with pytest.raises(InvalidCachePolicy, match='"15m"'):
        parse_ttl(text)


def test_request_policies() -> None:
    assert CachePolicy("SkipRequery").reads and not CachePolicy("SkipRequery").serves_stale
    assert CachePolicy("Standard").reads and CachePolicy("Standard").serves_stale
    for name in ("SkipCache", "SkipCacheAndRebuildExtracts"):
        policy = CachePolicy(name)
        assert not policy.reads and not policy.joins_running
