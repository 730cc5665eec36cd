"""`serve --workers 2` as users run it: /metrics and /readyz speak for every worker.

A connection is served by one worker, so requests sent on one kept-alive connection
reach the same worker: that is how these tests know which worker answered.
"""

from __future__ import annotations

import json
import os
import signal
import time
from collections.abc import Callable
from pathlib import Path

import httpx
from support.configs import service_config
from support.jwks_server import JwksServer
from support.metrics import samples, value
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint
from support.wait import wait_until

Start = Callable[..., AuthcheckProcess]
WORKERS = ("--workers", "2")


def metrics(service: AuthcheckProcess) -> str:
    return httpx.get(service.url + "/metrics", timeout=5).text


def decisions_counted(text: str) -> float:
    return sum(v for (name, _), v in samples(text).items() if name == "authcheck_decisions_total")


def connection(service: AuthcheckProcess) -> httpx.Client:
    """A fresh connection (one at most), served by whichever worker accepts it."""
    return httpx.Client(base_url=service.url, timeout=5, limits=httpx.Limits(max_connections=1))


def verify(client: httpx.Client, token: str) -> int:
    headers = {"Authorization": f"Bearer {token}", "X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1"}
    return client.get("/verify", headers=headers).status_code


def shared_directory(worker: int) -> Path:
    """The directory `serve` made for its workers (read from a worker's environment)."""
    environ = Path(f"/proc/{worker}/environ").read_bytes().split(b"\0")
    return Path(next(e for e in environ if e.startswith(b"PROMETHEUS_MULTIPROC_DIR=")).split(b"=", 1)[1].decode())


def key_status(worker: int) -> dict[str, dict[str, object]]:
    """What one worker published about its keys."""
    return json.loads((shared_directory(worker) / f"keys-{worker}.json").read_text())  # type: ignore[no-any-return]


def test_metrics_count_every_worker_and_never_go_down(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    service = start_service(service_config(jwks.issuer), extra_args=WORKERS)
    token = mint(keys["ES384"], jwks.issuer)
    sent, seen = 0, [0.0]
    for _ in range(40):
        with connection(service) as client:
            for _ in range(5):
                assert verify(client, token) == 200
                sent += 1
            seen.append(decisions_counted(client.get("/metrics").text))
    assert seen == sorted(seen), "a counter went down between two scrapes"
    assert seen[-1] <= sent
    wait_until(lambda: decisions_counted(metrics(service)) == sent)  # each is counted just after its answer
    # Each worker fetched the keys once at start-up: one scrape, whichever worker answers it, shows both.
    assert value(metrics(service), "authcheck_jwks_fetches_total", result="ok") == 2

    # A worker that dies takes none of its counts with it.
    before = samples(metrics(service))
    os.kill(service.workers()[0], signal.SIGKILL)
    wait_until(lambda: len(service.workers()) == 2 and httpx.get(service.url + "/readyz").status_code == 200)
    after = samples(metrics(service))
    assert all(
        after.get(series, 0) >= count for series, count in before.items() if not series[0].endswith("_age_seconds")
    )
    assert value(metrics(service), "authcheck_jwks_fetches_total", result="ok") == 3  # the new worker's fetch


def test_readyz_is_503_while_one_worker_has_no_keys(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    jwks.ok_answers_left = 1  # the first worker to ask gets the keys, the other a 500
    service = start_service(service_config(jwks.issuer), wait_ready=False, extra_args=WORKERS)
    wait_until(lambda: (text := metrics(service)) and value(text, "authcheck_jwks_fetches_total", result="http_error"))
    token = mint(keys["ES384"], jwks.issuer)
    answered_by_worker_with_keys = answered_by_worker_without = 0
    deadline = time.monotonic() + 20
    while answered_by_worker_with_keys < 3 or answered_by_worker_without < 3:
        assert time.monotonic() < deadline, "new connections did not reach both workers"
        with connection(service) as client:
            verified = verify(client, token)
            readyz = client.get("/readyz")  # the same connection, so the same worker
        assert readyz.status_code == 503, f"ready according to the worker that answered /verify with {verified}"
        assert "could not be fetched yet" in readyz.json()["issuers"][jwks.issuer]
        if verified == 200:
            answered_by_worker_with_keys += 1
        else:
            assert verified == 503
            answered_by_worker_without += 1

    # The worker without keys dies; its replacement gets the one good answer left. Ready only
    # if the dead worker's "no keys" no longer counts.
    without = next(pid for pid in service.workers() if key_status(pid)[jwks.issuer]["fetched_at"] is None)
    jwks.ok_answers_left = 1
    os.kill(without, signal.SIGKILL)
    service.wait_for("/readyz", timeout=30)
    assert without not in service.workers()
    for _ in range(10):
        with connection(service) as client:
            assert client.get("/readyz").status_code == 200
            assert verify(client, token) == 200


def test_shared_directory_is_private_and_removed_at_exit(start_service: Start, jwks: JwksServer) -> None:
    service = start_service(service_config(jwks.issuer), extra_args=WORKERS)
    shared = shared_directory(service.workers()[0])
    assert shared.stat().st_mode & 0o077 == 0
    assert sorted(path.name for path in shared.glob("keys-*.json")) == sorted(
        f"keys-{pid}.json" for pid in service.workers()
    )
    service.stop()
    assert not shared.exists()
