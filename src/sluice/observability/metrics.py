"""The server's Prometheus metrics, in a registry of its own (one per app, so tests that start
several apps in one process never share counters).

Counters and histograms are updated where things happen (request middleware, job service);
values that are state rather than events (queue depth, statements running per connection, jobs
in progress) are read when ``/metrics`` is scraped, through ``add_source``, so keeping them up to
date costs nothing on the request path.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Latency buckets from a cached hit (about a millisecond) to a long-poll (the wait window).
REQUEST_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
EXECUTION_BUCKETS = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300)

# (metric name, help, [(label values, value)])
Gauges = Iterable[tuple[str, str, list[str], Iterable[tuple[tuple[str, ...], float]]]]


class _Source(Collector):
    def __init__(self, read: Callable[[], Gauges]) -> None:
        self._read = read

    def collect(self) -> Iterator[Metric]:
        for name, text, labels, samples in self._read():
            family = GaugeMetricFamily(name, text, labels=labels)
            for values, value in samples:
                family.add_metric(list(values), value)
            yield family

    def describe(self) -> Iterator[Metric]:
        return iter(())  # read at scrape time only (describing would call ``read`` at register)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        r = self.registry
        self.requests = Counter(
            "sluice_http_requests", "HTTP requests by route, method and status",
            ["route", "method", "status"], registry=r,
        )  # fmt: skip
        self.request_seconds = Histogram(
            "sluice_http_request_duration_seconds", "HTTP request latency by route",
            ["route"], buckets=REQUEST_BUCKETS, registry=r,
        )  # fmt: skip
        self.jobs = Counter("sluice_jobs", "Jobs finished, by final status", ["status"], registry=r)
        self.cache = Counter(
            "sluice_cache_lookups",
            "Result cache lookups of jobs that may read the cache: hit (fresh), stale (served "
            "expired to Standard), miss",
            ["result"], registry=r,
        )  # fmt: skip
        self.execution_seconds = Histogram(
            "sluice_engine_execution_seconds",
            "Warehouse execution time (statements and their post-query work) by connection",
            ["connection"], buckets=EXECUTION_BUCKETS, registry=r,
        )  # fmt: skip
        self.flight_joins = Counter(
            "sluice_single_flight_joins",
            "Jobs that shared an identical execution already running instead of starting one",
            registry=r,
        )
        self.orphaned = Counter(
            "sluice_jobs_orphaned",
            "Jobs failed because nobody was left for them: the replica running them stopped "
            "(lease expired), or nobody waited on them (server.orphan_timeout_s)",
            registry=r,
        )
        self._hit = self.cache.labels("hit")
        self._stale = self.cache.labels("stale")
        self._miss = self.cache.labels("miss")

    def add_source(self, read: Callable[[], Gauges]) -> None:
        """Gauges computed by ``read`` at every scrape."""
        self.registry.register(_Source(read))

    def cache_lookup(self, fresh: bool | None) -> None:
        """A lookup: True a fresh hit, False a stale one served, None a miss."""
        (self._miss if fresh is None else self._hit if fresh else self._stale).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)
