"""bench/bench.py's profile table: each event-loop sample lands in the first category on its stack."""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench import profile_table

LOOP = "main (authcheck/cli/main.py:126);Runner.run (asyncio/runners.py:118)"
SAMPLES = {
    f"{LOOP};VerifyRouter._verify (authcheck/service/app.py:280);Gate.decide_known (authcheck/core/gate.py:112)": 2,
    f"{LOOP};VerifyRouter._verify (authcheck/service/app.py:300);RequestResponseCycle.send (uvicorn/x.py:524)": 5,
    f"{LOOP};VerifyRouter._verify (authcheck/service/app.py:310);Metrics.observe (authcheck/service/metrics.py:70)": 1,
    f"{LOOP};HttpToolsProtocol.data_received (uvicorn/x.py:174)": 2,
    "Thread._bootstrap (threading.py:995);_LineWriter._run (authcheck/service/logs.py:110)": 40,  # not the loop
}


def test_samples_of_the_event_loop_by_first_matching_category(tmp_path: Path) -> None:
    raw = tmp_path / "profile-hit.txt"
    raw.write_text("".join(f"{stack} {count}\n" for stack, count in SAMPLES.items()))
    rows = {
        line.split(" | ")[0].lstrip("| "): line.split(" | ")[1].rstrip(" |")
        for line in profile_table({"hit": raw}).splitlines()[2:]
    }
    assert rows["rest of the decision (authcheck/core)"] == "20%"
    assert rows["uvicorn send (header checks, write)"] == "50%"  # inside the handler, but send first
    assert rows["metrics (prometheus-client)"] == "10%"
    assert rows["event loop, HTTP parsing, task start, other C code"] == "20%"
    assert rows["signature check (cryptography via PyJWT)"] == "—"
