"""Self-test of the proxy harness, with a STAND-IN auth server, not authcheck.

`stand_in_auth` answers 200 + `X-Auth-Subject: alice` for `Authorization: Bearer good` and 401
otherwise. These tests prove that each real proxy starts from the shipped files, asks the
auth address it is given, passes the original request, copies the identity header, drops the
client's own identity headers and fails closed. The scenario table against authcheck itself
is test_scenarios.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .harness import PROXY_KINDS, Answer, RecordingServer, Seen, StartProxy, free_port

SPOOFED = [("X-Auth-Subject", "mallory"), ("X-Auth-Scopes", "admin"), ("X-Auth-Email", "mallory@evil")]


def stand_in_auth(seen: Seen) -> Answer:
    if seen.header("Authorization") == "Bearer good":
        return 200, [("X-Auth-Subject", "alice")], b""
    body = b'{"error": "unauthorized", "code": "stand_in", "message": "stand-in auth server"}'
    return 401, [("WWW-Authenticate", 'Bearer realm="authcheck"'), ("Content-Type", "application/json")], body


@pytest.fixture
def auth() -> Iterator[RecordingServer]:
    server = RecordingServer(stand_in_auth)
    yield server
    server.stop()


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_good_token_reaches_app_with_only_the_vouched_identity(
    kind: str, proxies: StartProxy, auth: RecordingServer, upstream: RecordingServer
) -> None:
    proxy = proxies(kind, auth_port=auth.port, upstream_port=upstream.port)

    answer = proxy.request("GET", "/api/items?x=1", [("Authorization", "Bearer good"), *SPOOFED])

    assert answer.status == 200, proxy.log_text()[-2000:]
    [seen] = upstream.requests_to("/api/items")
    assert seen.all("X-Auth-Subject") == ["alice"]
    assert seen.all("X-Auth-Scopes") == []
    assert seen.all("X-Auth-Email") == []
    [check] = [r for r in auth.requests if "/api/items" in (r.path + (r.header("X-Forwarded-Uri") or ""))]
    assert check.header("Authorization") == "Bearer good"
    if kind == "envoy":  # the original request line, after the /verify prefix
        assert (check.method, check.path) == ("GET", "/verify/api/items?x=1")
    else:
        assert check.path.startswith("/verify")
        assert check.header("X-Forwarded-Method") == "GET"
        assert check.header("X-Forwarded-Uri") == "/api/items?x=1"


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_missing_token_is_refused_before_the_app(
    kind: str, proxies: StartProxy, auth: RecordingServer, upstream: RecordingServer
) -> None:
    proxy = proxies(kind, auth_port=auth.port, upstream_port=upstream.port)

    answer = proxy.request("GET", "/api/items")

    assert answer.status == 401
    assert answer.header("WWW-Authenticate") == 'Bearer realm="authcheck"'
    assert upstream.requests_to("/api/items") == []


# What each proxy answers when nothing listens at the auth address (ingress-contract.md §3).
UNREACHABLE_AUTH_STATUS = {"nginx": 500, "traefik": 500, "caddy": 502, "envoy": 503}


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_unreachable_auth_fails_closed(kind: str, proxies: StartProxy, upstream: RecordingServer) -> None:
    proxy = proxies(kind, auth_port=free_port(), upstream_port=upstream.port)

    answer = proxy.request("GET", "/api/items", [("Authorization", "Bearer good")])

    assert answer.status == UNREACHABLE_AUTH_STATUS[kind]
    assert upstream.requests_to("/api/items") == []
