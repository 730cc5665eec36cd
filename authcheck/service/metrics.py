"""/metrics, on prometheus_client: decisions, latency, report-only rules, reloads, key fetches, key age.

With one worker the values live in the process. With `serve --workers N`, `serve` points
PROMETHEUS_MULTIPROC_DIR at a private directory before the workers start, so each worker
keeps its counters in its own file there (prometheus_client's multiprocess mode) and a
scrape, whichever worker answers it, sums every file: the counts of all workers, and of
dead workers too, so no counter ever goes down when a worker is replaced.

The key-set age is not stored: it is computed on each scrape from the fetch times every
live worker publishes (see readiness.py), as the oldest key set in use (-1 while some
worker has none), so it is never stale between fetches.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    CollectorRegistry,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from prometheus_client.registry import Collector

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4

disable_created_metrics()  # type: ignore[no-untyped-call]  # no `*_created` series: the names and labels stay those documented

KeyAges = Callable[[], dict[str, float | None]]  # issuer -> age of its oldest key set in use, None if none


class Metrics:
    def __init__(self, key_ages: KeyAges) -> None:
        multiprocess = bool(os.environ.get("PROMETHEUS_MULTIPROC_DIR"))
        self.registry = CollectorRegistry()
        # In multiprocess mode the values go to this worker's files; a scrape reads all files.
        own = None if multiprocess else self.registry
        if multiprocess:
            MultiProcessCollector(self.registry)  # type: ignore[no-untyped-call]
        self.decisions = Counter(
            "authcheck_decisions", "Decisions by answer status and code.", ("status", "code"), registry=own
        )
        self.latency = Histogram(
            "authcheck_decision_seconds", "Time to decide one /verify request.", buckets=LATENCY_BUCKETS, registry=own
        )
        self.fetches = Counter(
            "authcheck_jwks_fetches", "Discovery and JWKS fetches by result.", ("result",), registry=own
        )
        self.report_only = Counter(
            "authcheck_report_only",
            "What report_only rules would have answered, by rule and status.",
            ("rule", "status"),
            registry=own,
        )
        self.config_reloads = Counter(
            "authcheck_config_reloads", "Config reloads (SIGHUP) by result.", ("result",), registry=own
        )
        self.registry.register(_KeyAgeCollector(key_ages))
        self._by_answer: dict[tuple[int, str], Callable[[], None]] = {}

    def observe(self, status: int, code: str, seconds: float) -> None:
        count = self._by_answer.get((status, code))
        if count is None:
            count = self._by_answer[status, code] = self.decisions.labels(str(status), code).inc
        count()
        self.latency.observe(seconds)

    def count_fetch(self, result: str) -> None:
        self.fetches.labels(result).inc()

    def observe_report_only(self, rule: str, status: int) -> None:
        self.report_only.labels(rule, str(status)).inc()

    def observe_reload(self, result: str) -> None:
        self.config_reloads.labels(result).inc()

    def render(self) -> bytes:
        return generate_latest(self.registry)


class _KeyAgeCollector(Collector):
    def __init__(self, key_ages: KeyAges) -> None:
        self._key_ages = key_ages

    def collect(self) -> Iterable[Metric]:
        gauge = GaugeMetricFamily(
            "authcheck_jwks_age_seconds",
            "Age of each issuer's oldest key set in use (-1: some worker has none yet).",
            labels=("issuer",),
        )
        for issuer, age in self._key_ages().items():
            gauge.add_metric((issuer,), -1 if age is None else round(age, 3))
        yield gauge
