"""Readiness and key age judged across workers (the pure part; test_service_workers.py runs it for real)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from authcheck.service.key_store import KeysStatus
from authcheck.service.readiness import WorkerBoard, oldest_ages, problems

ISSUER = "https://issuer.example.com/oidc"
NOW = 1_800_000_000.0


def status(fetched_ago: float | None, usable_for: float = 100, error: str | None = None) -> dict[str, KeysStatus]:
    if fetched_ago is None:
        return {ISSUER: KeysStatus(None, None, error or "keys not fetched yet")}
    return {ISSUER: KeysStatus(NOW - fetched_ago, NOW + usable_for, error)}


def test_ready_only_when_every_worker_is() -> None:
    fresh, older = status(10), status(50)
    assert problems([fresh, older], now=NOW) == {}
    assert oldest_ages([fresh, older], now=NOW) == {ISSUER: 50}
    keyless = status(None, error="GET x answered 500")
    assert problems([fresh, keyless], now=NOW) == {
        ISSUER: "The issuer's keys could not be fetched yet. Last error: GET x answered 500"
    }
    assert oldest_ages([fresh, keyless], now=NOW) == {ISSUER: None}
    stale = status(5000, usable_for=-1, error="GET x answered 500")
    assert problems([fresh, stale], now=NOW)[ISSUER].startswith("The issuer's keys are too old")


def test_a_worker_that_has_not_published_counts_as_keyless() -> None:
    assert problems([status(10)], missing=1, now=NOW) == {
        ISSUER: "The issuer's keys could not be fetched yet. (a worker has not started yet)"
    }
    assert oldest_ages([status(10)], missing=1, now=NOW) == {ISSUER: None}


def test_board_reads_back_what_it_published_and_forgets_dead_workers(tmp_path: Path) -> None:
    board = WorkerBoard(tmp_path, workers=2)
    board.publish(status(None))
    assert [path.name for path in tmp_path.iterdir()] == [board._own.name]
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    left_behind = tmp_path / f"keys-{int(dead.stdout)}.json"
    left_behind.write_text(json.dumps({ISSUER: {"fetched_at": None, "usable_until": None, "last_error": "x"}}))
    assert board.others() == ([], 1)  # its status does not count, and it is one worker short
    assert not left_behind.exists()
    board.withdraw()
    assert not any(tmp_path.iterdir())
