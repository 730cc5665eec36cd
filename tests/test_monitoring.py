"""The monitoring kit (k8s/monitoring/): a dashboard and alerts that query what authcheck exports.

promtool (Prometheus' own checker, from Debian's `prometheus` package) validates and
unit-tests the alert rules; the metric and label names every expression uses are checked
against a scrape of a real authcheck process.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest
import yaml
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint

MONITORING = Path(__file__).resolve().parent.parent / "k8s" / "monitoring"
sys.path.insert(0, str(MONITORING))
import dashboard  # noqa: E402  (k8s/monitoring/dashboard.py, the generator)

PROMTOOL = shutil.which("promtool")
# `name{label="v", other=~"x"}` or a bare name, in a PromQL expression.
SELECTOR = re.compile(r"\b(authcheck_[a-z_]+)(?:\{([^}]*)\})?")


def alert_expressions() -> dict[str, str]:
    rules = yaml.safe_load((MONITORING / "alerts.yaml").read_text())
    return {rule["alert"]: rule["expr"] for group in rules["groups"] for rule in group["rules"]}


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    assert PROMTOOL, "promtool is missing: scripts/install installs Debian's prometheus package"
    return subprocess.run([PROMTOOL, *args], cwd=MONITORING, capture_output=True, text=True, timeout=60)


def test_the_committed_dashboard_is_what_the_generator_writes() -> None:
    committed = json.loads((MONITORING / "authcheck-dashboard.json").read_text())
    assert committed == dashboard.build(), "run `python k8s/monitoring/dashboard.py` and commit the JSON"


def test_the_dashboard_queries_are_the_generators() -> None:
    board = json.loads((MONITORING / "authcheck-dashboard.json").read_text())
    queried = [target["expr"] for panel in board["panels"] for target in panel["targets"]]
    assert sorted(queried) == sorted(dashboard.expressions())


def test_alert_rules_are_valid() -> None:
    checked = promtool("check", "rules", "alerts.yaml")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"SUCCESS: {len(alert_expressions())} rules found" in checked.stdout


def test_each_alert_fires_on_its_condition_and_not_on_a_healthy_service() -> None:
    tested = promtool("test", "rules", "alerts.test.yaml")
    assert tested.returncode == 0, tested.stdout + tested.stderr
    cases = yaml.safe_load((MONITORING / "alerts.test.yaml").read_text())["tests"]
    fired = {check["alertname"] for case in cases for check in case["alert_rule_test"] if check.get("exp_alerts")}
    assert fired == set(alert_expressions()), "every alert needs a test in which it fires"


def test_promtool_would_catch_a_broken_rule(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("groups: [{name: x, rules: [{alert: X, expr: 'sum(rate(authcheck_decisions_total[5m])'}]}]\n")
    assert promtool("check", "rules", str(broken)).returncode != 0


@pytest.fixture
def scrape(
    jwks: JwksServer, keys: dict[str, SigningKey], start_service: Callable[..., AuthcheckProcess]
) -> dict[str, set[str]]:
    """Metric name -> label names, from a real authcheck's /metrics after allowed and denied requests."""
    config = {
        "issuers": [{"issuer": jwks.issuer, "audiences": [AUDIENCE]}],
        "rules": [{"name": "orders", "match": {"paths": ["/orders/**"]}, "allow": "authenticated"}],
    }
    service = start_service(config)
    assert service.verify(token=mint(keys["ES384"], jwks.issuer)).status_code == 200
    assert service.verify().status_code == 401
    text = httpx.get(service.url + "/metrics", timeout=5).text
    linted = subprocess.run([PROMTOOL or "promtool", "check", "metrics"], input=text, capture_output=True, text=True)
    assert linted.returncode == 0, linted.stdout + linted.stderr
    exported: dict[str, set[str]] = {}
    for line in text.splitlines():
        match = re.match(r"(authcheck_[a-z_]+)(?:\{(.*)\})? ", line)
        if match:
            labels = set(re.findall(r'([a-z_]+)="', match.group(2) or ""))
            exported.setdefault(match.group(1), set()).update(labels)
    return exported


def test_every_expression_uses_exported_metrics_and_labels(scrape: dict[str, set[str]]) -> None:
    # Labels a Prometheus server adds at scrape time, not authcheck.
    target_labels = {"namespace", "pod", "le"}
    for expression in [*dashboard.expressions(), *alert_expressions().values()]:
        for name, selector in SELECTOR.findall(expression):
            assert name in scrape, f"{expression}: authcheck exports no {name}"
            used = set(re.findall(r"([a-z_]+)\s*[!=]~?", selector or ""))
            assert used <= scrape[name] | target_labels, f"{expression}: {name} has no label {used - scrape[name]}"
        for name in re.findall(r"by \(([^)]*)\)", expression):
            for label in (part.strip() for part in name.split(",")):
                metric = SELECTOR.search(expression)
                assert metric and label in scrape[metric.group(1)] | target_labels, f"{expression}: by {label}"
