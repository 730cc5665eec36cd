"""Prometheus counters for /metrics: kept as plain numbers, rendered on scrape."""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

from authcheck.service.key_store import KeyStore

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)


class Metrics:
    def __init__(self) -> None:
        self.decisions: dict[tuple[int, str], int] = {}
        self._bucket_counts = [0] * (len(LATENCY_BUCKETS) + 1)
        self._latency_sum = 0.0
        self.report_only: dict[tuple[str, int], int] = {}  # (rule, status): what it would have answered
        self.config_reloads: dict[str, int] = {}  # "success" | "failure"

    def observe_report_only(self, rule: str, status: int) -> None:
        key = (rule, status)
        self.report_only[key] = self.report_only.get(key, 0) + 1

    def observe_reload(self, result: str) -> None:
        self.config_reloads[result] = self.config_reloads.get(result, 0) + 1

    def observe(self, status: int, code: str, seconds: float) -> None:
        key = (status, code)
        self.decisions[key] = self.decisions.get(key, 0) + 1
        self._bucket_counts[bisect_left(LATENCY_BUCKETS, seconds)] += 1
        self._latency_sum += seconds

    def render(self, key_store: KeyStore) -> str:
        lines = [
            "# HELP authcheck_decisions_total Decisions by answer status and code.",
            "# TYPE authcheck_decisions_total counter",
        ]
        for (status, code), count in sorted(self.decisions.items()):
            lines.append(f'authcheck_decisions_total{{status="{status}",code="{code}"}} {count}')
        lines += _histogram(self._bucket_counts, self._latency_sum)
        lines += [
            "# HELP authcheck_report_only_total What report_only rules would have answered, by rule and status.",
            "# TYPE authcheck_report_only_total counter",
        ]
        for (rule, status), count in sorted(self.report_only.items()):
            lines.append(f'authcheck_report_only_total{{rule="{_escape(rule)}",status="{status}"}} {count}')
        lines += [
            "# HELP authcheck_config_reloads_total Config reloads (SIGHUP) by result.",
            "# TYPE authcheck_config_reloads_total counter",
        ]
        for result, count in sorted(self.config_reloads.items()):
            lines.append(f'authcheck_config_reloads_total{{result="{result}"}} {count}')
        lines += [
            "# HELP authcheck_jwks_fetches_total Discovery and JWKS fetches by result.",
            "# TYPE authcheck_jwks_fetches_total counter",
        ]
        for result, count in sorted(key_store.stats.by_result.items()):
            lines.append(f'authcheck_jwks_fetches_total{{result="{result}"}} {count}')
        lines += [
            "# HELP authcheck_jwks_age_seconds Age of each issuer's current key set (-1: none yet).",
            "# TYPE authcheck_jwks_age_seconds gauge",
        ]
        for issuer, keys in key_store.issuers.items():
            age = keys.age()
            value = -1 if age is None else round(age, 3)
            lines.append(f'authcheck_jwks_age_seconds{{issuer="{_escape(issuer)}"}} {value}')
        return "\n".join(lines) + "\n"


def _histogram(bucket_counts: list[int], total: float) -> Iterable[str]:
    yield "# HELP authcheck_decision_seconds Time to decide one /verify request."
    yield "# TYPE authcheck_decision_seconds histogram"
    cumulative = 0
    for bound, count in zip((*LATENCY_BUCKETS, "+Inf"), bucket_counts, strict=True):
        cumulative += count
        yield f'authcheck_decision_seconds_bucket{{le="{bound}"}} {cumulative}'
    yield f"authcheck_decision_seconds_sum {total}"
    yield f"authcheck_decision_seconds_count {cumulative}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
