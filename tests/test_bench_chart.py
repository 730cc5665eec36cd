"""bench/chart.py: the picture of a run is its ratios, each against its own baseline."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from chart import draw, ratios


def scenario(key: str, rps: list[float], baseline: str | None = None, goal: float | None = None) -> dict[str, object]:
    return {"key": key, "label": key, "baseline": baseline, "goal": goal, "runs": [{"rps": r} for r in rps]}


RESULTS = {
    "scenarios": {
        "bare": scenario("bare", [100, 120, 110]),
        "hit": scenario("hit", [99, 121, 88], "bare", 1.0),
        "garbage": scenario("garbage", [55, 60, 66], "bare", None),
    }
}


def test_each_ratio_is_the_median_of_the_rounds_ratios() -> None:
    """Round by round: hit 0.99, 1.008, 0.8; garbage 0.55, 0.5, 0.6 (a drifting machine cancels out)."""
    assert ratios(RESULTS) == [("hit\n÷ bare", 99 / 100, 1.0), ("garbage\n÷ bare", 55 / 100, None)]


def test_the_chart_is_a_png(tmp_path: Path) -> None:
    out = tmp_path / "chart.png"
    draw(RESULTS, out)
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
