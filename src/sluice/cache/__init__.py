"""The result cache: keys, TTL policies, single-store protocol and the embedded local store."""

from sluice.cache.key import cache_key
from sluice.cache.policy import CachePolicy, InvalidCachePolicy, parse_ttl
from sluice.cache.service import Lookup, ResultCache
from sluice.cache.store import CachedData, CacheEntry, CacheStore

__all__ = [
    "CacheEntry",
    "CachePolicy",
    "CacheStore",
    "CachedData",
    "InvalidCachePolicy",
    "Lookup",
    "ResultCache",
    "cache_key",
    "parse_ttl",
]
