"""The CI slice of the soak (bench/soak.py): 64 connections of mixed traffic for a few
seconds against a real `authcheck serve`; every answer right, no 5xx, file descriptors and
memory flat once the caches are full. The 10-minute result is in docs/performance.md."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

SOAK = Path(__file__).resolve().parent.parent / "bench" / "soak.py"
SECONDS = os.environ.get("AUTHCHECK_SOAK_SECONDS", "10")


def test_short_soak_has_no_wrong_answer_no_5xx_and_flat_resources() -> None:
    result = subprocess.run(
        [sys.executable, str(SOAK), "--seconds", SECONDS], capture_output=True, text=True, timeout=300
    )
    report = json.loads(result.stdout)
    assert result.returncode == 0, result.stdout + result.stderr
    assert report["requests"] > 1000
    assert (report["wrong_answers"], report["5xx"]) == (0, 0)
    assert report["fds_flat"] and report["rss_flat"], report["samples"]
