"""authcheck against a real OpenID provider (oidc-provider, the engine Logto is built on).

Real processes only: the Node provider of tests/support/oidc_provider.py issues RFC 9068
client_credentials tokens, and a real `authcheck serve` is configured with nothing but
the provider's issuer URL and the audiences: it finds the JWKS by OIDC discovery.

authcheck refreshes keys for an unknown kid at most once per 30 s per issuer, and its
scheduled refresh is 10 minutes away, so every test that needs a kid-triggered refresh
gets a fresh authcheck process and asks for exactly one such refresh.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from support.oidc_provider import Client, OidcProvider, Resource, ec_key, rsa_key
from support.service import AuthcheckProcess
from support.tokens import mint, new_key

Start = Callable[..., AuthcheckProcess]

API = "https://api.example.com"  # ES384, Logto's default
RSA_API = "https://rsa-api.example.com"  # RS256
OTHER_API = "https://billing.example.com"  # registered at the provider, never configured in authcheck
SCOPES = ["read:orders", "write:orders"]

ORDERS = Client("orders-svc", "orders-secret", SCOPES, claims={"organization_id": "org-1"})
WRITER = Client("writer-svc", "writer-secret", ["write:orders"])


def clients() -> list[Client]:
    return [ORDERS, WRITER]


def resources() -> list[Resource]:
    return [Resource(API, SCOPES), Resource(RSA_API, SCOPES, alg="RS256"), Resource(OTHER_API, SCOPES)]


def config(*issuers: tuple[str, list[str]]) -> dict[str, Any]:
    """Nothing about the issuer but its URL and audiences: the JWKS comes from discovery."""
    return {
        "issuers": [{"issuer": issuer, "audiences": audiences} for issuer, audiences in issuers],
        "rules": [
            {"name": "orders-read", "match": {"paths": ["/orders/**"], "methods": ["GET"]}, "scopes": ["read:orders"]},
            {"name": "signed-in", "match": {"paths": ["/me/**"]}, "allow": "authenticated"},
        ],
        "default": "deny",
    }


def orders_token(op: OidcProvider, resource: str = API, scope: str = "read:orders") -> str:
    return op.token(ORDERS.client_id, ORDERS.client_secret, resource, scope)


def stranger_token(op: OidcProvider) -> str:
    """Names the provider as issuer, signed by a key it never had: an unknown kid."""
    return mint(new_key("ES384", kid="stranger"), op.issuer, aud=API, scope="read:orders")


def kid(token: str) -> str:
    return jwt.get_unverified_header(token)["kid"]


# -- answers ----------------------------------------------------------------------------


def assert_allowed(response: httpx.Response, op: OidcProvider, client_id: str = ORDERS.client_id) -> None:
    assert response.status_code == 200, response.text
    assert response.headers["x-auth-subject"] == client_id
    assert response.headers["x-auth-client-id"] == client_id
    assert response.headers["x-auth-issuer"] == op.issuer
    assert "read:orders" in response.headers["x-auth-scopes"].split()


def assert_invalid_token(response: httpx.Response, *words: str) -> None:
    """401 invalid_token, with an error_description naming the reason."""
    assert response.status_code == 401, response.text
    assert response.json()["code"] == "invalid_token"
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="authcheck"') and 'error="invalid_token"' in challenge
    description = challenge.partition("error_description=")[2].lower()
    for word in words:
        assert word in description, challenge


# -- a provider that is never restarted: one per module -----------------------------------


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    with OidcProvider(tmp_path_factory.mktemp("op"), [ec_key("ec-1"), rsa_key("rsa-1")], clients(), resources()) as op:
        yield op


@pytest.fixture
def service(provider: OidcProvider, start_service: Start) -> AuthcheckProcess:
    return start_service(config((provider.issuer, [API, RSA_API])))


def test_es384_client_credentials_token_is_accepted(provider: OidcProvider, service: AuthcheckProcess) -> None:
    token = orders_token(provider)
    assert jwt.get_unverified_header(token) == {"typ": "at+jwt", "alg": "ES384", "kid": "ec-1"}
    response = service.verify("GET", "/orders/1", token)
    assert_allowed(response, provider)
    assert response.headers["x-auth-scopes"] == "read:orders"
    assert response.headers["x-auth-organization-id"] == "org-1"
    assert response.content == b""


def test_rs256_resource_as_a_second_audience_is_accepted(provider: OidcProvider, service: AuthcheckProcess) -> None:
    token = orders_token(provider, RSA_API, "read:orders write:orders")
    assert jwt.get_unverified_header(token) == {"typ": "at+jwt", "alg": "RS256", "kid": "rsa-1"}
    response = service.verify("GET", "/orders/1", token)
    assert_allowed(response, provider)
    assert response.headers["x-auth-scopes"].split() == ["read:orders", "write:orders"]


def test_rs256_provider_as_a_second_issuer_is_accepted(
    provider: OidcProvider, start_service: Start, tmp_path: Path
) -> None:
    """Two trusted issuers, each discovered on its own; the token's iss picks one."""
    with OidcProvider(
        tmp_path / "op2",
        [rsa_key("rsa-2")],
        clients(),
        [Resource(RSA_API, SCOPES, alg="RS256"), Resource(API, SCOPES, alg="RS256")],
    ) as second:
        service = start_service(config((provider.issuer, [API]), (second.issuer, [RSA_API])))
        token = orders_token(second, RSA_API)
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
        assert_allowed(service.verify("GET", "/orders/1", token), second)
        assert_allowed(service.verify("GET", "/orders/1", orders_token(provider, API)), provider)
        # Each issuer is a closed world: API is an audience of the first issuer only.
        assert_invalid_token(service.verify("GET", "/orders/1", orders_token(second, API)), "audience")


def test_token_without_the_required_scope_is_403(provider: OidcProvider, service: AuthcheckProcess) -> None:
    for token in (
        provider.token(WRITER.client_id, WRITER.client_secret, API, "write:orders"),
        orders_token(provider, API, "write:orders"),  # the client may read, but did not ask to
    ):
        response = service.verify("GET", "/orders/1", token)
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "auth.insufficient_scope"
        challenge = response.headers["www-authenticate"]
        assert 'error="insufficient_scope"' in challenge and 'scope="read:orders"' in challenge
        # The token itself is valid: a route that needs no scope lets it through.
        assert service.verify("GET", "/me/profile", token).status_code == 200


def test_token_for_another_resource_is_401(provider: OidcProvider, service: AuthcheckProcess) -> None:
    token = orders_token(provider, OTHER_API)
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == OTHER_API
    assert_invalid_token(service.verify("GET", "/orders/1", token), "audience")
    assert_invalid_token(service.verify("GET", "/me/profile", token), "audience")


# -- providers that restart: one per test ---------------------------------------------------


def test_rotated_key_is_fetched_without_restarting_authcheck(tmp_path: Path, start_service: Start) -> None:
    old, new = ec_key("ec-old"), ec_key("ec-new")
    with OidcProvider(tmp_path / "op", [old], clients(), resources()) as op:
        service = start_service(config((op.issuer, [API])))
        old_token = orders_token(op)
        unseen_old = orders_token(op)
        assert_allowed(service.verify(token=old_token), op)

        op.restart(keys=[new, old])  # the new key signs first, the old one is still published
        new_token = orders_token(op)
        assert kid(new_token) == "ec-new"
        assert_allowed(service.verify(token=new_token), op)  # unknown kid -> one refresh
        assert_allowed(service.verify(token=old_token), op)  # seen before, key still published
        assert_allowed(service.verify(token=unseen_old), op)  # never seen, key still published


def test_dropped_key_is_refused_even_for_an_accepted_token(tmp_path: Path, start_service: Start) -> None:
    old, new, third = ec_key("ec-old"), ec_key("ec-new"), ec_key("ec-third")
    with OidcProvider(tmp_path / "op", [old], clients(), resources()) as op:
        service = start_service(config((op.issuer, [API])))
        accepted_old = orders_token(op)
        unseen_old = orders_token(op)
        assert_allowed(service.verify(token=accepted_old), op)  # verified, and maybe cached

        op.restart(keys=[new, old])
        unseen_new = orders_token(op)
        assert kid(unseen_new) == "ec-new"

        # Drop the old key and rotate to a third one at once: the third key's token is the
        # first kid authcheck has not seen, and its refresh is the one that drops ec-old.
        op.restart(keys=[third, new])
        third_token = orders_token(op)
        assert kid(third_token) == "ec-third"
        assert_allowed(service.verify(token=third_token), op)
        assert_invalid_token(service.verify(token=accepted_old), "key")
        assert_invalid_token(service.verify(token=unseen_old), "key")
        assert_allowed(service.verify(token=unseen_new), op)  # still published
        assert_invalid_token(service.verify(token=accepted_old), "key")  # and stays refused


def test_provider_outage_and_restart(tmp_path: Path, start_service: Start) -> None:
    first, rotated = ec_key("ec-1"), ec_key("ec-2")
    with OidcProvider(tmp_path / "op", [first], clients(), resources()) as op:
        quiet = start_service(config((op.issuer, [API])))
        probed = start_service(config((op.issuer, [API])))  # will try, and fail, a refresh in the outage
        seen = orders_token(op)
        for service in (quiet, probed):
            assert_allowed(service.verify(token=seen), op)
        unseen = orders_token(op)  # minted before the outage, never shown to authcheck
        jwks_uri = op.discovery["jwks_uri"]

        op.stop()
        with pytest.raises(httpx.TransportError):
            httpx.get(jwks_uri, timeout=2, trust_env=False)
        assert_allowed(quiet.verify(token=seen), op)
        assert_allowed(quiet.verify(token=unseen), op)  # its key is cached: no fetch needed
        # An unknown kid makes `probed` refetch the keys while the provider is down; the
        # failed fetch must not cost it the keys it has.
        assert probed.verify(token=stranger_token(op)).status_code == 503  # refresh failed: retry later
        assert_allowed(probed.verify(token=unseen), op)
        assert_allowed(probed.verify(token=seen), op)
        for service in (quiet, probed):
            assert httpx.get(service.url + "/readyz", timeout=5).status_code == 200

        op.restart(keys=[rotated, first])  # same port, same issuer; nothing done to authcheck
        assert op.discovery["jwks_uri"] == jwks_uri
        after = orders_token(op)
        assert kid(after) == "ec-2"
        assert_allowed(quiet.verify(token=after), op)  # unknown kid -> refresh from the provider again
        assert_allowed(quiet.verify(token=seen), op)


def test_failed_refresh_in_an_outage_does_not_delay_the_recovery(tmp_path: Path, start_service: Start) -> None:
    """A token with an unknown kid during the outage (anyone can send one) must not make
    authcheck refuse the provider's rotated key for the next 30 s once it is back."""
    first, rotated = ec_key("ec-1"), ec_key("ec-2")
    with OidcProvider(tmp_path / "op", [first], clients(), resources()) as op:
        service = start_service(config((op.issuer, [API])))
        op.stop()
        during = service.verify(token=stranger_token(op))  # its refresh fails: retry later, not sign in
        assert during.status_code == 503 and int(during.headers["retry-after"]) > 0
        assert during.json()["code"] == "auth.keys_unavailable"
        op.restart(keys=[rotated, first])
        after = orders_token(op)
        deadline = time.monotonic() + 3  # room for a retry backoff of a few seconds
        while (response := service.verify(token=after)).status_code != 200 and time.monotonic() < deadline:
            time.sleep(0.25)
        assert_allowed(response, op)
