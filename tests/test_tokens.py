"""peek, verify and scopes_of: one token against one issuer's configuration and key set (pure).

Tokens are signed with jwt.encode, or, for headers PyJWT refuses to write, signed by
hand with the same algorithm objects; the key set comes from parse_jwks over the
public JWKs, as the key store builds it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

from authcheck.config.model import ASYMMETRIC_ALGORITHMS, IssuerConfig
from authcheck.core.errors import InvalidToken, UnknownKeyId
from authcheck.core.keys import KeySet, parse_jwks
from authcheck.core.tokens import UnverifiedToken, check_header, peek, scopes_of, verify_signed

ISSUER = "https://tenant.logto.app/oidc"


def verify(
    token: str, unverified: UnverifiedToken, config: IssuerConfig, keys: KeySet, now: float
) -> tuple[dict[str, Any], Any]:
    """What the authenticator does: the header checks pick the key, then the signature and claims."""
    key = check_header(unverified, config, keys)
    return verify_signed(token, unverified, config, key, now), key


AUDIENCE = "https://api.example.com"
CONFIG = IssuerConfig(issuer=ISSUER, audiences=(AUDIENCE,))

_EC_CURVES = {"ES256": ec.SECP256R1(), "ES384": ec.SECP384R1(), "ES512": ec.SECP521R1()}


def _private(alg: str) -> Any:
    if alg in _EC_CURVES:
        return ec.generate_private_key(_EC_CURVES[alg])
    if alg in ("RS256", "PS256"):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(alg)


ALGORITHMS = ("ES256", "ES384", "ES512", "RS256", "PS256", "EdDSA")
PRIVATE = {alg: _private(alg) for alg in ALGORITHMS}
IMPOSTOR = {alg: _private(alg) for alg in ("ES384", "RS256")}  # same kid, key not in the JWKS


def kid_of(alg: str) -> str:
    return f"{alg.lower()}-1"


def public_jwk(alg: str) -> dict[str, Any]:
    public = PRIVATE[alg].public_key()
    if alg.startswith("ES"):
        jwk = ECAlgorithm.to_jwk(public, as_dict=True)
    elif alg == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid_of(alg), "alg": alg, "use": "sig"}


KEYS: KeySet = parse_jwks(json.dumps({"keys": [public_jwk(alg) for alg in ALGORITHMS]}), ASYMMETRIC_ALGORITHMS)


def claims(**overrides: Any) -> dict[str, Any]:
    """Logto-like access token claims; an override of None removes the claim."""
    now = int(time.time())
    base: dict[str, Any] = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "user-1",
        "client_id": "client-1",
        "scope": "read:orders profile",
        "iat": now,
        "exp": now + 600,
        "jti": "jti-1",
    }
    base.update(overrides)
    return {name: value for name, value in base.items() if value is not None}


def mint(alg: str = "ES384", headers: dict[str, Any] | None = None, private: Any = None, **overrides: Any) -> str:
    header = {"kid": kid_of(alg), "typ": "at+jwt", **(headers or {})}
    if header["kid"] is None:
        del header["kid"]  # (a None typ is kept: jwt.encode then leaves typ out)
    return jwt.encode(claims(**overrides), private or PRIVATE[alg], algorithm=alg, headers=header)


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def sign_raw(header: dict[str, Any], payload: dict[str, Any], alg: str = "ES384") -> str:
    """A token with exactly this header, validly signed: for headers jwt.encode will not write."""
    algorithm = get_default_algorithms()[alg]
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    key = algorithm.prepare_key(PRIVATE[alg])
    return f"{signing_input}.{b64(algorithm.sign(signing_input.encode(), key))}"


def hs256_with_public_key(alg: str) -> str:
    """Algorithm confusion: HMAC-sign with the public key bytes the verifier holds."""
    secret = (
        PRIVATE[alg]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    signing_input = f"{b64json({'alg': 'HS256', 'typ': 'at+jwt', 'kid': kid_of(alg)})}.{b64json(claims())}"
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64(signature)}"


def tampered(token: str, **overrides: Any) -> str:
    """The same header and signature over different claims."""
    header, _, signature = token.split(".")
    return f"{header}.{b64json(claims(**overrides))}.{signature}"


def check(token: str, config: IssuerConfig = CONFIG, keys: KeySet = KEYS) -> dict[str, Any]:
    verified, key = verify(token, peek(token), config, keys, time.time())
    assert key.key_id == peek(token).header.get("kid", key.key_id)
    return verified


# -- accepted ----------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ALGORITHMS)
def test_valid_token_verifies_per_algorithm(alg: str) -> None:
    token = mint(alg)
    verified, key = verify(token, peek(token), CONFIG, KEYS, time.time())
    assert verified == jwt.decode(token, options={"verify_signature": False})
    assert key.key_id == kid_of(alg)
    assert alg in key.algorithms


ACCEPTED: list[Any] = [
    pytest.param(lambda: mint(exp=int(time.time()) - 10), CONFIG, id="expired-within-leeway-ok"),
    pytest.param(lambda: mint(nbf=int(time.time()) + 10), CONFIG, id="nbf-future-within-leeway-ok"),
    pytest.param(lambda: mint(iat=int(time.time()) + 10), CONFIG, id="iat-future-within-leeway-ok"),
    pytest.param(lambda: mint(nbf=int(time.time()) - 10), CONFIG, id="nbf-past-ok"),
    pytest.param(lambda: mint(iat=None), CONFIG, id="no-iat-ok"),
    pytest.param(
        lambda: mint(aud=["https://other.example.com", AUDIENCE]), CONFIG, id="aud-list-containing-accepted-value-ok"
    ),
    pytest.param(
        lambda: mint(aud="https://second.example.com"),
        replace(CONFIG, audiences=(AUDIENCE, "https://second.example.com")),
        id="aud-matches-second-configured-audience-ok",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "at+jwt"}),
        replace(CONFIG, token_type="at+jwt"),
        id="typ-at+jwt-required-and-present-ok",
    ),
    pytest.param(lambda: mint(headers={"typ": "AT+JWT"}), replace(CONFIG, token_type="at+jwt"), id="typ-upper-case-ok"),
    pytest.param(
        lambda: mint(headers={"typ": "application/at+jwt"}),
        replace(CONFIG, token_type="at+jwt"),
        id="typ-application-prefix-ok",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "Application/AT+JWT"}),
        replace(CONFIG, token_type="at+jwt"),
        id="typ-application-prefix-any-case-ok",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "at+jwt"}),
        replace(CONFIG, token_type="application/at+jwt"),
        id="configured-application-prefix-accepts-short-typ-ok",
    ),
    pytest.param(lambda: mint(headers={"typ": "JWT"}), CONFIG, id="any-typ-without-token-type-ok"),
    pytest.param(lambda: mint(headers={"typ": None}), CONFIG, id="no-typ-without-token-type-ok"),
    pytest.param(lambda: mint(scope=["read:orders", "profile"]), CONFIG, id="scope-list-of-strings-ok"),
    pytest.param(lambda: mint(scope=None), CONFIG, id="no-scope-ok"),
    pytest.param(lambda: mint(scope=None, scp=["a"]), replace(CONFIG, scope_claim="scp"), id="scp-claim-list-ok"),
    pytest.param(
        lambda: mint(client_id=None, azp="spa", organization_id="org-1"),
        CONFIG,
        id="azp-and-organization-id-strings-ok",
    ),
    pytest.param(lambda: mint(exp=float(int(time.time()) + 600)), CONFIG, id="exp-float-ok"),
    pytest.param(lambda: mint(headers={"kid": None}), CONFIG, id="no-kid-one-es384-candidate-ok"),
    pytest.param(
        lambda: mint("ES384", private=PRIVATE["ES384"]),
        replace(CONFIG, algorithms=("ES384",)),
        id="alg-in-issuer-allow-list-ok",
    ),
]


@pytest.mark.parametrize(("make", "config"), ACCEPTED)
def test_accepted(make: Callable[[], str], config: IssuerConfig) -> None:
    token = make()
    assert check(token, config) == jwt.decode(token, options={"verify_signature": False})


# -- refused -----------------------------------------------------------------------------

NOT_YET = "The token is not valid yet (nbf or iat is in the future)."
ALG_NOT_ALLOWED = "The token's algorithm is not allowed."
MALFORMED = "The token is not a well-formed JWT."
AT_JWT = replace(CONFIG, token_type="at+jwt")

REFUSED: list[Any] = [
    pytest.param(
        lambda: mint(exp=int(time.time()) - 3600),
        CONFIG,
        "The token has expired.",
        "token_expired",
        id="expired-token-401",
    ),
    pytest.param(
        lambda: mint(exp=int(time.time()) - 10),
        replace(CONFIG, leeway=0),
        "The token has expired.",
        "token_expired",
        id="expired-10s-with-zero-leeway-401",
    ),
    pytest.param(
        lambda: mint(nbf=int(time.time()) + 3600), CONFIG, NOT_YET, "token_not_yet_valid", id="nbf-future-401"
    ),
    pytest.param(
        lambda: mint(iat=int(time.time()) + 3600),
        CONFIG,
        NOT_YET,
        "token_not_yet_valid",
        id="iat-future-beyond-leeway-401",
    ),
    pytest.param(
        lambda: mint(iat=int(time.time()) + 60),
        CONFIG,
        NOT_YET,
        "token_not_yet_valid",
        id="iat-60s-future-beyond-30s-leeway-401",
    ),
    pytest.param(
        lambda: mint(exp=None), CONFIG, "The token has no exp claim.", "token_claim_missing", id="missing-exp-401"
    ),
    pytest.param(
        lambda: mint(aud=None), CONFIG, "The token has no aud claim.", "token_claim_missing", id="missing-aud-401"
    ),
    pytest.param(
        lambda: mint(iss=None), CONFIG, "The token has no iss claim.", "token_claim_missing", id="missing-iss-401"
    ),
    pytest.param(
        lambda: mint(aud="https://other.example.com"),
        CONFIG,
        "The token's audience is not accepted.",
        "token_audience_invalid",
        id="wrong-aud-401",
    ),
    pytest.param(
        lambda: mint(aud=["https://a.example.com", "https://b.example.com"]),
        CONFIG,
        "The token's audience is not accepted.",
        "token_audience_invalid",
        id="aud-list-none-accepted-401",
    ),
    pytest.param(
        lambda: mint(aud=AUDIENCE + "/"),
        CONFIG,
        "The token's audience is not accepted.",
        "token_audience_invalid",
        id="aud-is-compared-exactly-401",
    ),
    pytest.param(
        lambda: mint(aud=[AUDIENCE, 5]),
        CONFIG,
        "The token's audience is not accepted.",
        "token_audience_invalid",
        id="aud-list-with-number-401",
    ),
    pytest.param(
        lambda: mint(iss="https://evil.example.com/oidc"),
        CONFIG,
        "The token's issuer does not match.",
        "token_issuer_invalid",
        id="wrong-iss-401",
    ),
    pytest.param(
        lambda: mint(iss=ISSUER + "/"),
        CONFIG,
        "The token's issuer does not match.",
        "token_issuer_invalid",
        id="iss-is-compared-exactly-401",
    ),
    pytest.param(
        lambda: mint("ES256"),
        replace(CONFIG, algorithms=("ES384",)),
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="alg-not-in-issuer-allow-list-401",
    ),
    pytest.param(
        lambda: f"{b64json({'alg': 'none', 'typ': 'at+jwt'})}.{b64json(claims())}.",
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="alg-none-401",
    ),
    pytest.param(
        lambda: f"{b64json({'alg': 'NONE', 'kid': 'es384-1'})}.{b64json(claims())}.",
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="alg-none-upper-case-401",
    ),
    pytest.param(
        lambda: hs256_with_public_key("ES384"),
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="hs256-signed-with-ec-public-key-401",
    ),
    pytest.param(
        lambda: hs256_with_public_key("RS256"),
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="hs256-signed-with-rsa-public-key-401",
    ),
    pytest.param(
        lambda: sign_raw({"kid": "es384-1"}, claims()),
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="no-alg-header-401",
    ),
    pytest.param(
        lambda: sign_raw({"alg": ["ES384"], "kid": "es384-1"}, claims()),
        CONFIG,
        ALG_NOT_ALLOWED,
        "token_alg_not_allowed",
        id="alg-not-a-string-401",
    ),
    pytest.param(
        lambda: mint(headers={"jku": "https://evil.example.com/jwks"}),
        CONFIG,
        "The token carries a jku header, which is not accepted.",
        "token_header_forbidden",
        id="jku-header-401",
    ),
    pytest.param(
        lambda: mint(headers={"x5u": "https://evil.example.com/cert.pem"}),
        CONFIG,
        "The token carries a x5u header, which is not accepted.",
        "token_header_forbidden",
        id="x5u-header-401",
    ),
    pytest.param(
        lambda: mint(headers={"jwk": public_jwk("ES384")}),
        CONFIG,
        "The token carries a jwk header, which is not accepted.",
        "token_header_forbidden",
        id="embedded-jwk-header-401",
    ),
    pytest.param(
        lambda: mint(headers={"x5c": ["MIIB"]}),
        CONFIG,
        "The token carries a x5c header, which is not accepted.",
        "token_header_forbidden",
        id="x5c-header-401",
    ),
    pytest.param(
        lambda: sign_raw({"alg": "ES384", "kid": "es384-1", "crit": ["exp"], "exp": 1}, claims()),
        CONFIG,
        "The token carries a crit header, which is not accepted.",
        "token_header_forbidden",
        id="crit-header-401",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "JWT"}),
        AT_JWT,
        "The token's typ is not at+jwt.",
        "token_type_invalid",
        id="typ-JWT-when-at+jwt-required-401",
    ),
    pytest.param(
        lambda: mint(headers={"typ": None}),
        AT_JWT,
        "The token's typ is not at+jwt.",
        "token_type_invalid",
        id="typ-missing-when-required-401",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "at+jwt+extra"}),
        AT_JWT,
        "The token's typ is not at+jwt.",
        "token_type_invalid",
        id="typ-with-suffix-401",
    ),
    pytest.param(
        lambda: mint(headers={"typ": "application/jwt"}),
        AT_JWT,
        "The token's typ is not at+jwt.",
        "token_type_invalid",
        id="typ-application-jwt-401",
    ),
    pytest.param(
        lambda: sign_raw({"alg": "ES384", "kid": "es384-1", "typ": ["at+jwt"]}, claims()),
        AT_JWT,
        "The token's typ is not at+jwt.",
        "token_type_invalid",
        id="typ-not-a-string-401",
    ),
    pytest.param(
        lambda: sign_raw({"alg": "ES384", "kid": 1}, claims()),
        CONFIG,
        "The token's kid is not a string.",
        "token_malformed",
        id="kid-number-401",
    ),
    pytest.param(
        lambda: sign_raw({"alg": "ES384", "kid": ["es384-1"]}, claims()),
        CONFIG,
        "The token's kid is not a string.",
        "token_malformed",
        id="kid-list-401",
    ),
    pytest.param(
        lambda: mint(private=IMPOSTOR["ES384"]),
        CONFIG,
        "The token's signature does not verify.",
        "token_signature_invalid",
        id="signed-by-another-key-with-known-kid-401",
    ),
    pytest.param(
        lambda: mint("RS256", private=IMPOSTOR["RS256"]),
        CONFIG,
        "The token's signature does not verify.",
        "token_signature_invalid",
        id="rsa-signed-by-another-key-401",
    ),
    pytest.param(
        lambda: tampered(mint(), sub="admin"),
        CONFIG,
        "The token's signature does not verify.",
        "token_signature_invalid",
        id="tampered-payload-401",
    ),
    pytest.param(
        lambda: mint(headers={"kid": "es256-1"}),
        CONFIG,
        "The token's algorithm does not match its signing key.",
        "token_alg_key_mismatch",
        id="kid-of-a-key-for-another-alg-401",
    ),
    pytest.param(
        lambda: mint(sub=123), CONFIG, "The token's sub claim is not a string.", "token_claim_type", id="sub-number-401"
    ),
    pytest.param(
        lambda: mint(sub=["user-1"]),
        CONFIG,
        "The token's sub claim is not a string.",
        "token_claim_type",
        id="sub-list-401",
    ),
    pytest.param(
        lambda: mint(client_id=7),
        CONFIG,
        "The token's client_id claim is not a string.",
        "token_claim_type",
        id="client-id-number-401",
    ),
    pytest.param(
        lambda: mint(azp=["spa"]),
        CONFIG,
        "The token's azp claim is not a string.",
        "token_claim_type",
        id="azp-list-401",
    ),
    pytest.param(
        lambda: mint(organization_id={"id": "org-1"}),
        CONFIG,
        "The token's organization_id claim is not a string.",
        "token_claim_type",
        id="organization-id-object-401",
    ),
    pytest.param(
        lambda: mint(organization_id=False),
        CONFIG,
        "The token's organization_id claim is not a string.",
        "token_claim_type",
        id="organization-id-bool-401",
    ),
    pytest.param(
        lambda: mint(jti=5), CONFIG, "The token's jti claim is not a string.", "token_claim_type", id="jti-number-401"
    ),
    pytest.param(
        lambda: mint(scope=5),
        CONFIG,
        "The token's scope claim is neither a string nor a list of strings.",
        "token_claim_type",
        id="scope-number-401",
    ),
    pytest.param(
        lambda: mint(scope=["read:orders", 5]),
        CONFIG,
        "The token's scope claim is neither a string nor a list of strings.",
        "token_claim_type",
        id="scope-list-with-number-401",
    ),
    pytest.param(
        lambda: mint(scope={"read:orders": True}),
        CONFIG,
        "The token's scope claim is neither a string nor a list of strings.",
        "token_claim_type",
        id="scope-object-401",
    ),
    pytest.param(
        lambda: mint(scp=True),
        replace(CONFIG, scope_claim="scp"),
        "The token's scp claim is neither a string nor a list of strings.",
        "token_claim_type",
        id="configured-scp-claim-bool-401",
    ),
    pytest.param(
        lambda: mint(iat="now"),
        CONFIG,
        "The token's iat claim is not a number.",
        "token_claim_type",
        id="iat-string-401",
    ),
    pytest.param(
        lambda: mint(exp=str(int(time.time()) + 600)),
        CONFIG,
        "The token's exp claim is not a number.",
        "token_claim_type",
        id="exp-numeric-string-401",
    ),
    pytest.param(
        lambda: mint(nbf=str(int(time.time()) - 10)),
        CONFIG,
        "The token's nbf claim is not a number.",
        "token_claim_type",
        id="nbf-numeric-string-401",
    ),
    pytest.param(
        lambda: mint(exp="tomorrow"),
        CONFIG,
        "The token's exp claim is not a number.",
        "token_claim_type",
        id="exp-word-401",
    ),
    pytest.param(
        lambda: mint(nbf="yesterday"),
        CONFIG,
        "The token's nbf claim is not a number.",
        "token_claim_type",
        id="nbf-word-401",
    ),
]


@pytest.mark.parametrize(("make", "config", "message", "reason"), REFUSED)
def test_refused(make: Callable[[], str], config: IssuerConfig, message: str, reason: str) -> None:
    token = make()
    with pytest.raises(InvalidToken) as caught:
        verify(token, peek(token), config, KEYS, time.time())
    assert type(caught.value) is InvalidToken
    assert caught.value.message == message
    assert caught.value.reason == reason
    assert caught.value.status == 401
    assert caught.value.code == "invalid_token"


def test_unknown_kid_raises_unknown_key_id_so_the_caller_can_refresh() -> None:
    token = mint(headers={"kid": "rotated-2"})
    with pytest.raises(UnknownKeyId) as caught:
        verify(token, peek(token), CONFIG, KEYS, time.time())
    assert caught.value.reason == "token_kid_unknown"
    assert caught.value.message == "The token's signing key (kid) is not in the issuer's key set."


def test_no_kid_with_two_candidate_keys_refused() -> None:
    two_es384 = parse_jwks(
        json.dumps(
            {
                "keys": [
                    public_jwk("ES384"),
                    {
                        **ECAlgorithm.to_jwk(IMPOSTOR["ES384"].public_key(), as_dict=True),
                        "kid": "es384-2",
                        "alg": "ES384",
                    },
                ]
            }
        ),
        ASYMMETRIC_ALGORITHMS,
    )
    token = mint(headers={"kid": None})
    with pytest.raises(InvalidToken) as caught:
        verify(token, peek(token), CONFIG, two_es384, time.time())
    assert caught.value.reason == "token_kid_missing"
    assert caught.value.message == "The token has no kid and the issuer publishes several keys."


def test_forbidden_header_refused_even_with_valid_signature_from_a_trusted_key() -> None:
    # The jwk header names the trusted key itself: still refused, never honoured.
    token = mint(headers={"jwk": public_jwk("ES384")})
    with pytest.raises(InvalidToken) as caught:
        verify(token, peek(token), CONFIG, KEYS, time.time())
    assert caught.value.reason == "token_header_forbidden"


# -- peek --------------------------------------------------------------------------------

PEEK_REFUSED = [
    pytest.param("a.b.c.d.e", "Encrypted tokens (JWE) are not supported.", "token_encrypted", id="jwe-5-parts-401"),
    pytest.param(
        f"{b64json({'alg': 'RSA-OAEP', 'enc': 'A256GCM'})}.k.iv.ct.tag",
        "Encrypted tokens (JWE) are not supported.",
        "token_encrypted",
        id="jwe-header-5-parts-401",
    ),
    pytest.param("abc", "The token is not a JWT (three dot-separated parts).", "token_malformed", id="one-part-401"),
    pytest.param("a.b", "The token is not a JWT (three dot-separated parts).", "token_malformed", id="two-parts-401"),
    pytest.param(
        "a.b.c.d", "The token is not a JWT (three dot-separated parts).", "token_malformed", id="four-parts-401"
    ),
    pytest.param("", "The token is not a JWT (three dot-separated parts).", "token_malformed", id="empty-401"),
    pytest.param("!!!.@@@.###", MALFORMED, "token_malformed", id="garbage-base64-401"),
    pytest.param("..", MALFORMED, "token_malformed", id="empty-parts-401"),
    pytest.param(f"{b64(b'not json')}.{b64json(claims())}.sig", MALFORMED, "token_malformed", id="header-not-json-401"),
    pytest.param(
        f"{b64json([1, 2])}.{b64json(claims())}.sig", MALFORMED, "token_malformed", id="header-json-array-401"
    ),
    pytest.param(
        f"{b64json('ES384')}.{b64json(claims())}.sig", MALFORMED, "token_malformed", id="header-json-string-401"
    ),
    pytest.param(
        f"{b64json({'alg': 'ES384'})}.{b64json([claims()])}.sig",
        MALFORMED,
        "token_malformed",
        id="payload-json-array-401",
    ),
    pytest.param(
        b64json({"alg": "ES384"}) + "." + b64(b"\xff\xfe") + ".sig",
        MALFORMED,
        "token_malformed",
        id="payload-not-utf8-401",
    ),
    pytest.param(
        f"{b64json({'alg': 'ES384'})}.{b64json(claims())[:-1]}x.sig",
        MALFORMED,
        "token_malformed",
        id="payload-truncated-json-401",
    ),
]


@pytest.mark.parametrize(("token", "message", "reason"), PEEK_REFUSED)
def test_peek_refuses(token: str, message: str, reason: str) -> None:
    with pytest.raises(InvalidToken) as caught:
        peek(token)
    assert type(caught.value) is InvalidToken
    assert (caught.value.message, caught.value.reason) == (message, reason)


def test_peek_reads_header_and_claims_without_trusting_them() -> None:
    token = mint(private=IMPOSTOR["ES384"], sub="someone")
    unverified = peek(token)
    assert unverified.header == {"alg": "ES384", "kid": "es384-1", "typ": "at+jwt"}
    assert unverified.claims["sub"] == "someone"
    assert unverified.issuer == ISSUER


ISSUER_REFUSED = [
    pytest.param(None, id="no-iss-401"),
    pytest.param(123, id="iss-number-401"),
    pytest.param([ISSUER], id="iss-list-401"),
]


@pytest.mark.parametrize("iss", ISSUER_REFUSED)
def test_peek_issuer_must_be_a_string(iss: object) -> None:
    token = f"{b64json({'alg': 'ES384'})}.{b64json(claims(iss=iss))}.sig"
    with pytest.raises(InvalidToken) as caught:
        _ = peek(token).issuer
    assert (caught.value.message, caught.value.reason) == ("The token has no iss claim.", "token_issuer_missing")


# -- scopes_of ---------------------------------------------------------------------------

SCOPES = [
    pytest.param({"scope": "read:orders profile"}, "scope", {"read:orders", "profile"}, id="space-separated-string"),
    pytest.param({"scope": "  a   b  "}, "scope", {"a", "b"}, id="extra-spaces-ignored"),
    pytest.param({"scope": "a a"}, "scope", {"a"}, id="duplicates-collapsed"),
    pytest.param({"scope": ""}, "scope", set(), id="empty-string-no-scopes"),
    pytest.param({"scope": ["a", "b"]}, "scope", {"a", "b"}, id="list-of-strings"),
    pytest.param({"scope": []}, "scope", set(), id="empty-list-no-scopes"),
    pytest.param({}, "scope", set(), id="missing-claim-no-scopes"),
    pytest.param({"scp": ["x"], "scope": "y"}, "scp", {"x"}, id="configured-claim-only"),
    pytest.param({"scope": "y"}, "scp", set(), id="other-claim-ignored"),
]


@pytest.mark.parametrize(("token_claims", "scope_claim", "expected"), SCOPES)
def test_scopes_of(token_claims: dict[str, Any], scope_claim: str, expected: set[str]) -> None:
    assert scopes_of(token_claims, scope_claim) == frozenset(expected)


def _nested_token(header_depth: int = 1, claims_depth: int = 1, text: str = "") -> str:
    """A token with arrays nested that deep (1: a flat list) in its header and its claims; unsigned."""
    header = {"alg": "ES256", "kid": kid_of("ES256"), "n": "NESTED"}
    claims = {"iss": ISSUER, "n": "NESTED", "text": text}
    segments = [
        json.dumps(part).replace('"NESTED"', "[" * depth + "]" * depth)
        for part, depth in ((header, header_depth), (claims, claims_depth))
    ]
    return ".".join([*(base64.urlsafe_b64encode(s.encode()).rstrip(b"=").decode() for s in segments), "c2ln"])


NESTING = [
    pytest.param({"claims_depth": 63}, None, id="claims-64-levels-with-the-object-accepted"),
    pytest.param({"claims_depth": 64}, "token_too_deep", id="claims-65-levels-refused"),
    pytest.param({"header_depth": 64}, "token_too_deep", id="header-65-levels-refused"),
    pytest.param({"claims_depth": 2000}, "token_too_deep", id="claims-2000-levels-refused-not-recursion-error"),
    pytest.param({"claims_depth": 3, "text": "[" * 200 + "{" * 200}, None, id="brackets-inside-strings-do-not-nest"),
]


@pytest.mark.parametrize(("shape", "reason"), NESTING)
def test_json_nesting_limit(shape: dict[str, Any], reason: str | None) -> None:
    token = _nested_token(**shape)
    if reason is None:
        assert peek(token).claims["iss"] == ISSUER
        return
    with pytest.raises(InvalidToken) as refused:
        peek(token)
    assert refused.value.reason == reason
    assert "nests deeper than 64 levels" in refused.value.message
