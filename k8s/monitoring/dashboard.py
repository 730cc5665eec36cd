"""Generates authcheck-dashboard.json with Grafana's own SDK (grafana-foundation-sdk).

Run `python k8s/monitoring/dashboard.py` after changing a panel; tests/test_monitoring.py
fails while the committed JSON differs from what this writes.
"""

from __future__ import annotations

import json
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUTPUT = Path(__file__).with_name("authcheck-dashboard.json")
DATASOURCE = DataSourceRef(type_val="prometheus", uid="${datasource}")

# Every PromQL expression the dashboard shows, by panel title (tests check each one).
PANELS: dict[str, tuple[str, str, str]] = {
    # title: (expression, legend, unit)
    "Decisions per second by status": (
        "sum by (status) (rate(authcheck_decisions_total[5m]))",
        "{{status}}",
        "reqps",
    ),
    "Denials per second by code": (
        'sum by (code) (rate(authcheck_decisions_total{status!="200"}[5m]))',
        "{{code}}",
        "reqps",
    ),
    "Decision latency p50 / p99": (
        "histogram_quantile(0.99, sum by (le) (rate(authcheck_decision_seconds_bucket[5m])))",
        "p99",
        "s",
    ),
    "5xx ratio": (
        'sum(rate(authcheck_decisions_total{status=~"5.."}[5m])) / sum(rate(authcheck_decisions_total[5m]))',
        "5xx",
        "percentunit",
    ),
    "JWKS fetches by result": (
        "sum by (result) (rate(authcheck_jwks_fetches_total[15m]))",
        "{{result}}",
        "ops",
    ),
    "Key set age by issuer": ("max by (issuer) (authcheck_jwks_age_seconds)", "{{issuer}}", "s"),
}
P50 = "histogram_quantile(0.5, sum by (le) (rate(authcheck_decision_seconds_bucket[5m])))"


def query(expression: str, legend: str, ref: str = "A") -> prometheus.Dataquery:
    return prometheus.Dataquery().expr(expression).legend_format(legend).ref_id(ref).datasource(DATASOURCE)


def build() -> dict[str, object]:
    board = (
        dashboard.Dashboard("authcheck")
        .uid("authcheck")
        .tags(["authcheck", "auth"])
        .refresh("30s")
        .time("now-6h", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Data source").type("prometheus"))
    )
    for title, (expression, legend, unit) in PANELS.items():
        panel = timeseries.Panel().title(title).unit(unit).datasource(DATASOURCE).with_target(query(expression, legend))
        if title.startswith("Decision latency"):
            panel = panel.with_target(query(P50, "p50", "B"))
        board = board.with_panel(panel.height(8).span(12))
    board = board.with_panel(
        stat.Panel()
        .title("Ready issuers (key set age >= 0)")
        .datasource(DATASOURCE)
        .with_target(query("count(authcheck_jwks_age_seconds >= 0)", "ready"))
        .height(4)
        .span(6)
    )
    encoded: dict[str, object] = json.loads(json.dumps(board.build(), cls=JSONEncoder))
    return encoded


def expressions() -> list[str]:
    """Every expression the dashboard queries."""
    return [*(expression for expression, _, _ in PANELS.values()), P50, "count(authcheck_jwks_age_seconds >= 0)"]


if __name__ == "__main__":
    OUTPUT.write_text(json.dumps(build(), indent=2, sort_keys=True) + "\n")
