"""Cache policies: the request's ``cache`` (contract §8) and a topic's ``cache_policy`` (TTL).

A topic's ``cache_policy`` is how long its results stay fresh:

* ``"<n>s"``, ``"<n>m"``, ``"<n>h"``, ``"<n>d"``: seconds, minutes, hours or days (``"15m"``,
  ``"1h"``, ``"90s"``, ``"1.5h"``); a bare number is seconds;
* ``"none"`` (or ``"0"``, ``"off"``): never cache this topic's results.

A query without a topic, or whose topic sets no policy, gets ``server.cache_ttl_s``.
"""

from __future__ import annotations

import enum
import re

_UNITS = r"s|secs?|seconds?|m|mins?|minutes?|h|hrs?|hours?|d|days?"
_TTL = re.compile(r"^(?P<n>\d+(?:\.\d+)?)\s*(?P<unit>" + _UNITS + r")?$")
_UNIT_SECONDS = {"s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
NO_CACHE = ("none", "off", "never", "false", "0")


class CachePolicy(enum.StrEnum):
    """The ``cache`` of a run request."""

    STANDARD = "Standard"  # serve cached even when stale (EXACT_STALE) and refresh it behind
    SKIP_REQUERY = "SkipRequery"  # the default: serve a fresh cached result, otherwise run
    SKIP_CACHE = "SkipCache"  # always run; store the result
    SKIP_CACHE_AND_REBUILD = "SkipCacheAndRebuildExtracts"  # as SkipCache (no extracts here)

    @property
    def reads(self) -> bool:
        """Whether a cached result may answer the request."""
        return self in (CachePolicy.STANDARD, CachePolicy.SKIP_REQUERY)

    @property
    def serves_stale(self) -> bool:
        return self is CachePolicy.STANDARD

    @property
    def joins_running(self) -> bool:
        """Whether the request may share an identical execution already running."""
        return self.reads


class InvalidCachePolicy(ValueError):
    pass


def parse_ttl(text: str | float | int) -> float:
    """Seconds a result stays fresh under the ``cache_policy`` ``text``; 0 means no caching."""
    if isinstance(text, int | float) and not isinstance(text, bool):
        if text < 0:
            raise InvalidCachePolicy(f"cache_policy must not be negative; got {text!r}")
        return float(text)
    value = str(text).strip().lower()
    if value in NO_CACHE:
        return 0.0
    found = _TTL.match(value)
    if found is None:
        raise InvalidCachePolicy(
            f"cache_policy {text!r} is not a duration: use a number of seconds, minutes, hours "
            'or days such as "90s", "15m", "1h", "1d", or "none" to never cache'
        )
    unit = (found["unit"] or "s")[0]
    return float(found["n"]) * _UNIT_SECONDS[unit]
