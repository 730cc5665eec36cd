"""authcheck.Guard and its threaded key store, against a real JWKS server over HTTP."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import threading
import time
import warnings
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from support.configs import service_config
from support.jwks_server import JwksServer
from support.tokens import SigningKey, mint, new_key

from authcheck import Guard, Requirement
from authcheck.config.file import ConfigError
from authcheck.core.key_freshness import UNKNOWN_KID_WAIT


@pytest.fixture
def guard(jwks: JwksServer) -> Iterator[Guard]:
    with Guard.from_mapping(service_config(jwks.issuer)) as made:
        yield made


def bearer(token: str) -> list[str]:
    return [f"Bearer {token}"]


def code(outcome: object) -> str | None:
    denial = getattr(outcome, "denial", None)
    return None if denial is None else str(denial.code)


def test_allowed_request_names_the_caller_with_every_verified_claim(
    guard: Guard, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(
        keys["ES384"], jwks.issuer, organization_id="org-1", email="a@example.com", roles={"orders": ["admin"]}
    )
    outcome = guard.check("GET", "app.example.com:8080", "/orders/7?page=2", bearer(token))
    assert outcome.allowed and outcome.status == 200
    auth = outcome.auth
    assert auth is not None
    assert (auth.subject, auth.issuer, auth.client_id) == ("user-1", jwks.issuer, "client-1")
    assert auth.scopes == {"read:orders", "profile"}
    assert auth.organization_id == "org-1"
    # The rules read no claim, so the cache keeps none; the Auth still has them all.
    assert auth.claims["email"] == "a@example.com" and auth.claims["roles"] == {"orders": ["admin"]}
    assert token not in repr(auth)
    # The same token again: from the verified-token cache, still with every claim.
    again = guard.check("GET", None, "/orders/8", bearer(token)).auth
    assert again is not None and again.claims["email"] == "a@example.com"


def test_denials_render_as_verify_answers(guard: Guard) -> None:
    outcome = guard.check("GET", None, "/orders/1")
    assert outcome.status == 401 and code(outcome) == "auth.authorization_header_missing"
    status, headers, body = outcome.answer()
    assert status == 401
    assert ("www-authenticate", 'Bearer realm="authcheck"') in headers
    assert ("content-type", "application/json") in headers
    assert body == (
        b'{"error": "unauthorized", "code": "auth.authorization_header_missing", '
        b'"message": "Authorization header is missing."}'
    )
    with pytest.raises(ValueError, match="allowed"):
        guard.check("GET", None, "/public/x").answer()


@pytest.mark.parametrize(
    ("method", "host", "target"),
    [
        ("GET", None, "/a%2Fb"),
        ("GET", None, "/public/a;b"),
        ("GET", None, ""),
        ("GET", "bad host", "/public/x"),
        ("GET", "a.example.com,b.example.com", "/public/x"),
        ("G E T", None, "/public/x"),
    ],
)
def test_ambiguous_requests_are_refused(guard: Guard, method: str, host: str | None, target: str) -> None:
    outcome = guard.check(method, host, target)
    assert outcome.status == 403 and code(outcome) == "auth.request_rejected"


def test_a_requirement_replaces_the_rules(guard: Guard, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    token = mint(keys["ES384"], jwks.issuer, scope="write:orders")
    assert code(guard.check("POST", None, "/orders", bearer(token))) == "auth.route_denied"  # no rule allows it
    assert guard.check("POST", None, "/orders", bearer(token), Requirement.of(scopes=["write:orders"])).allowed
    assert guard.check("POST", None, "/orders", bearer(token), Requirement.of(any_scopes=["x", "write:orders"])).allowed
    assert guard.check("POST", None, "/orders", bearer(token), Requirement.of(scopes=[])).allowed  # any valid token
    lacking = guard.check("POST", None, "/orders", bearer(token), Requirement.of(scopes=["write:orders", "admin"]))
    assert lacking.status == 403 and code(lacking) == "auth.insufficient_scope"
    assert code(guard.check("POST", None, "/orders", [], Requirement.of(scopes=[]))) == (
        "auth.authorization_header_missing"
    )


def test_requirement_mistakes_are_named() -> None:
    with pytest.raises(ValueError, match="not both"):
        Requirement.of(scopes=["a"], any_scopes=["b"])
    with pytest.raises(TypeError, match=r"write \['read:orders'\]"):
        Requirement.of(scopes="read:orders")
    assert Requirement.of() is None


def test_unknown_kid_refresh_is_one_fetch_shared_by_every_thread(
    guard: Guard, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    rotated = new_key("ES384", kid="rotated")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    jwks.mode, jwks.delay = "slow", 0.3  # every thread arrives while the fetch is under way
    fetches = jwks.jwks_fetches
    tokens = [mint(rotated, jwks.issuer, jti=f"t{i}") for i in range(12)]
    with ThreadPoolExecutor(12) as pool:
        outcomes = list(pool.map(lambda token: guard.check("GET", None, "/orders/1", bearer(token)), tokens))
    assert [o.status for o in outcomes] == [200] * 12
    assert jwks.jwks_fetches == fetches + 1
    # Cooling down: another unknown kid soon after is refused without a fetch.
    stranger = mint(new_key("ES384", kid="stranger"), jwks.issuer)
    assert code(guard.check("GET", None, "/orders/1", bearer(stranger))) == "invalid_token"
    assert jwks.jwks_fetches == fetches + 1


def test_a_slow_refresh_answers_503_after_the_wait_and_blocks_no_one_else(
    guard: Guard, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    known = mint(keys["ES384"], jwks.issuer)
    rotated = new_key("ES384", kid="rotated")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    jwks.mode, jwks.delay = "slow", 4.0
    waited: list[float] = []

    def unknown_kid() -> None:
        started = time.monotonic()
        outcome = guard.check("GET", None, "/orders/1", bearer(mint(rotated, jwks.issuer)))
        waited.append(time.monotonic() - started)
        assert outcome.status == 503 and code(outcome) == "auth.keys_unavailable"
        assert ("retry-after", "1") in outcome.answer()[1]

    thread = threading.Thread(target=unknown_kid)
    thread.start()
    deadline = time.monotonic() + 2
    while jwks.jwks_fetches < 2 and time.monotonic() < deadline:  # the refresh has reached the issuer
        time.sleep(0.01)
    started = time.monotonic()
    assert guard.check("GET", None, "/orders/1", bearer(known)).allowed  # known keys: no waiting
    assert time.monotonic() - started < 0.5
    thread.join()
    assert UNKNOWN_KID_WAIT - 0.1 < waited[0] < UNKNOWN_KID_WAIT + 1


def test_issuer_down_at_start_is_503_with_retry_after(keys: dict[str, SigningKey]) -> None:
    down = JwksServer().start()
    down.mode = "error"
    try:
        with Guard.from_mapping(service_config(down.issuer)) as guard:
            outcome = guard.check("GET", None, "/orders/1", bearer(mint(keys["ES384"], down.issuer)))
            assert outcome.status == 503 and code(outcome) == "auth.keys_unavailable"
            assert ("retry-after", "5") in outcome.answer()[1]
            assert "answered 500" in guard.not_ready()[down.issuer]
            assert guard.check("GET", None, "/public/x").allowed  # anonymous rules need no keys
    finally:
        down.stop()


def test_check_async_refreshes_in_a_thread(guard: Guard, jwks: JwksServer) -> None:
    rotated = new_key("ES384", kid="rotated-async")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    outcome = asyncio.run(guard.check_async("GET", None, "/me/x", bearer(mint(rotated, jwks.issuer))))
    assert outcome.allowed and outcome.auth is not None and outcome.auth.subject == "user-1"


def test_a_forked_child_refreshes_with_its_own_thread(
    guard: Guard, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    guard.check("GET", None, "/public/x")  # the parent's refresh thread is running
    rotated = new_key("ES384", kid="rotated-in-child")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    token = mint(rotated, jwks.issuer)
    read_end, write_end = os.pipe()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # "multi-threaded process forks": on purpose
        pid = os.fork()
    if pid == 0:  # the child: report, then leave without running the parent's cleanup
        try:
            outcome = guard.check("GET", None, "/orders/1", bearer(token))
            alive = any(t.name.startswith("authcheck-keys ") for t in threading.enumerate())
            os.write(write_end, f"{outcome.status} {alive}".encode())
        finally:
            os._exit(0)
    os.close(write_end)
    os.waitpid(pid, 0)
    assert os.read(read_end, 100).decode() == "200 True"
    os.close(read_end)


def test_close_stops_the_refresh_thread(jwks: JwksServer) -> None:
    guard = Guard.from_mapping(service_config(jwks.issuer))
    guard.check("GET", None, "/public/x")
    refreshers = [t for t in threading.enumerate() if t.name == f"authcheck-keys {jwks.issuer}"]
    assert refreshers
    guard.close()
    for thread in refreshers:
        thread.join(timeout=5)
        assert not thread.is_alive()


def test_config_problems_are_named(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        Guard.from_file(tmp_path / "missing.yaml")
    with pytest.raises(ConfigError, match="issuers"):
        Guard.from_mapping({"rules": []})


def test_import_authcheck_stays_light() -> None:
    probe = (
        "import sys, authcheck; light = not {'authcheck.library', 'httpx', 'jwt'} & set(sys.modules); "
        "from authcheck import Guard; print(light, Guard.__module__)"
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert result.stdout.split() == ["True", "authcheck.library.guard"]
