"""A JWKS document turned into the signing keys authcheck will trust (pure, no I/O)."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from jwt import PyJWK
from jwt.exceptions import PyJWTError

from authcheck.core.errors import InvalidToken, UnknownKeyId

# Which JWS algorithms each key type can verify (RFC 7518 §3, RFC 8037).
_RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
_ALGORITHMS_BY_CURVE = {
    ("EC", "P-256"): frozenset({"ES256"}),
    ("EC", "P-384"): frozenset({"ES384"}),
    ("EC", "P-521"): frozenset({"ES512"}),
    ("EC", "secp256k1"): frozenset({"ES256K"}),
    ("OKP", "Ed25519"): frozenset({"EdDSA"}),
    ("OKP", "Ed448"): frozenset({"EdDSA"}),
}
# The members that identify a public key (RFC 7638), for keys without a kid.
_THUMBPRINT_MEMBERS = {"RSA": ("e", "kty", "n"), "EC": ("crv", "kty", "x", "y"), "OKP": ("crv", "kty", "x")}


class JwksError(ValueError):
    """The document is not a usable JWKS; the message says why."""


@dataclass(frozen=True, slots=True)
class SigningKey:
    key_id: str  # the kid, or the RFC 7638 thumbprint when the key has none
    key: Any  # a `cryptography` public key
    algorithms: frozenset[str]


@dataclass(frozen=True, slots=True)
class KeySet:
    by_kid: dict[str, SigningKey]
    without_kid: tuple[SigningKey, ...]
    skipped: tuple[str, ...]  # why each unusable key was left out, for logs
    key_ids: frozenset[str]  # every key's id: a cached token stays valid while its key is here

    def find(self, kid: str | None, alg: str) -> SigningKey:
        """The key for a token's `kid` and `alg`; raises InvalidToken when there is none."""
        if kid is not None:
            key = self.by_kid.get(kid)
            if key is None:
                raise UnknownKeyId("The token's signing key (kid) is not in the issuer's key set.")
            if alg not in key.algorithms:
                raise InvalidToken("The token's algorithm does not match its signing key.", "token_alg_key_mismatch")
            return key
        # No kid: acceptable only when exactly one published key could have signed it;
        # trying every key would let one token cost many signature checks.
        candidates = [k for k in (*self.by_kid.values(), *self.without_kid) if alg in k.algorithms]
        if not candidates:
            raise InvalidToken("The token has no kid and no published key fits its algorithm.", "token_kid_missing")
        if len(candidates) > 1:
            raise InvalidToken("The token has no kid and the issuer publishes several keys.", "token_kid_missing")
        return candidates[0]


def parse_jwks(document: bytes | str, allowed_algorithms: tuple[str, ...]) -> KeySet:
    """Keep the asymmetric signature keys usable with the allowed algorithms."""
    try:
        data = json.loads(document)
    except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
        raise JwksError("the JWKS is not valid JSON") from None
    if not isinstance(data, dict) or not isinstance(data.get("keys"), list):
        raise JwksError('the JWKS is not an object with a "keys" list')
    allowed = frozenset(allowed_algorithms)
    by_kid: dict[str, SigningKey] = {}
    without_kid: list[SigningKey] = []
    skipped: list[str] = []
    for index, jwk in enumerate(data["keys"]):
        try:
            key = _signing_key(jwk, allowed)
        except JwksError as exc:
            skipped.append(f"keys[{index}]: {exc}")
            continue
        if "kid" in jwk:
            if key.key_id in by_kid:
                skipped.append(f"keys[{index}]: duplicate kid")
                continue
            by_kid[key.key_id] = key
        else:
            without_kid.append(key)
    if not by_kid and not without_kid:
        raise JwksError("the JWKS has no usable signing key (" + "; ".join(skipped or ["it is empty"]) + ")")
    key_ids = frozenset(by_kid) | {key.key_id for key in without_kid}
    return KeySet(by_kid, tuple(without_kid), tuple(skipped), key_ids)


def _signing_key(jwk: object, allowed: frozenset[str]) -> SigningKey:
    if not isinstance(jwk, dict):
        raise JwksError("not an object")
    for member in ("kty", "crv", "alg", "use", "kid"):
        if member in jwk and not isinstance(jwk[member], str):
            raise JwksError(f"its {member} is not a string")
    kty, crv = str(jwk.get("kty")), str(jwk.get("crv"))
    if kty == "RSA":
        algorithms = _RSA_ALGORITHMS
    elif (kty, crv) in _ALGORITHMS_BY_CURVE:
        algorithms = _ALGORITHMS_BY_CURVE[(kty, crv)]
    else:
        raise JwksError(f"key type {jwk.get('kty')!r} is not an asymmetric signature key")
    if jwk.get("use", "sig") != "sig":
        raise JwksError("use is not sig")
    if "alg" in jwk:
        if jwk["alg"] not in algorithms:
            raise JwksError("its alg does not fit its key type")
        algorithms = frozenset({jwk["alg"]})
    algorithms &= allowed
    if not algorithms:
        raise JwksError("none of its algorithms is allowed")
    if "d" in jwk:
        raise JwksError("it is a private key; a JWKS must publish public keys only")
    try:
        public_key = PyJWK(jwk, algorithm=next(iter(algorithms))).key
    except (PyJWTError, ValueError, TypeError) as exc:
        raise JwksError(f"unreadable key ({exc})") from None
    kid = jwk.get("kid")
    key_id = kid if kid is not None else _thumbprint(jwk)
    return SigningKey(key_id, public_key, algorithms)


def _thumbprint(jwk: dict[str, Any]) -> str:
    members = {name: jwk.get(name) for name in _THUMBPRINT_MEMBERS[jwk["kty"]]}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return "thumbprint:" + hashlib.sha256(canonical.encode()).hexdigest()
