"""The JSON log writer: the event loop only queues lines, a stalled stdout stalls nobody."""

from __future__ import annotations

import io
import json
import re
import threading
import time

import pytest
import structlog

from authcheck.service import logs
from authcheck.service.logs import configure_logging, flush_logs


class StalledOutput(io.BytesIO):
    """stdout with a log collector that stopped reading: every write waits for `reading`."""

    def __init__(self) -> None:
        super().__init__()
        self.reading = threading.Event()

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.reading.wait(10)
        return super().write(data)


def lines(output: io.BytesIO) -> list[dict[str, object]]:
    assert flush_logs()
    return [json.loads(line) for line in output.getvalue().splitlines()]


def test_lines_carry_time_level_and_event() -> None:
    output = io.BytesIO()
    configure_logging("info", "json", output)
    structlog.get_logger("authcheck").info("something", n=1)
    structlog.get_logger("authcheck").debug("filtered out")
    [line] = lines(output)
    assert set(line) == {"event", "level", "time", "n"}
    assert line["event"] == "something" and line["level"] == "info"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{6})?Z", str(line["time"]))


def test_stalled_output_never_blocks_logging_and_drops_are_counted(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(logs, "MAX_PENDING", 10)
    output = StalledOutput()
    configure_logging("info", "json", output)
    log = structlog.get_logger("authcheck")
    started = time.monotonic()
    for n in range(50):
        log.info("decision", n=n)
    assert time.monotonic() - started < 1  # the writer waits on stdout; the callers did not
    output.reading.set()
    written = lines(output)
    decisions = [line["n"] for line in written if line["event"] == "decision"]
    dropped = sum(int(str(line["count"])) for line in written if line["event"] == "log_lines_dropped")
    assert dropped > 0
    assert len(decisions) + dropped == 50
    assert decisions == sorted(decisions)  # in order, the newest ones dropped
