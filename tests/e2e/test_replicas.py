"""Three authcheck replicas behind real nginx (the shipped files, with three upstream
servers), one killed under load: nothing is let through, no answer is wrong, and the 5xx
the kill costs are counted and reported.
"""

from __future__ import annotations

import signal
import threading
from collections import Counter
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint

from . import harness
from .harness import Launch, RecordingServer, StartProxy

REQUESTS = 3000
KILL_AFTER = 1000
CLIENTS = 32


def config(issuer: str) -> dict[str, Any]:
    return {
        "ingress": "nginx",
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [
            {"name": "public", "match": {"paths": ["/public/**"]}, "allow": "anonymous"},
            {"name": "orders", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]},
        ],
    }


@pytest.fixture
def replicas_renderer(monkeypatch: pytest.MonkeyPatch) -> Callable[[list[int]], None]:
    """Registers the proxy kind `nginx-replicas`: the shipped nginx files, whose `upstream
    authcheck` block gets one `server` line per replica port."""

    def register(ports: list[int]) -> None:
        def render(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
            servers = "; server ".join(f"{harness.LOOPBACK}:{port}" for port in ports)
            return harness.render_nginx(workdir, listen, servers, upstream)

        monkeypatch.setitem(harness.RENDERERS, "nginx-replicas", render)

    return register


def test_one_replica_killed_under_load_lets_nothing_through(
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    start_service: Callable[..., AuthcheckProcess],
    proxies: StartProxy,
    upstream: RecordingServer,
    replicas_renderer: Callable[[list[int]], None],
) -> None:
    replicas = [start_service(config(jwks.issuer)) for _ in range(3)]
    replicas_renderer([replica.port for replica in replicas])
    proxy = proxies("nginx-replicas", auth_port=replicas[0].port, upstream_port=upstream.port)
    key = keys["ES384"]
    now_valid = mint(key, jwks.issuer)
    # (path, Authorization or None, the one right answer)
    traffic = [
        ("/orders/1", f"Bearer {now_valid}", 200),
        ("/orders/1", None, 401),
        ("/orders/1", f"Bearer {mint(key, jwks.issuer, scope='profile')}", 403),
        ("/orders/1", f"Bearer {mint(key, jwks.issuer, iat=1, exp=2)}", 401),
        ("/public/x", None, 200),
        ("/elsewhere", f"Bearer {now_valid}", 403),
    ]
    answered = threading.Semaphore(0)

    def send(number: int) -> tuple[int, int]:
        path, authorization, expected = traffic[number % len(traffic)]
        headers = [("Authorization", authorization)] if authorization else []
        status = proxy.request("GET", path, headers).status
        answered.release()
        return expected, status

    with ThreadPoolExecutor(CLIENTS) as pool:
        results = [pool.submit(send, number) for number in range(REQUESTS)]
        for _ in range(KILL_AFTER):
            answered.acquire(timeout=60)
        replicas[1].signal(signal.SIGKILL)
        outcomes = [result.result(timeout=120) for result in results]

    let_through = [o for o in outcomes if o[0] != 200 and o[1] == 200]
    wrong = [o for o in outcomes if o[1] != o[0] and o[1] < 500]
    errors = Counter(status for _, status in outcomes if status >= 500)
    print(f"\n{REQUESTS} requests, one replica of three killed after {KILL_AFTER}: 5xx {dict(errors) or 0}")
    assert not let_through, let_through[:5]
    assert not wrong, wrong[:5]
    # nginx retries a check on the next replica when one fails: the kill may cost the checks
    # in flight on it, never more than one per client.
    assert sum(errors.values()) <= CLIENTS, errors
    assert replicas[1].wait_exit(timeout=10) == -signal.SIGKILL
