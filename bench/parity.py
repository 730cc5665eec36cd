"""Does the fast verification road agree with PyJWT on every token? (run by bench/run first)

`authcheck.core.tokens.verify` takes a short road for ordinary tokens and hands the rest to
`jwt.decode`. This signs a corpus of ordinary and odd tokens (every claim PyJWT checks,
at and around each boundary, in every encoding PyJWT treats specially) and compares
`verify` with the PyJWT-only road, answer by answer: claims, or the exact refusal.
Exit 1 on the first disagreement. Usage: python bench/parity.py
"""

from __future__ import annotations

import base64
import json
import sys
import time
import warnings
from collections.abc import Callable
from typing import Any

from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import (
    ECAlgorithm,
    OKPAlgorithm,
    RSAAlgorithm,
    get_default_algorithms,
)

from authcheck.config.model import ASYMMETRIC_ALGORITHMS, IssuerConfig
from authcheck.core import tokens
from authcheck.core.errors import InvalidToken
from authcheck.core.keys import parse_jwks

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


def outcome(road: Any, token: str, config: IssuerConfig) -> tuple[Any, ...]:
    try:
        unverified = tokens.peek(token)
    except InvalidToken as exc:
        return ("peek", exc.message, exc.reason)
    result: tuple[Any, ...]
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            result = ("ok", road(token, unverified, config))
        except InvalidToken as exc:
            result = ("refused", type(exc).__name__, exc.message, exc.reason)
        except Exception as exc:
            result = ("raised", type(exc).__name__, str(exc))
    return (*result, tuple(str(w.message) for w in caught))


def fast(token: str, unverified: tokens.UnverifiedToken, config: IssuerConfig) -> Any:
    return tokens.verify(token, unverified, config, KEYS)[0]


def pyjwt_only(token: str, unverified: tokens.UnverifiedToken, config: IssuerConfig) -> Any:
    key = tokens.check_header(unverified, config, KEYS)
    claims = tokens._verify_with_pyjwt(token, unverified.header["alg"], config, key)
    tokens._check_claim_types(claims, config.scope_claim)
    return claims


def compare(token: str, config: IssuerConfig) -> tuple[Any, Any]:
    """The fast answer and PyJWT's. The corpus sits on the time boundaries of one `now` while the
    clock moves on (slowly, on a loaded machine), so a boundary can pass between the two checks.
    On a difference, the fast check is bracketed by two PyJWT checks until those agree: PyJWT's
    answer was then the right one at the moment of the fast check, and a difference is real."""
    a, b = outcome(fast, token, config), outcome(pyjwt_only, token, config)
    for _ in range(3):
        if a == b:
            return a, b
        before = outcome(pyjwt_only, token, config)
        a, b = outcome(fast, token, config), outcome(pyjwt_only, token, config)
        if before == b:  # no boundary passed during the fast check
            return a, b
    return a, b


def _collect(into: list[tuple[str, str]]) -> Callable[[str, str], None]:
    return lambda name, why: into.append((name, why))


def identity_parity() -> int:
    """build_identity with a SharedValues (shared values, memo of the common part) against
    without: equal identities, the same dropped-header reports in the same order."""
    import itertools

    from authcheck.core.identity import SharedValues, build_identity, compact, expand

    shared = SharedValues(limit=64)  # small: the memo starts over during the run too
    count = 0
    for sub, scope, client, org, aud, extra in itertools.product(
        ["u-1", "", None, "tab\tbed", "José", "名前", "x" * 3000],
        ["a b", "b a", ["a", "b"], "", [], None, "bad\x7fscope"],
        [{"client_id": "c"}, {"azp": "spa"}, {"client_id": "", "azp": "spa"}, {}, {"client_id": "ctrl\x01"}],
        [None, "org-1", "org\n2"],
        [AUDIENCE, [AUDIENCE, "other"]],
        [(), (("X-Auth-Email", "email"),)],
    ):
        claims = {
            "iss": ISSUER,
            "aud": aud,
            **client,
            **({"sub": sub} if sub is not None else {}),
            **({"scope": scope} if scope is not None else {}),
            **({"organization_id": org} if org is not None else {}),
            "email": f"{sub}@example.com",
        }
        for _ in range(2):  # the second time, the common part comes from the memo
            plain_drops: list[tuple[str, str]] = []
            shared_drops: list[tuple[str, str]] = []
            plain = build_identity(claims, "scope", extra, frozenset(), _collect(plain_drops))
            fast = build_identity(claims, "scope", extra, frozenset(), _collect(shared_drops), shared)
            count += 1
            if plain != fast or plain_drops != shared_drops or expand(*compact(fast, shared)) != plain:
                print(
                    f"DISAGREE on {claims}\n  plain: {plain} {plain_drops}\n  fast:  {fast} {shared_drops}",
                    file=sys.stderr,
                )
                return 1
    print(f"parity: {count} identities built with shared values agree")
    return 0


def main() -> int:
    if identity_parity():
        return 1
    now = int(time.time())
    compared = fast_accepts = 0
    headers: list[Callable[[str], dict[str, Any]]] = [
        lambda alg: {"alg": alg, "kid": alg, "typ": "at+jwt"},
        lambda alg: {"alg": alg, "kid": alg, "b64": True},
        lambda alg: {"alg": alg, "kid": alg, "b64": False},
        lambda alg: {"alg": alg, "kid": alg, "extra": {"x": 1}},
    ]
    variants = claim_variants(now)
    for alg in ALGS:
        # Every claim variant with one fast algorithm; the others with ordinary claims only.
        for make_header in headers:
            for claims in variants if alg == "ES256" else variants[:2]:
                payloads = [json.dumps(claims).encode()]
                if claims.get("exp") == now + 600:
                    payloads.append(json.dumps(claims).replace(str(now + 600), "1e400").encode())  # inf
                    payloads.append(json.dumps(claims).replace(str(now + 600), "NaN").encode())
                for payload in payloads:
                    for raw in encodings(*sign(alg, make_header(alg), payload)):
                        token = raw.decode()
                        for config in CONFIGS:
                            a, b = compare(token, config)
                            compared += 1
                            fast_accepts += a[0] == "ok"
                            if a != b:
                                print(f"DISAGREE on {token}\n  fast:  {a}\n  pyjwt: {b}", file=sys.stderr)
                                return 1
    print(f"parity: {compared} token checks agree with PyJWT ({fast_accepts} accepted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
