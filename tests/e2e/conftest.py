"""Fixtures for the proxy end-to-end tests: an echo upstream and a proxy factory.

Every proxy started through `start_proxy` is stopped at teardown, whatever the test did.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .harness import Proxy, RecordingServer, StartProxy, start_proxy


@pytest.fixture
def upstream() -> Iterator[RecordingServer]:
    """The protected app: answers 200 with the request it received, and records it."""
    server = RecordingServer()
    yield server
    server.stop()


@pytest.fixture
def proxies(tmp_path: Path) -> Iterator[StartProxy]:
    """`proxies(kind, auth_port=..., upstream_port=...)` starts a real proxy from the shipped files."""
    started: list[Proxy] = []

    def start(kind: str, *, auth_port: int, upstream_port: int) -> Proxy:
        try:
            proxy = start_proxy(kind, tmp_path, auth_port=auth_port, upstream_port=upstream_port)
        except RuntimeError as error:  # missing binary, failed start: say why, as a failure
            pytest.fail(str(error))
        started.append(proxy)
        return proxy

    yield start
    for proxy in started:
        proxy.stop()
