"""Fixtures shared by the service tests: real key servers and real authcheck processes."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from support.configs import service_config
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import SigningKey, new_key

# Every `python -m authcheck` a test starts runs this tree (a git worktree, a fresh clone),
# not whichever checkout the virtualenv happens to have installed in editable mode.
REPO = Path(__file__).resolve().parent.parent
os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark `process` what starts processes: tests/e2e and every test of a real authcheck. Modules
    that start other processes mark themselves (`pytestmark = pytest.mark.process`)."""
    e2e = REPO / "tests" / "e2e"
    for item in items:
        if item.path.is_relative_to(e2e) or "start_service" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.process)


@pytest.fixture(scope="session")
def keys() -> dict[str, SigningKey]:
    """One key per algorithm family the service tests sign with."""
    return {alg: new_key(alg, kid=f"{alg.lower()}-1") for alg in ("ES384", "ES256", "RS256", "EdDSA")}


@pytest.fixture
def jwks(keys: dict[str, SigningKey]) -> Iterator[JwksServer]:
    server = JwksServer().start()
    server.keys = [key.public_jwk for key in keys.values()]
    yield server
    server.stop()


@pytest.fixture
def start_service(tmp_path: Path) -> Iterator[Callable[..., AuthcheckProcess]]:
    started: list[AuthcheckProcess] = []

    def start(
        config: dict[str, Any], wait_ready: bool = True, extra_args: tuple[str, ...] = (), grpc: bool = False
    ) -> AuthcheckProcess:
        workdir = tmp_path / f"authcheck-{len(started)}"
        workdir.mkdir()
        process = AuthcheckProcess(workdir, config, extra_args, grpc)
        started.append(process)
        return process.start(wait_ready)

    yield start
    for process in started:
        process.stop()


@pytest.fixture
def service(jwks: JwksServer, start_service: Callable[..., AuthcheckProcess]) -> AuthcheckProcess:
    return start_service(service_config(jwks.issuer))
