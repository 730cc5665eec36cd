"""Draws a benchmark run (results.json) as a chart: each scenario's ratio to its baseline,
with its goal. bench/bench.py calls it after every run; docs/performance.md shows the copy
in docs/img/benchmark.png.

    .venv/bin/python bench/chart.py bench/results/<run>/results.json OUT.png
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")  # files only: no display here or in CI
import matplotlib.pyplot as plt


def paired_ratio(runs: list[float], baseline_runs: list[float]) -> float:
    """The median over the rounds of a scenario's req/s over its baseline's in the same round.
    The baseline runs just before its scenarios, so a drift of a shared machine between
    rounds (20% here) cancels out instead of landing in the ratio."""
    return float(statistics.median(run / base for run, base in zip(runs, baseline_runs, strict=True)))


def ratios(results: dict[str, Any]) -> list[tuple[str, float, float | None]]:
    """(label, ratio to baseline, goal) for every scenario that has a baseline."""
    scenarios = results["scenarios"]

    def rps(key: str) -> list[float]:
        return [run["rps"] for run in scenarios[key]["runs"]]

    rows = []
    for scenario in scenarios.values():
        if scenario["baseline"] and scenario["runs"]:
            label = f"{scenario['label']}\n÷ {scenario['baseline']}"
            rows.append((label, paired_ratio(rps(scenario["key"]), rps(scenario["baseline"])), scenario.get("goal")))
    return rows


def draw(results: dict[str, Any], out: Path) -> None:
    rows = ratios(results)
    figure, axes = plt.subplots(figsize=(10, 0.8 * len(rows) + 1.4))
    labels = [label for label, _, _ in rows]
    values = [value for _, value, _ in rows]
    colors = ["#2e7d32" if goal is None or value >= goal else "#c62828" for _, value, goal in rows]
    positions = range(len(rows))
    axes.barh(positions, values, color=colors, height=0.6)
    for position, (_, value, goal) in zip(positions, rows, strict=True):
        axes.text(value + 0.01, position, f"{value:.2f}x", va="center", fontsize=9)
        if goal is not None:
            axes.plot([goal, goal], [position - 0.4, position + 0.4], color="black", linewidth=2)
    axes.set_yticks(list(positions), labels, fontsize=8)
    axes.invert_yaxis()
    axes.axvline(1.0, color="grey", linestyle=":", linewidth=1)
    axes.set_xlabel("throughput ratio to its baseline, same run (black tick: goal; red: goal not met)")
    axes.set_title("authcheck benchmark: each scenario against its yardstick")
    figure.tight_layout()
    figure.savefig(out, dpi=110)
    plt.close(figure)


if __name__ == "__main__":
    draw(json.loads(Path(sys.argv[1]).read_text()), Path(sys.argv[2]))
