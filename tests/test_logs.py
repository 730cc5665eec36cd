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


class CountingOutput(io.BytesIO):
    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def write(self, data: bytes) -> int:  # type: ignore[override]
        self.writes += 1
        return super().write(data)


def test_write_event_writes_the_line_structlog_would() -> None:
    fields = {"decision": "allow", "status": 200, "rule": None, "latency": 0.000123}
    output = io.BytesIO()
    configure_logging("info", "json", output)
    structlog.get_logger("authcheck").info("decision", **fields)
    logs.write_event("decision", dict(fields))
    by_structlog, direct = lines(output)
    assert list(direct) == list(by_structlog)  # the same keys, in the same order
    assert direct | {"time": ""} == by_structlog | {"time": ""}


def test_write_event_keeps_the_level_and_the_console_format() -> None:
    output = io.BytesIO()
    configure_logging("warning", "json", output)
    logs.write_event("decision", {"status": 200})
    assert lines(output) == []
    configure_logging("info", "console", output)
    logs.write_event("decision", {"status": 401})
    assert flush_logs()
    plain = re.sub(rb"\x1b\[[0-9;]*m", b"", output.getvalue())  # without the colours
    assert re.search(rb"\[info\s*\] decision\s+status=401", plain)


def test_the_writer_batches_lines_that_arrive_one_by_one() -> None:
    """Without the linger, a writer woken for each line writes each line on its own: a
    thread switch and a system call per request."""
    output = CountingOutput()
    configure_logging("info", "json", output)
    for n in range(300):
        logs.write_event("decision", {"n": n})
        time.sleep(0.0002)  # the logging thread lets go of the GIL, as an event loop does between requests
    written = lines(output)
    assert [line["n"] for line in written] == list(range(300))
    assert output.writes < 100
