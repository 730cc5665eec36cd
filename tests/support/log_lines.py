"""What an in-process service logged: JSON lines, written where a test can read them."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

from authcheck.service.logs import configure_logging, flush_logs


def capture_json_lines() -> Callable[[], list[dict[str, Any]]]:
    """Send every log line to memory from now on; the returned call gives them, parsed
    (after the writer thread has written all queued so far)."""
    output = io.BytesIO()
    configure_logging("info", "json", output)

    def lines() -> list[dict[str, Any]]:
        assert flush_logs()
        return [json.loads(line) for line in output.getvalue().splitlines()]

    return lines
