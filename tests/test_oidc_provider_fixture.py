"""The real OIDC provider of tests/support/oidc_provider.py issues what authcheck must accept:
RFC 9068 JWT access tokens for an API resource, ES384 (Logto's default) or RS256, with
scopes, verifiable with the JWKS its discovery document names, and rotatable keys."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from support import oidc_provider
from support.oidc_provider import Client, OidcProvider, OidcProviderError, Resource, ec_key, rsa_key

pytestmark = pytest.mark.process  # starts the node OpenID provider

API = "https://api.example.com"
RSA_API = "https://rsa-api.example.com"
SCOPES = ["read:orders", "write:orders", "admin"]


def clients() -> list[Client]:
    return [
        Client("orders-svc", "orders-secret", ["read:orders", "write:orders"], claims={"organization_id": "org-1"}),
        Client("admin-svc", "admin-secret", SCOPES),
    ]


def resources() -> list[Resource]:
    return [Resource(API, SCOPES), Resource(RSA_API, SCOPES, alg="RS256")]


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[OidcProvider]:
    keys = [ec_key("ec-1"), rsa_key("rsa-1")]
    with OidcProvider(tmp_path_factory.mktemp("op"), keys, clients(), resources()) as op:
        yield op


def verify(op: OidcProvider, token: str, audience: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """Header and claims of `token`, verified with the JWKS fetched over HTTP."""
    header = jwt.get_unverified_header(token)
    key = jwt.PyJWKSet.from_dict(op.jwks())[header["kid"]]
    claims = jwt.decode(
        token,
        key,
        algorithms=[header["alg"]],
        audience=audience,
        issuer=op.issuer,
        options={"require": ["exp", "iat", "iss", "aud", "sub"]},
    )
    return header, claims


def test_discovery_names_the_issuer(provider: OidcProvider) -> None:
    assert provider.issuer.startswith("http://127.0.0.1:") and provider.issuer.endswith("/oidc")
    document = httpx.get(f"{provider.issuer}/.well-known/openid-configuration", trust_env=False).json()
    assert document["issuer"] == provider.issuer
    assert document["jwks_uri"].startswith(provider.issuer + "/")
    assert document["token_endpoint"].startswith(provider.issuer + "/")
    assert "client_credentials" in document["grant_types_supported"]


def test_es384_jwt_access_token(provider: OidcProvider) -> None:
    token = provider.token("orders-svc", "orders-secret", API, "read:orders write:orders")
    header, claims = verify(provider, token, API)
    assert header == {"typ": "at+jwt", "alg": "ES384", "kid": "ec-1"}
    assert claims["aud"] == API
    assert claims["iss"] == provider.issuer
    assert claims["scope"].split() == ["read:orders", "write:orders"]
    assert claims["client_id"] == claims["sub"] == "orders-svc"
    assert claims["organization_id"] == "org-1"
    assert 3590 <= claims["exp"] - claims["iat"] <= 3600


def test_rs256_jwt_access_token(provider: OidcProvider) -> None:
    token = provider.token("admin-svc", "admin-secret", RSA_API, "admin")
    header, claims = verify(provider, token, RSA_API)
    assert header == {"typ": "at+jwt", "alg": "RS256", "kid": "rsa-1"}
    assert claims["aud"] == RSA_API
    assert claims["scope"] == "admin"
    assert claims["client_id"] == "admin-svc"
    assert "organization_id" not in claims


def test_refusals(provider: OidcProvider) -> None:
    # A scope the client may not have, an unknown resource, a wrong secret.
    response = provider.token_response("orders-svc", "orders-secret", resource=API, scope="admin")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_scope")
    response = provider.token_response("orders-svc", "orders-secret", resource="https://other.example.com")
    assert (response.status_code, response.json()["error"]) == (400, "invalid_target")
    with pytest.raises(OidcProviderError, match="invalid_client"):
        provider.token("orders-svc", "wrong", API, "read:orders")


def test_key_rotation(tmp_path: Path) -> None:
    old, new, rsa = ec_key("ec-old"), ec_key("ec-new"), rsa_key("rsa-1")
    with OidcProvider(tmp_path, [old, rsa], clients(), resources()) as op:
        issuer = op.issuer
        old_token = op.token("orders-svc", "orders-secret", API, "read:orders")
        assert jwt.get_unverified_header(old_token)["kid"] == "ec-old"

        op.restart(keys=[new, old, rsa])  # the new key signs, the old one is still published
        assert op.issuer == issuer and op.discovery["issuer"] == issuer
        token = op.token("orders-svc", "orders-secret", API, "read:orders")
        assert verify(op, token, API)[0]["kid"] == "ec-new"
        assert [key["kid"] for key in op.jwks()["keys"]] == ["ec-new", "ec-old", "rsa-1"]
        verify(op, old_token, API)

        op.restart(keys=[new, rsa])  # the old key is gone
        assert [key["kid"] for key in op.jwks()["keys"]] == ["ec-new", "rsa-1"]
        assert all("d" not in key for key in op.jwks()["keys"])


def test_stop_ends_the_process(tmp_path: Path) -> None:
    op = OidcProvider(tmp_path, [ec_key()], clients(), resources()).start()
    url = op.discovery["jwks_uri"]
    op.stop()
    with pytest.raises(httpx.ConnectError):
        httpx.get(url, trust_env=False)
    assert "ready: issuer=" in (tmp_path / "oidc-provider.log").read_text()


def test_the_provider_does_not_outlive_its_parent(tmp_path: Path) -> None:
    script = textwrap.dedent(
        f"""
        import os, sys
        sys.path.insert(0, {str(Path(__file__).parent)!r})
        from support.oidc_provider import OidcProvider, ec_key
        op = OidcProvider({str(tmp_path)!r}, [ec_key()], [], []).start()
        print(op.discovery["jwks_uri"], flush=True)
        os._exit(0)  # no stop(): as if the test run were killed
        """
    )
    url = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout.strip()
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        try:
            httpx.get(url, timeout=0.5, trust_env=False)
        except httpx.TransportError:
            return
        time.sleep(0.05)
    pytest.fail(f"the provider at {url} still answers after its parent exited")


def test_missing_node_or_install_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    op = OidcProvider(tmp_path, [ec_key()], clients(), resources())
    monkeypatch.setattr(oidc_provider, "NODE_PROJECT", tmp_path)
    with pytest.raises(OidcProviderError, match="npm ci --prefix tests/oidc_provider"):
        op.start()
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OidcProviderError, match=r"Node\.js"):
        op.start()
