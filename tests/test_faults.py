"""Faults with real processes: a misbehaving issuer, clock skew at the leeway edges, SIGTERM
under load. Each runs the real `authcheck serve` against the real JWKS server (whose `mode`
switches what /jwks answers) and checks what clients get: fail closed, never a 500 or an allow
without a verified token, recovery without a restart.
"""

from __future__ import annotations

import signal
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint, new_key
from support.wait import wait_until

Start = Callable[..., AuthcheckProcess]
LEEWAY = 30


def config(issuer: str) -> dict[str, Any]:
    return {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE], "leeway": LEEWAY}],
        "rules": [
            {"name": "public", "match": {"paths": ["/public/**"]}, "allow": "anonymous"},
            {"name": "orders", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]},
        ],
    }


def metric(service: AuthcheckProcess, line_start: str) -> float:
    for line in httpx.get(service.url + "/metrics", timeout=5).text.splitlines():
        if line.startswith(line_start):
            return float(line.rsplit(" ", 1)[1])
    return 0.0


# mode -> (the result label its fetches are counted under, words /readyz gives as the reason)
ISSUER_FAULTS = {
    "error": ("http_error", "answered 500"),
    "garbage": ("invalid", "not valid JSON"),
    "empty": ("invalid", "no usable signing key"),
    "redirect-loop": ("http_error", "answered 302"),
    "huge": ("invalid", "larger than"),
}


@pytest.mark.parametrize("mode", list(ISSUER_FAULTS))
def test_an_issuer_fault_at_start_fails_closed_then_recovers_without_a_restart(
    mode: str, start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    result, reason = ISSUER_FAULTS[mode]
    jwks.mode = mode
    service = start_service(config(jwks.issuer), wait_ready=False)
    wait_until(
        lambda: metric(service, f'authcheck_jwks_fetches_total{{result="{result}"}}') >= 1, what="a failed fetch"
    )
    ready = httpx.get(service.url + "/readyz", timeout=5)
    assert ready.status_code == 503 and reason in ready.json()["issuers"][jwks.issuer]
    token = mint(keys["ES384"], jwks.issuer)
    refused = service.verify(token=token)
    assert (refused.status_code, refused.json()["code"]) == (503, "auth.keys_unavailable")
    assert service.verify(uri="/public/x").status_code == 200
    jwks.mode = "ok"  # the retry schedule (1 s, 2 s, ...) fetches again by itself
    service.wait_for("/readyz", timeout=20)
    assert service.verify(token=token).status_code == 200


def test_a_flapping_issuer_keeps_the_last_good_keys(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    service = start_service(config(jwks.issuer))
    jwks.mode = "flapping"
    token = mint(keys["ES384"], jwks.issuer)
    for attempt in range(6):  # unknown kids force refreshes: some fail, some succeed
        stranger = service.verify(token=mint(new_key("ES384", kid=f"rotated-{attempt}"), jwks.issuer))
        assert stranger.status_code in (401, 503), stranger.text
        assert service.verify(token=token).status_code == 200
    assert httpx.get(service.url + "/readyz", timeout=5).status_code == 200


def test_broken_keys_beside_good_ones_leave_the_good_ones_working(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    broken = [
        {"kty": "EC", "crv": "P-384", "x": "not-base64!", "y": "AA", "kid": "broken-ec", "alg": "ES384"},
        {"kty": "oct", "k": "c2VjcmV0", "kid": "symmetric", "alg": "HS256"},
        {"kty": "RSA", "kid": "no-modulus", "alg": "RS256"},
        "not even an object",
    ]
    jwks.keys = [*broken, keys["ES384"].public_jwk]
    service = start_service(config(jwks.issuer))
    assert service.verify(token=mint(keys["ES384"], jwks.issuer)).status_code == 200
    hs = service.verify(token=mint(keys["ES384"], jwks.issuer, headers={"kid": "symmetric"}))
    assert hs.status_code in (401, 503)


def test_a_jwks_slower_than_the_fetch_timeout_is_a_failed_fetch(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    jwks.keys = [keys["ES384"].public_jwk]
    jwks.mode, jwks.delay = "slow", 7.0  # the key store gives up after 5 s
    service = start_service(config(jwks.issuer), wait_ready=False)
    wait_until(
        lambda: metric(service, 'authcheck_jwks_fetches_total{result="network_error"}') >= 1,
        timeout=20,
        what="a timed-out fetch",
    )
    assert "ReadTimeout" in httpx.get(service.url + "/readyz", timeout=5).text
    assert service.verify(token=mint(keys["ES384"], jwks.issuer)).status_code == 503


# (claim overrides relative to now, expected status): each side of each leeway edge, 2 s away.
SKEW = {
    "exp-just-inside-leeway": ({"exp": -LEEWAY + 3}, 200),
    "exp-just-outside-leeway": ({"exp": -LEEWAY - 3}, 401),
    "nbf-just-inside-leeway": ({"nbf": LEEWAY - 3}, 200),
    "nbf-just-outside-leeway": ({"nbf": LEEWAY + 3}, 401),
    "iat-just-inside-leeway": ({"iat": LEEWAY - 3}, 200),
    "iat-just-outside-leeway": ({"iat": LEEWAY + 3}, 401),
}


@pytest.mark.parametrize("case", list(SKEW))
def test_clock_skew_at_the_leeway_edges(
    case: str, start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    service = start_service(config(jwks.issuer))
    offsets, expected = SKEW[case]
    now = int(time.time())
    claims = {name: now + offset for name, offset in offsets.items()}
    if "iat" not in claims:
        claims["iat"] = now - 3600 if "exp" in claims else now
    answer = service.verify(token=mint(keys["ES384"], jwks.issuer, **claims))
    assert answer.status_code == expected, answer.text


def test_sigterm_lets_requests_in_flight_finish(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    """Requests waiting on a key refresh (an unknown kid, a slow JWKS) when SIGTERM arrives
    still get their answer: uvicorn stops accepting, then drains what it has. Each client's
    connection is accepted (a /healthz on it) before its check is sent, so every check is on
    a connection the server owns when the signal comes."""
    service = start_service(config(jwks.issuer))
    rotated = new_key("ES384", kid="rotated")
    jwks.keys = [keys["ES384"].public_jwk, rotated.public_jwk]
    jwks.mode, jwks.delay = "slow", 1.0
    fetches = jwks.jwks_fetches
    clients = 16
    connected = threading.Barrier(clients + 1)

    def check() -> int:
        with httpx.Client(base_url=service.url, timeout=20) as client:
            assert client.get("/healthz").status_code == 200
            connected.wait(timeout=20)
            headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1"}
            headers["Authorization"] = f"Bearer {mint(rotated, jwks.issuer)}"
            return client.get("/verify", headers=headers).status_code

    with ThreadPoolExecutor(clients) as pool:
        answers = [pool.submit(check) for _ in range(clients)]
        connected.wait(timeout=20)
        wait_until(lambda: jwks.jwks_fetches > fetches, what="the refresh to start")
        service.signal(signal.SIGTERM)
        statuses = [answer.result(timeout=30) for answer in answers]
    assert statuses == [200] * clients
    # After draining, uvicorn re-raises the signal it caught, so the exit reports SIGTERM.
    assert service.wait_exit(timeout=20) == -signal.SIGTERM
    assert "Traceback" not in service.log()
