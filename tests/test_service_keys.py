"""Key lifecycle against a real JWKS server: rotation, outages, floods, slow and garbage answers."""

from __future__ import annotations

import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import httpx
from support.configs import service_config
from support.jwks_server import JwksServer, free_port
from support.metrics import value
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint, new_key
from support.wait import wait_until

Start = Callable[..., AuthcheckProcess]


def test_rotation_new_kid_is_fetched_once_and_accepted(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    rotated = new_key("ES384", kid="es384-2")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    fetches = jwks.jwks_fetches
    assert service.verify(token=mint(rotated, jwks.issuer)).status_code == 200
    assert service.verify(token=mint(keys["ES384"], jwks.issuer)).status_code == 200  # old key still published
    assert jwks.jwks_fetches == fetches + 1


def test_removed_key_refuses_tokens_it_signed_even_once_cached(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    old_token = mint(keys["ES384"], jwks.issuer)
    assert service.verify(token=old_token).status_code == 200  # now verified and cached
    rotated = new_key("ES384", kid="es384-2")
    jwks.keys = [rotated.public_jwk]
    assert service.verify(token=mint(rotated, jwks.issuer)).status_code == 200  # unknown kid -> refresh
    refused = service.verify(token=old_token)
    assert refused.status_code == 401
    assert "kid" in refused.headers["www-authenticate"]


def test_unknown_kid_flood_costs_one_fetch(service: AuthcheckProcess, jwks: JwksServer) -> None:
    strangers = [new_key("ES256", kid=f"forged-{i}") for i in range(5)]
    tokens = [mint(strangers[i % 5], jwks.issuer, jti=f"flood-{i}") for i in range(60)]
    fetches = jwks.jwks_fetches
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(lambda t: service.verify(token=t).status_code, tokens))
    assert set(statuses) == {401}
    assert jwks.jwks_fetches == fetches + 1


def test_outage_at_start_fails_closed_then_recovers_by_itself(
    start_service: Start, keys: dict[str, SigningKey]
) -> None:
    jwks = JwksServer(port=free_port())  # not started yet: the issuer is unreachable
    jwks.keys = [keys["ES384"].public_jwk]
    service = start_service(service_config(jwks.issuer), wait_ready=False)
    not_ready = httpx.get(service.url + "/readyz")
    assert not_ready.status_code == 503
    assert jwks.issuer in not_ready.json()["issuers"]
    token = mint(keys["ES384"], jwks.issuer)
    unavailable = service.verify(token=token)
    assert unavailable.status_code == 503
    assert int(unavailable.headers["retry-after"]) > 0
    assert unavailable.json()["code"] == "auth.keys_unavailable"
    assert "www-authenticate" not in unavailable.headers  # not "sign in again"
    assert service.verify(uri="/public/x").status_code == 200  # anonymous rules keep working
    jwks.start()
    try:
        service.wait_for("/readyz", timeout=20)
        assert service.verify(token=token).status_code == 200
    finally:
        jwks.stop()


def test_outage_later_keeps_serving_last_good_keys(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    jwks.mode = "error"
    stranger = new_key("ES384", kid="unknown")
    failed_refresh = service.verify(token=mint(stranger, jwks.issuer))  # an unknown kid triggers a refresh
    assert failed_refresh.status_code == 503  # the kid may be a new key we cannot see: retry, not sign in
    assert "retry-after" in failed_refresh.headers
    assert service.verify(token=mint(keys["ES384"], jwks.issuer)).status_code == 200
    assert httpx.get(service.url + "/readyz").status_code == 200
    metrics = httpx.get(service.url + "/metrics").text
    assert value(metrics, "authcheck_jwks_fetches_total", result="http_error") == 1


def test_garbage_jwks_is_not_ready_with_reason(start_service: Start, jwks: JwksServer) -> None:
    jwks.mode = "garbage"
    service = start_service(service_config(jwks.issuer), wait_ready=False)
    # authcheck has judged the answer once it counts it (the key server counts on arrival).
    metrics = lambda: httpx.get(service.url + "/metrics").text  # noqa: E731
    wait_until(lambda: value(metrics(), "authcheck_jwks_fetches_total", result="invalid") is not None)
    answer = httpx.get(service.url + "/readyz")
    assert answer.status_code == 503
    assert "not valid JSON" in answer.json()["issuers"][jwks.issuer]


def test_discovery_naming_another_issuer_is_refused(start_service: Start, jwks: JwksServer) -> None:
    jwks.discovery_issuer = "https://evil.example.com"
    service = start_service(service_config(jwks.issuer), wait_ready=False)
    wait_until(lambda: "another issuer" in httpx.get(service.url + "/readyz").text)
    assert jwks.jwks_fetches == 0


def test_slow_jwks_refresh_does_not_hold_requests(service: AuthcheckProcess, jwks: JwksServer) -> None:
    jwks.mode, jwks.delay = "slow", 4.0
    started = time.monotonic()
    answer = service.verify(token=mint(new_key("ES384", kid="late"), jwks.issuer))
    assert answer.status_code == 503
    assert answer.headers["retry-after"] == "1"
    assert time.monotonic() - started < 3.5


def test_configured_jwks_uri_skips_discovery(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    jwks.discovery_issuer = "https://never-used.example.com"  # discovery would fail
    service = start_service(service_config(jwks.issuer, jwks_uri=jwks.issuer + "/jwks"))
    assert service.verify(token=mint(keys["RS256"], jwks.issuer)).status_code == 200
