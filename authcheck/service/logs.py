"""structlog set-up: one JSON (or console) line per event, UTC ISO timestamps.

A decision line is written for every request (unless `--decision-log` says otherwise),
so the two processors that cost the most are done the cheap way, byte for byte the
same: the JSON encoder is built once (json.dumps with `default=` builds one per call),
and the timestamp formats the date and time once per second.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, Literal

import structlog
from structlog.processors import _json_fallback_handler

LogFormat = Literal["json", "console"]


def configure_logging(level: str = "info", log_format: LogFormat = "json") -> None:
    renderer: structlog.typing.Processor = (
        structlog.processors.JSONRenderer(serializer=_dumps)
        if log_format == "json"
        else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            _utc_timestamp,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelNamesMapping()[level.upper()]),
        logger_factory=structlog.PrintLoggerFactory(sys.stdout),
        cache_logger_on_first_use=True,
    )


# json.dumps(event_dict, default=_json_fallback_handler), which is what JSONRenderer calls.
_ENCODER = json.JSONEncoder(default=_json_fallback_handler)


def _dumps(event_dict: Any, **_: Any) -> str:
    return _ENCODER.encode(event_dict)


_last_second: tuple[int, str] = (-1, "")  # (a second, its text): replaced whole, so thread-safe


def _utc_timestamp(_: Any, __: str, event_dict: structlog.typing.EventDict) -> structlog.typing.EventDict:
    """TimeStamper(fmt="iso", utc=True): `datetime.now(timezone.utc).isoformat()` with Z
    for +00:00, and so no fraction when the microseconds are 0."""
    global _last_second
    second, microsecond = divmod(time.time_ns() // 1000, 1_000_000)
    last, text = _last_second
    if second != last:
        text = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(second))
        _last_second = (second, text)
    event_dict["timestamp"] = f"{text}.{microsecond:06d}Z" if microsecond else f"{text}Z"
    return event_dict
