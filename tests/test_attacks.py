"""Attack regressions: malformed and malicious tokens and requests against a real service.

Each case names the attack; every one must be refused with the listed status and code,
never 200 and never 5xx.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from support.configs import service_config
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import SigningKey, b64, claims, forge, mint, new_key, sign_raw

Attack = Callable[[SigningKey, str], dict[str, Any]]  # (trusted key, issuer) -> verify() kwargs


@pytest.fixture(scope="module")
def trusted() -> SigningKey:
    return new_key("RS256", kid="trusted")


@pytest.fixture(scope="module")
def hardened(tmp_path_factory: pytest.TempPathFactory, trusted: SigningKey) -> Iterator[tuple[AuthcheckProcess, str]]:
    """One service for the whole corpus: requires typ at+jwt, as Logto issues."""
    jwks = JwksServer().start()
    jwks.keys = [trusted.public_jwk]
    service = AuthcheckProcess(tmp_path_factory.mktemp("attacks"), service_config(jwks.issuer, token_type="at+jwt"))
    service.start()
    yield service, jwks.issuer
    service.stop()
    jwks.stop()


def _hs256(header: dict[str, Any], payload: dict[str, Any], secret: bytes) -> str:
    signing_input = f"{b64(header)}.{b64(payload)}".encode()
    return f"{signing_input.decode()}.{b64(hmac.new(secret, signing_input, hashlib.sha256).digest())}"


def _pem(key: SigningKey) -> bytes:
    return key.private.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def _bearer(token: str) -> dict[str, Any]:
    return {"token": token}


def _swap_signature(key: SigningKey, issuer: str) -> dict[str, Any]:
    """Claims of a token with more scopes, signature of a genuine one."""
    genuine = mint(key, issuer, scope="profile")
    forged = mint(key, issuer, scope="admin read:orders")
    head, body, _ = forged.split(".")
    return _bearer(f"{head}.{body}.{genuine.split('.')[2]}")


TOKEN_ATTACKS: dict[str, tuple[Attack, int, str]] = {
    "alg-none-unsigned": (
        lambda k, i: _bearer(forge({"alg": "none", "typ": "at+jwt"}, claims(i))),
        401,
        "invalid_token",
    ),
    "alg-None-mixed-case": (
        lambda k, i: _bearer(forge({"alg": "None", "typ": "at+jwt"}, claims(i))),
        401,
        "invalid_token",
    ),
    "alg-none-with-kid": (
        lambda k, i: _bearer(forge({"alg": "none", "kid": k.kid, "typ": "at+jwt"}, claims(i))),
        401,
        "invalid_token",
    ),
    "hs256-keyed-with-public-pem": (
        lambda k, i: _bearer(_hs256({"alg": "HS256", "kid": k.kid, "typ": "at+jwt"}, claims(i), _pem(k))),
        401,
        "invalid_token",
    ),
    "hs256-keyed-with-jwk-modulus": (
        lambda k, i: _bearer(
            _hs256({"alg": "HS256", "kid": k.kid, "typ": "at+jwt"}, claims(i), k.public_jwk["n"].encode())
        ),
        401,
        "invalid_token",
    ),
    "stripped-signature": (lambda k, i: _bearer(mint(k, i).rsplit(".", 1)[0] + "."), 401, "invalid_token"),
    "signature-of-another-token": (_swap_signature, 401, "invalid_token"),
    "forged-kid-own-key": (lambda k, i: _bearer(mint(new_key("RS256", kid=k.kid), i)), 401, "invalid_token"),
    "unknown-kid": (lambda k, i: _bearer(mint(new_key("RS256", kid="attacker"), i)), 401, "invalid_token"),
    "embedded-jwk-header": (lambda k, i: _attacker_header(i, "jwk"), 401, "invalid_token"),
    "jku-to-attacker": (
        lambda k, i: _bearer(mint(k, i, headers={"jku": "http://127.0.0.1:1/jwks"})),
        401,
        "invalid_token",
    ),
    "x5u-to-attacker": (
        lambda k, i: _bearer(mint(k, i, headers={"x5u": "http://127.0.0.1:1/cert"})),
        401,
        "invalid_token",
    ),
    "x5c-chain": (lambda k, i: _bearer(mint(k, i, headers={"x5c": ["MIIB"]})), 401, "invalid_token"),
    "crit-extension": (lambda k, i: _bearer(mint(k, i, headers={"crit": ["exp"], "exp": 1})), 401, "invalid_token"),
    "expired": (lambda k, i: _bearer(mint(k, i, exp=int(time.time()) - 120)), 401, "invalid_token"),
    "not-yet-valid-nbf": (lambda k, i: _bearer(mint(k, i, nbf=int(time.time()) + 3600)), 401, "invalid_token"),
    "issued-in-future": (lambda k, i: _bearer(mint(k, i, iat=int(time.time()) + 3600)), 401, "invalid_token"),
    "no-exp": (lambda k, i: _bearer(mint(k, i, exp=None)), 401, "invalid_token"),
    "exp-as-string": (lambda k, i: _bearer(mint(k, i, exp="9999999999")), 401, "invalid_token"),
    "wrong-audience": (lambda k, i: _bearer(mint(k, i, aud="https://other-api.example.com")), 401, "invalid_token"),
    "audience-list-without-ours": (
        lambda k, i: _bearer(mint(k, i, aud=["https://a.example", "https://b.example"])),
        401,
        "invalid_token",
    ),
    "no-audience": (lambda k, i: _bearer(mint(k, i, aud=None)), 401, "invalid_token"),
    "untrusted-issuer": (lambda k, i: _bearer(mint(k, "https://evil.example.com/oidc")), 401, "invalid_token"),
    "issuer-trailing-slash": (lambda k, i: _bearer(mint(k, i + "/")), 401, "invalid_token"),
    "no-issuer": (lambda k, i: _bearer(mint(k, i, iss=None)), 401, "invalid_token"),
    "typ-plain-jwt": (lambda k, i: _bearer(mint(k, i, headers={"typ": "JWT"})), 401, "invalid_token"),
    "id-token-typ-missing": (lambda k, i: _bearer(mint(k, i, headers={"typ": None})), 401, "invalid_token"),
    "oversized-token": (lambda k, i: _bearer(mint(k, i, padding="x" * 9000)), 401, "invalid_token"),
    # Validly signed, nested 2,000 deep: json.loads would hit the recursion limit (was a 503).
    "deeply-nested-claims": (lambda k, i: _bearer(_nested_token(k, i, claims_depth=2000)), 401, "invalid_token"),
    "deeply-nested-header": (lambda k, i: _bearer(_nested_token(k, i, header_depth=2000)), 401, "invalid_token"),
    "jwe-five-parts": (lambda k, i: _bearer("eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d"), 401, "invalid_token"),
    "garbage-base64": (lambda k, i: _bearer("!!!.@@@.###"), 401, "invalid_token"),
    "header-is-array": (lambda k, i: _bearer(f"{b64(b'[1]')}.{b64(claims(i))}.c2ln"), 401, "invalid_token"),
    "sub-is-number": (lambda k, i: _bearer(mint(k, i, sub=12345)), 401, "invalid_token"),
    "scope-is-object": (lambda k, i: _bearer(mint(k, i, scope={"read:orders": True})), 401, "invalid_token"),
    "rsa-key-used-as-ps256": (
        lambda k, i: _bearer(jwt.encode(claims(i), k.private, "PS256", headers={"kid": k.kid, "typ": "at+jwt"})),
        401,
        "invalid_token",
    ),
    "two-authorization-headers": (
        lambda k, i: {"extra": [("Authorization", f"Bearer {mint(k, i)}")] * 2},
        401,
        "auth.authorization_token_invalid_format",
    ),
    "comma-joined-credentials": (
        lambda k, i: {"headers": {"Authorization": f"Bearer {mint(k, i)},Bearer x"}},
        401,
        "auth.authorization_token_invalid_format",
    ),
    "token-in-query-only": (
        lambda k, i: {"uri": f"/orders/1?access_token={mint(k, i)}"},
        401,
        "auth.authorization_header_missing",
    ),
    "token-in-cookie-only": (
        lambda k, i: {"headers": {"Cookie": f"access_token={mint(k, i)}"}},
        401,
        "auth.authorization_header_missing",
    ),
    "basic-with-token": (
        lambda k, i: {"headers": {"Authorization": f"Basic {mint(k, i)}"}},
        401,
        "auth.authorization_token_type_not_supported",
    ),
}


def _nested_token(key: SigningKey, issuer: str, header_depth: int = 1, claims_depth: int = 1) -> str:
    """Signed by the trusted key, with arrays nested that deep in the header and the claims."""
    header = {"alg": key.alg, "kid": key.kid, "typ": "at+jwt", "n": "NESTED"}
    parts = [
        json.dumps(part).replace('"NESTED"', "[" * depth + "]" * depth).encode()
        for part, depth in ((header, header_depth), ({**claims(issuer), "n": "NESTED"}, claims_depth))
    ]
    return sign_raw(key, *parts)


def _attacker_header(issuer: str, name: str) -> dict[str, Any]:
    attacker = new_key("RS256", kid="trusted")
    return _bearer(mint(attacker, issuer, headers={name: attacker.public_jwk}))


REQUEST_ATTACKS: dict[str, tuple[dict[str, Any], int, str]] = {
    # (verify() kwargs without a token, expected status, expected code)
    "dot-dot-out-of-public": ({"uri": "/public/../orders/1"}, 401, "auth.authorization_header_missing"),
    "encoded-dot-dot": ({"uri": "/public/%2e%2e/orders/1"}, 401, "auth.authorization_header_missing"),
    "double-slash": ({"uri": "//orders/1"}, 401, "auth.authorization_header_missing"),
    "encoded-slash": ({"uri": "/public/..%2Forders/1"}, 403, "auth.request_rejected"),
    "encoded-backslash": ({"uri": "/public/..%5Corders/1"}, 403, "auth.request_rejected"),
    "raw-backslash": ({"uri": "/public/..\\orders/1"}, 403, "auth.request_rejected"),
    "encoded-nul": ({"uri": "/public/x%00/../../orders/1"}, 403, "auth.request_rejected"),
    "above-root": ({"uri": "/../public/x"}, 403, "auth.request_rejected"),
    "tomcat-path-parameter": ({"uri": "/public/..;/orders/1"}, 403, "auth.request_rejected"),
    "bad-percent-encoding": ({"uri": "/public/%zz"}, 403, "auth.request_rejected"),
    # Issue 12: paths a backend that decodes twice or normalizes Unicode (NFKC) reads as another route.
    "fullwidth-solidus": ({"uri": "/public/..%EF%BC%8Forders/1"}, 403, "auth.request_rejected"),
    "fullwidth-full-stops": ({"uri": "/public/%EF%BC%8E%EF%BC%8E/orders/1"}, 403, "auth.request_rejected"),
    "one-dot-leaders": ({"uri": "/public/%E2%80%A4%E2%80%A4/orders/1"}, 403, "auth.request_rejected"),
    "fullwidth-reverse-solidus": ({"uri": "/public/..%EF%BC%BCorders/1"}, 403, "auth.request_rejected"),
    "double-encoded-dot-dot": ({"uri": "/public/%252e%252e/orders/1"}, 403, "auth.request_rejected"),
    "double-encoded-slash": ({"uri": "/public/..%252Forders/1"}, 403, "auth.request_rejected"),
    "invalid-utf8-once-decoded": ({"uri": "/public/%FF/x"}, 403, "auth.request_rejected"),
    "raw-fragment": ({"uri": "/public/x#/../../orders/1"}, 403, "auth.request_rejected"),
    "absolute-uri-in-forwarded-uri": ({"uri": "http://evil.example/public/x"}, 403, "auth.request_rejected"),
    "smuggled-original-uri": (
        {"uri": "/orders/1", "headers": {"X-Original-URI": "/public/x"}},
        403,
        "auth.request_rejected",
    ),
    "smuggled-original-url": (
        {"uri": "/orders/1", "headers": {"X-Original-URL": "http://a.example/public/x"}},
        403,
        "auth.request_rejected",
    ),
    "smuggled-original-method": (
        {"method": "DELETE", "uri": "/public/x", "headers": {"X-Original-Method": "GET"}},
        403,
        "auth.request_rejected",
    ),
    "repeated-forwarded-uri": (
        {"uri": "/orders/1", "extra": [("X-Forwarded-Uri", "/public/x")]},
        403,
        "auth.request_rejected",
    ),
    "forwarded-host-list": (
        {"uri": "/x", "headers": {"X-Forwarded-Host": "admin.example.com, other.example"}},
        403,
        "auth.request_rejected",
    ),
    "no-original-uri": ({"uri": None}, 403, "auth.request_rejected"),
    "no-original-method": ({"method": None}, 403, "auth.request_rejected"),
}


def _send(service: AuthcheckProcess, kwargs: dict[str, Any]) -> httpx.Response:
    kwargs = dict(kwargs)
    extra = kwargs.pop("extra", [])
    token = kwargs.pop("token", None)
    method, uri = kwargs.pop("method", "GET"), kwargs.pop("uri", "/orders/1")
    headers = [("X-Forwarded-Method", method), ("X-Forwarded-Uri", uri)]
    headers = [(name, value) for name, value in headers if value is not None]
    if token is not None:
        headers.append(("Authorization", f"Bearer {token}"))
    headers += list(kwargs.pop("headers", {}).items()) + extra
    return httpx.get(service.url + "/verify", headers=headers, timeout=10)


@pytest.mark.parametrize("name", TOKEN_ATTACKS)
def test_token_attack_refused(hardened: tuple[AuthcheckProcess, str], trusted: SigningKey, name: str) -> None:
    service, issuer = hardened
    attack, status, code = TOKEN_ATTACKS[name]
    response = _send(service, attack(trusted, issuer))
    assert (response.status_code, json.loads(response.content)["code"]) == (status, code)


@pytest.mark.parametrize("name", REQUEST_ATTACKS)
def test_request_attack_refused(hardened: tuple[AuthcheckProcess, str], name: str) -> None:
    service, _ = hardened
    kwargs, status, code = REQUEST_ATTACKS[name]
    response = _send(service, kwargs)
    assert (response.status_code, json.loads(response.content)["code"]) == (status, code)


def test_a_deeply_nested_token_says_why(hardened: tuple[AuthcheckProcess, str], trusted: SigningKey) -> None:
    service, issuer = hardened
    response = _send(service, _bearer(_nested_token(trusted, issuer, claims_depth=2000)))
    assert response.status_code == 401
    assert "nests deeper than 64 levels" in response.headers["www-authenticate"]
    ordinary = _send(service, _bearer(_nested_token(trusted, issuer, header_depth=32, claims_depth=32)))
    assert ordinary.status_code == 200


def test_corpus_controls_pass(hardened: tuple[AuthcheckProcess, str], trusted: SigningKey) -> None:
    """The same service lets a genuine token through: the refusals above are not blanket ones."""
    service, issuer = hardened
    assert _send(service, {"token": mint(trusted, issuer)}).status_code == 200
    assert _send(service, {"uri": "/public/a/../b"}).status_code == 200
