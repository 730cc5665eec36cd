"""Readiness and key age across every worker of one `serve`.

A probe reaches one worker, but the traffic after it reaches all of them. So with
`--workers N` each worker publishes its key status into the server's private shared
directory (`keys-<pid>.json`, rewritten after every fetch), and whichever worker answers
/readyz or /metrics judges every live worker's status. A worker that died stops counting
as soon as its process is gone (the next reader removes its file); a worker that has not
published yet counts as one without keys.
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from collections.abc import Mapping, Sequence
from pathlib import Path

from authcheck.core.key_freshness import NOT_FETCHED, TOO_OLD
from authcheck.service.key_store import KeysStatus

Statuses = Mapping[str, KeysStatus]  # one worker's, by issuer


def problems(workers: Sequence[Statuses], missing: int = 0, now: float | None = None) -> dict[str, str]:
    """Issuers that some worker cannot verify tokens for, with the first such worker's reason."""
    now = time.time() if now is None else now
    found: dict[str, str] = {}
    for statuses in workers:
        for issuer, status in statuses.items():
            if issuer in found:
                continue
            if status.usable_until is None:
                found[issuer] = f"{NOT_FETCHED} Last error: {status.last_error}"
            elif now > status.usable_until:
                found[issuer] = f"{TOO_OLD} Last error: {status.last_error}"
    if missing:
        starting = "a worker has" if missing == 1 else f"{missing} workers have"
        for issuer in workers[0] if workers else ():
            found.setdefault(issuer, f"{NOT_FETCHED} ({starting} not started yet)")
    return found


def oldest_ages(workers: Sequence[Statuses], missing: int = 0, now: float | None = None) -> dict[str, float | None]:
    """Per issuer, the age of the oldest key set any worker verifies with; None while one has none
    (a worker that has published nothing yet has none)."""
    now = time.time() if now is None else now
    without: set[str] = set()
    oldest: dict[str, float] = {}
    for statuses in workers:
        for issuer, status in statuses.items():
            if status.fetched_at is None:
                without.add(issuer)
            else:
                oldest[issuer] = max(oldest.get(issuer, 0.0), now - status.fetched_at)
    issuers = workers[0] if workers else {}
    return {issuer: None if missing or issuer in without else oldest[issuer] for issuer in issuers}


class WorkerBoard:
    """The shared directory where the workers of one `serve --workers N` publish their key status."""

    def __init__(self, directory: Path, workers: int) -> None:
        self.directory = directory
        self.workers = workers
        self._own = directory / f"keys-{os.getpid()}.json"

    def publish(self, statuses: Statuses) -> None:
        """Replace this worker's file whole, so a reader never sees half of it."""
        data = json.dumps({issuer: dataclasses.asdict(status) for issuer, status in statuses.items()})
        partial = self._own.with_suffix(".partial")
        partial.write_text(data)
        partial.replace(self._own)

    def withdraw(self) -> None:
        self._own.unlink(missing_ok=True)

    def others(self) -> tuple[list[Statuses], int]:
        """(every other live worker's statuses, how many workers have published nothing)."""
        found: list[Statuses] = []
        for path in self.directory.glob("keys-*.json"):
            if path == self._own:
                continue
            if not _live_sibling(int(path.stem.removeprefix("keys-"))):
                path.unlink(missing_ok=True)
                continue
            try:
                data = json.loads(path.read_bytes())
            except (FileNotFoundError, ValueError):
                continue  # gone meanwhile: counts as missing
            found.append({issuer: KeysStatus(**status) for issuer, status in data.items()})
        return found, max(0, self.workers - 1 - len(found))


def _live_sibling(pid: int) -> bool:
    """A running worker of this server: same parent (pids are reused), not a zombie."""
    if not _PROC.is_dir():  # not Linux: the best left is "does the pid exist"
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True
    try:
        stat = (_PROC / str(pid) / "stat").read_text()
    except FileNotFoundError:
        return False
    state, parent = stat.rsplit(")", 1)[1].split()[:2]
    return state != "Z" and int(parent) == os.getppid()


_PROC = Path("/proc")
