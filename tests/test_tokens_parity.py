"""The fast verification road must agree with PyJWT on every token, in CI too.

`bench/parity.py` signs a corpus of ordinary and odd tokens (every claim PyJWT checks,
at and around each boundary, every encoding PyJWT treats specially) and compares
`authcheck.core.tokens.verify` with the PyJWT-only road, answer by answer.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

PARITY = Path(__file__).resolve().parents[1] / "bench" / "parity.py"


def test_fast_road_agrees_with_pyjwt() -> None:
    result = subprocess.run([sys.executable, str(PARITY)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "token checks agree with PyJWT" in result.stdout
