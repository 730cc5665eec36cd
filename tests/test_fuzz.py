"""A bounded slice of the decision fuzzer (fuzz/decide.py, atheris) in CI.

The target checks its invariants itself (no exception, only 200/401/403/503, no allow
without a valid token's subject, cache road equals full road) and exits non-zero with the
crashing input when one breaks. The long run is in docs/fuzzing.md.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TARGET = REPO / "fuzz" / "decide.py"
SECONDS = int(os.environ.get("AUTHCHECK_FUZZ_SECONDS", "30"))


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(TARGET), *args], capture_output=True, text=True, cwd=cwd, timeout=SECONDS + 120
    )


def test_the_seed_corpus_and_a_bounded_fuzz_run_keep_every_invariant(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(REPO / "fuzz" / "corpus", corpus)  # the run adds to it: not to the repo's copy
    result = run(f"-max_total_time={SECONDS}", "-max_len=512", str(corpus), cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-4000:]
    assert "Done" in result.stderr


def test_the_target_reports_a_broken_invariant(tmp_path: Path) -> None:
    """The harness itself can fail: an input the target rejects ends the run with the input saved."""
    breaker = tmp_path / "sitecustomize.py"
    # A gate that answers 500 once, as a bug would: the target must catch it.
    breaker.write_text(
        "import authcheck.core.gate as gate\n"
        "real = gate.Gate.decide\n"
        "def broken(self, *args, **kwargs):\n"
        "    return real(self, *args, **kwargs)._replace(status=500)\n"
        "gate.Gate.decide = broken\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    result = subprocess.run(
        [sys.executable, str(TARGET), "-runs=50", str(REPO / "fuzz" / "corpus")],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
    )
    assert result.returncode != 0
    assert "AssertionError: status 500" in result.stdout + result.stderr, result.stdout + result.stderr
