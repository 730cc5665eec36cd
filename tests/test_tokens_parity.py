"""The fast verification road (authcheck.core.fast_jws) must agree with PyJWT on every token.

A corpus of ordinary and odd tokens (every claim PyJWT checks, at and around each boundary,
in every encoding PyJWT treats specially) goes through `tokens.verify_signed` and through the
PyJWT-only road (`jwt.decode` for everything but the dates, then the same date checks),
answer by answer: the claims, or the exact refusal and any warning. In-process, at a frozen
clock; an exception other than InvalidToken fails the test.
"""

from __future__ import annotations

import base64
import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import Algorithm, ECAlgorithm, OKPAlgorithm, RSAAlgorithm, get_default_algorithms

from authcheck.config.model import ASYMMETRIC_ALGORITHMS, IssuerConfig
from authcheck.core import fast_jws, tokens
from authcheck.core.errors import InvalidToken
from authcheck.core.keys import parse_jwks

NOW = 1_760_000_000  # the frozen clock both roads read
Road = Callable[[str, tokens.UnverifiedToken, IssuerConfig, float], Any]

ISSUER = "https://tenant.example.com/oidc"
AUDIENCE = "https://api.example.com"
CONFIGS = [IssuerConfig(ISSUER, (AUDIENCE,)), IssuerConfig(ISSUER, (AUDIENCE, "second"), leeway=0)]
ALGS: dict[str, Any] = {
    "ES256": ec.SECP256R1(),
    "ES384": ec.SECP384R1(),
    "ES512": ec.SECP521R1(),
    "RS256": 2048,
    "PS256": 2048,
    "RS384": 1024,
    "EdDSA": None,
}


def _private(alg: str) -> Any:
    spec = ALGS[alg]
    if alg.startswith("ES"):
        return ec.generate_private_key(spec)
    if alg == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    return rsa.generate_private_key(public_exponent=65537, key_size=spec)


PRIVATE = {alg: _private(alg) for alg in ALGS}


def _jwk(alg: str) -> dict[str, Any]:
    public = PRIVATE[alg].public_key()
    codec = ECAlgorithm if alg.startswith("ES") else OKPAlgorithm if alg == "EdDSA" else RSAAlgorithm
    jwk = codec.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    return {**jwk, "kid": alg, "alg": alg, "use": "sig"}


KEYS = parse_jwks(json.dumps({"keys": [_jwk(alg) for alg in ALGS]}), ASYMMETRIC_ALGORITHMS)


def b64(data: bytes) -> bytes:
    return base64.urlsafe_b64encode(data).rstrip(b"=")


def sign(alg: str, header: dict[str, Any], payload: bytes) -> tuple[bytes, bytes, bytes]:
    algorithm = get_default_algorithms()[alg]
    h, p = b64(json.dumps(header).encode()), b64(payload)
    return h, p, b64(algorithm.sign(h + b"." + p, algorithm.prepare_key(PRIVATE[alg])))


def claim_variants(now: int) -> list[dict[str, Any]]:
    base = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": "u",
        "client_id": "c",
        "scope": "a b",
        "iat": now,
        "exp": now + 600,
        "jti": "j",
    }
    odd: list[dict[str, Any]] = [{}]
    changes_by_claim: dict[str, list[Any]] = {
        "exp": [
            now - 3600,
            now - 31,
            now - 30,
            now - 29,
            now - 1,
            now,
            now + 0.5,
            float(now + 600),
            10**30,
            1e300,
            "x",
            None,
            True,
            [now + 600],
        ],
        "iat": [now + 29, now + 30, now + 31, now + 30.9, now + 3600, -1, 1e300, None, "x", False],
        "nbf": [now - 10, now + 29, now + 30, now + 31, now + 30.5, None, "x", 1e300],
        "iss": [ISSUER + "/", "", None, 1, [ISSUER], {"iss": ISSUER}],
        "aud": [
            "",
            [],
            [AUDIENCE],
            ["x", AUDIENCE],
            ["x"],
            [AUDIENCE, 1],
            "second",
            ["second"],
            None,
            5,
            {"aud": AUDIENCE},
            [[AUDIENCE]],
        ],
        "sub": [1, None, ["u"], ""],
        "jti": [1, None, ["j"]],
        "client_id": [1],
        "scope": [5, ["a", 1], ["a"]],
    }
    for name, values in changes_by_claim.items():
        odd += [{name: value} for value in values]
    variants = []
    for changes in odd:
        claims = {**base, **changes}
        variants.append(claims)
        missing = {k: v for k, v in base.items() if k not in changes}
        variants.append(missing)  # the changed claim left out entirely
    return variants


def encodings(h: bytes, p: bytes, s: bytes) -> list[bytes]:
    """The token as issued, and as PyJWT would read differently (padding, stray bits, junk)."""
    flip = bytes([s[0] ^ 1]) + s[1:] if s else s

    def pad(seg: bytes) -> bytes:
        return seg + b"=" * (-len(seg) % 4)

    def stray(seg: bytes) -> bytes:  # same bytes, non-zero trailing bits
        if len(seg) % 4 in (2, 3):
            last = seg[-1:]
            alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
            return seg[:-1] + alphabet[alphabet.index(last) + 1 :][:1]
        return seg + b"A"

    out = [
        h + b"." + p + b"." + s,
        h + b"." + p + b"." + flip,
        h + b"." + p + b".",
        h + b"." + p + b"." + s[:-4],
        pad(h) + b"." + p + b"." + s,
        h + b"." + pad(p) + b"." + s,
        h + b"." + p + b"." + pad(s),
        stray(h) + b"." + p + b"." + s,
        h + b"." + stray(p) + b"." + s,
        h + b"." + p + b"." + stray(s),
        h + b"." + p + b"." + s + b"==",
        h + b"." + p + b"." + s + b"=",
        h + b"." + p + b"." + s + b"!",
        h + b"." + p + b"." + s.replace(b"-", b"+").replace(b"_", b"/"),
    ]
    return out


def outcome(road: Road, token: str, config: IssuerConfig) -> tuple[Any, ...]:
    try:
        unverified = tokens.peek(token)
    except InvalidToken as exc:
        return ("peek", exc.message, exc.reason)
    result: tuple[Any, ...]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", road(token, unverified, config, NOW))
        except InvalidToken as exc:
            result = ("refused", type(exc).__name__, exc.message, exc.reason)
    return (*result, tuple(str(w.message) for w in caught))


def fast(token: str, unverified: tokens.UnverifiedToken, config: IssuerConfig, now: float) -> Any:
    return tokens.verify_signed(token, unverified, config, tokens.check_header(unverified, config, KEYS), now)


def pyjwt_only(token: str, unverified: tokens.UnverifiedToken, config: IssuerConfig, now: float) -> Any:
    """What verify would answer if every token took `jwt.decode`."""
    key = tokens.check_header(unverified, config, KEYS)
    claims = tokens.verify_with_pyjwt(token, unverified.header["alg"], config, key)
    tokens.check_dates(claims, now, config.leeway)
    tokens._check_claim_types(claims, config.scope_claim)
    return claims


HEADERS: list[Callable[[str], dict[str, Any]]] = [
    lambda alg: {"alg": alg, "kid": alg, "typ": "at+jwt"},
    lambda alg: {"alg": alg, "kid": alg, "b64": True},
    lambda alg: {"alg": alg, "kid": alg, "b64": False},
    lambda alg: {"alg": alg, "kid": alg, "extra": {"x": 1}},
]


@pytest.mark.parametrize("alg", list(ALGS))
def test_fast_road_agrees_with_pyjwt(alg: str) -> None:
    """Every claim variant with ES256; the other algorithms with the ordinary claims only."""
    variants = claim_variants(NOW)
    compared = fast_accepts = 0
    for make_header in HEADERS:
        for claims in variants if alg == "ES256" else variants[:2]:
            payloads = [json.dumps(claims).encode()]
            if claims.get("exp") == NOW + 600:
                payloads.append(json.dumps(claims).replace(str(NOW + 600), "1e400").encode())  # inf
                payloads.append(json.dumps(claims).replace(str(NOW + 600), "NaN").encode())
            for payload in payloads:
                for raw in encodings(*sign(alg, make_header(alg), payload)):
                    token = raw.decode()
                    for config in CONFIGS:
                        a, b = outcome(fast, token, config), outcome(pyjwt_only, token, config)
                        assert a == b, f"the roads disagree on {token}"
                        compared += 1
                        fast_accepts += a[0] == "ok"
    assert fast_accepts > 0 and compared > fast_accepts  # the corpus holds both answers


def test_the_fast_road_is_taken_for_an_ordinary_token() -> None:
    """Parity would hold trivially if every token went to jwt.decode: the short road must answer."""
    h, p, s = sign("ES256", {"alg": "ES256", "kid": "ES256"}, json.dumps(claim_variants(NOW)[0]).encode())
    token = (h + b"." + p + b"." + s).decode()
    unverified = tokens.peek(token)
    key = tokens.check_header(unverified, CONFIGS[0], KEYS)
    assert fast_jws.verify_ordinary(token, unverified.header, unverified.claims, CONFIGS[0], key)


def test_the_pyjwt_apis_the_fast_road_uses_exist() -> None:
    """fast_jws refuses to import without them (PyJWT >= 2.13); this names each one."""
    algorithm = jwt.get_algorithm_by_name("ES256")
    assert isinstance(algorithm, Algorithm)
    key = algorithm.prepare_key(KEYS.by_kid["ES256"].key)
    assert algorithm.check_key_length(key) is None
    assert callable(algorithm.verify)
    assert fast_jws.REQUIRED_PYJWT == "PyJWT >= 2.13"


def test_an_older_pyjwt_fails_the_import_naming_the_version() -> None:
    """Without an API the short road needs, authcheck must not start (nor quietly take the slow road)."""
    code = "import jwt.algorithms; del jwt.algorithms.Algorithm.check_key_length; import authcheck.core.fast_jws"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode != 0
    assert "ImportError: authcheck needs PyJWT >= 2.13" in result.stderr
