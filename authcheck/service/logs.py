"""structlog set-up: one JSON (or console) line per event, UTC ISO times under `time`.

A decision line is written for every request (unless `--decision-log` says otherwise), so
JSON output follows structlog's performance recipe: bytes end to end (orjson renders
bytes, no str round trip), loggers cached on first use, no contextvars merge (nothing
binds any), and a timestamp that formats the date and time once per second. The decision
line itself goes through `write_event`: the same processors without the bound logger.

The event loop never writes: it queues the rendered line, and one background thread
writes whatever has queued in one call, lingering a few milliseconds after a first line so
that under load one write carries many. A log collector that stalls stdout therefore
stalls only that thread; past `MAX_PENDING` lines the newest are dropped, and a
`log_lines_dropped` line says how many once stdout moves again.
"""

from __future__ import annotations

import atexit
import contextlib
import logging
import queue
import sys
import threading
import time
from typing import Any, BinaryIO, Literal

import orjson
import structlog

LogFormat = Literal["json", "console"]
LOG_LEVELS = ("debug", "info", "warning", "error")
LOG_FORMATS = ("json", "console")
MAX_PENDING = 100_000  # queued lines (~40 MB of decisions) before new ones are dropped
_BATCH = 1024  # lines per write
# After the first line of a batch, the writer waits this long for more. Without it, under
# load the writer wakes for every single line: a thread switch and a write per request.
_LINGER_SECONDS = 0.005


def configure_logging(level: str = "info", log_format: LogFormat = "json", output: BinaryIO | None = None) -> None:
    """Lines go to `output` (default: stdout). Safe to call again: loggers already cached keep
    their level, but see the new processors (one list, changed in place) and output."""
    chain: list[structlog.typing.Processor] = [structlog.processors.add_log_level, _utc_time]
    if log_format == "json":
        chain += [structlog.processors.format_exc_info, structlog.processors.JSONRenderer(serializer=orjson.dumps)]
    else:
        chain.append(structlog.dev.ConsoleRenderer(timestamp_key="time"))
    global _min_level
    _CHAIN[:] = chain
    _min_level = logging.getLevelNamesMapping()[level.upper()]
    _WRITER.redirect(output or sys.stdout.buffer)
    structlog.configure(
        processors=_CHAIN,
        wrapper_class=structlog.make_filtering_bound_logger(_min_level),
        logger_factory=_writer_factory,
        cache_logger_on_first_use=True,
    )


def write_event(event: str, fields: dict[str, Any]) -> None:
    """`structlog.get_logger().info(event, **fields)`, the same line, at half the cost: for the
    line written on every request. structlog's bound logger hands the keyword arguments
    through three calls, each repacking them; here the processors get the dict itself
    (which they take over)."""
    if not _CHAIN:  # configure_logging was never called: structlog's defaults, as for any line
        structlog.get_logger("authcheck").info(event, **fields)
        return
    if _min_level > logging.INFO:
        return
    fields["event"] = event
    line: Any = fields
    for processor in _CHAIN:
        line = processor(_WRITER, "info", line)
    _WRITER.msg(line)  # the chain ends in a renderer: str or bytes


def flush_logs(timeout: float = 5.0) -> bool:
    """Wait until every line queued so far is written; False if that took longer than `timeout`."""
    return _WRITER.flush(timeout)


class _LineWriter:
    """What structlog hands rendered lines to: a queue, drained by one writer thread."""

    def __init__(self) -> None:
        self._output: BinaryIO = sys.stdout.buffer
        self._pending: queue.SimpleQueue[bytes | threading.Event] = queue.SimpleQueue()
        self._dropped = 0  # only ever increased, by the threads that log
        self._thread: threading.Thread | None = None

    def msg(self, line: bytes | str) -> None:
        if self._pending.qsize() >= MAX_PENDING:
            self._dropped += 1
            return
        self._pending.put(line.encode() if isinstance(line, str) else line)  # str: the console renderer

    log = debug = info = warn = warning = error = critical = exception = fatal = msg

    def redirect(self, output: BinaryIO) -> None:
        self.flush()
        self._output = output
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name="authcheck-log-writer", daemon=True)
            self._thread.start()
            atexit.register(self.flush)

    def flush(self, timeout: float = 5.0) -> bool:
        if self._thread is None:
            return True
        written = threading.Event()
        self._pending.put(written)
        return written.wait(timeout)

    def _run(self) -> None:
        reported = 0
        while True:
            batch = [self._pending.get()]
            time.sleep(_LINGER_SECONDS)
            with contextlib.suppress(queue.Empty):
                while len(batch) < _BATCH:
                    batch.append(self._pending.get_nowait())
            lines = [item for item in batch if isinstance(item, bytes)]
            if self._dropped > reported:
                lines.append(_dropped_line(self._dropped - reported))
                reported = self._dropped
            if lines:
                with contextlib.suppress(OSError, ValueError):  # stdout closed: nowhere left to say it
                    self._output.write(b"\n".join(lines) + b"\n")
                    self._output.flush()
            for item in batch:
                if isinstance(item, threading.Event):
                    item.set()


_WRITER = _LineWriter()
_CHAIN: list[structlog.typing.Processor] = []  # the one processor list every logger shares
_min_level = logging.INFO


def _writer_factory(*_: Any) -> _LineWriter:
    return _WRITER


def _dropped_line(count: int) -> bytes:
    return orjson.dumps(_utc_time(None, "", {"count": count, "event": "log_lines_dropped", "level": "warning"}))


_last_second: tuple[int, str] = (-1, "")  # (a second, its text): replaced whole, so thread-safe


def _utc_time(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """TimeStamper(fmt="iso", utc=True, key="time"): `datetime.now(timezone.utc).isoformat()`
    with Z for +00:00, and so no fraction when the microseconds are 0."""
    global _last_second
    second, microsecond = divmod(time.time_ns() // 1000, 1_000_000)
    last, text = _last_second
    if second != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    event_dict["time"] = f"{text}.{microsecond:06d}Z" if microsecond else f"{text}Z"
    return event_dict
