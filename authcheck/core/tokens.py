"""Verifying one JWT access token against one issuer's key set (pure, no I/O).

The unverified `iss` only *selects* the issuer; everything that decides trust
(signature, alg, aud, exp, nbf, iat) is then checked against that issuer's
configuration alone.

PyJWT is the reference. Its `decode` re-parses the token and checks its base64 one
character at a time in Python, which costs as much as an RS256 signature check, so an
ordinary token takes a shorter road (`_verify_ordinary`) with PyJWT's own algorithm
objects: it accepts a token only when every check PyJWT would make passes, and hands
anything unusual to `jwt.decode`, so every refusal still carries PyJWT's reason.
"""

from __future__ import annotations

import binascii
import json
import re
import time
from dataclasses import dataclass
from typing import Any

import jwt

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import InvalidToken
from authcheck.core.keys import KeySet, SigningKey

# Header parameters that would ask us to fetch or trust key material chosen by the
# token itself, or to understand extensions we do not implement (RFC 7515 §4.1.11).
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")

_PYJWT_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired.", "token_expired"),
    (jwt.ImmatureSignatureError, "The token is not valid yet (nbf or iat is in the future).", "token_not_yet_valid"),
    (jwt.InvalidAudienceError, "The token's audience is not accepted.", "token_audience_invalid"),
    (jwt.InvalidIssuerError, "The token's issuer does not match.", "token_issuer_invalid"),
    (jwt.InvalidSignatureError, "The token's signature does not verify.", "token_signature_invalid"),
    (jwt.InvalidIssuedAtError, "The token's iat claim is not a number.", "token_claim_type"),
    (jwt.exceptions.InvalidSubjectError, "The token's sub claim is not a string.", "token_claim_type"),
    (jwt.exceptions.InvalidJTIError, "The token's jti claim is not a string.", "token_claim_type"),
    (jwt.DecodeError, "The token is not a well-formed JWT.", "token_malformed"),
)


@dataclass(frozen=True, slots=True)
class UnverifiedToken:
    """What a token says about itself before any check: only used to pick issuer and key."""

    header: dict[str, Any]
    claims: dict[str, Any]

    @property
    def issuer(self) -> str:
        iss = self.claims.get("iss")
        if not isinstance(iss, str):
            raise InvalidToken("The token has no iss claim.", "token_issuer_missing")
        return iss


def peek(token: str) -> UnverifiedToken:
    """Split a JWS compact token and read its header and claims without trusting them."""
    parts = token.split(".")
    if len(parts) == 5:
        raise InvalidToken("Encrypted tokens (JWE) are not supported.", "token_encrypted")
    if len(parts) != 3:
        raise InvalidToken("The token is not a JWT (three dot-separated parts).", "token_malformed")
    header, claims = _json_part(parts[0]), _json_part(parts[1])
    return UnverifiedToken(header, claims)


def _json_part(segment: str) -> dict[str, Any]:
    try:
        value = json.loads(_base64url_decode(segment))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidToken("The token is not a well-formed JWT.", "token_malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("The token is not a well-formed JWT.", "token_malformed")
    return value


_URLSAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")


def _base64url_decode(segment: str) -> bytes:
    """base64.urlsafe_b64decode(segment + padding), without its layers: same bytes, same errors."""
    return binascii.a2b_base64(segment.encode("ascii").translate(_URLSAFE_TO_STANDARD) + b"=" * (-len(segment) % 4))


def verify(
    token: str, unverified: UnverifiedToken, issuer: IssuerConfig, keys: KeySet
) -> tuple[dict[str, Any], SigningKey]:
    """Return the token's verified claims and the key that signed it, or raise InvalidToken."""
    signing_key = check_header(unverified, issuer, keys)
    return verify_signed(token, unverified, issuer, signing_key), signing_key


def check_header(unverified: UnverifiedToken, issuer: IssuerConfig, keys: KeySet) -> SigningKey:
    """Every check that comes before the signature (cheap: no cryptography); the key to verify with."""
    header = unverified.header
    alg = header.get("alg")
    if not isinstance(alg, str) or alg not in issuer.algorithms:
        raise InvalidToken("The token's algorithm is not allowed.", "token_alg_not_allowed")
    for name in _FORBIDDEN_HEADERS:
        if name in header:
            raise InvalidToken(f"The token carries a {name} header, which is not accepted.", "token_header_forbidden")
    if issuer.token_type is not None and not _typ_matches(header.get("typ"), issuer.token_type):
        raise InvalidToken(f"The token's typ is not {issuer.token_type}.", "token_type_invalid")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise InvalidToken("The token's kid is not a string.", "token_malformed")
    _check_numeric_dates(unverified.claims)
    return keys.find(kid, alg)


def verify_signed(
    token: str, unverified: UnverifiedToken, issuer: IssuerConfig, signing_key: SigningKey
) -> dict[str, Any]:
    """The signature and the claims, for a token that passed `check_header` with this key."""
    claims = _verify_ordinary(token, unverified, issuer, signing_key)
    if claims is None:
        claims = _verify_with_pyjwt(token, unverified.header["alg"], issuer, signing_key)
    _check_claim_types(claims, issuer.scope_claim)
    return claims


def _verify_with_pyjwt(token: str, alg: str, issuer: IssuerConfig, signing_key: SigningKey) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=[alg],
            audience=issuer.audiences,
            issuer=issuer.issuer,
            leeway=issuer.leeway,
            options={"require": ["exp", "iss", "aud"]},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token has no {exc.claim} claim.", "token_claim_missing") from None
    except jwt.InvalidTokenError as exc:
        raise _describe(exc) from None
    return claims


# An unpadded base64url segment: what every issuer writes. Anything else goes to PyJWT.
_BASE64URL = re.compile("[A-Za-z0-9_-]*").fullmatch
# Last characters whose unused low bits are zero, by segment length % 4: PyJWT refuses
# a segment that does not re-encode to itself, which is one that ends otherwise.
_CLEAN_LAST = {2: frozenset("AQgw"), 3: frozenset("AEIMQUYcgkosw048")}
_REQUIRED = ("exp", "iss", "aud")


def _canonical_base64url(segment: str) -> bool:
    """True when PyJWT reads the segment as base64url without complaint (and unpadded)."""
    rest = len(segment) % 4
    if rest == 1 or _BASE64URL(segment) is None:
        return False
    return rest == 0 or segment[-1] in _CLEAN_LAST[rest]


def _verify_ordinary(
    token: str, unverified: UnverifiedToken, issuer: IssuerConfig, signing_key: SigningKey
) -> dict[str, Any] | None:
    """The claims of a valid, ordinary token; None when PyJWT must decide (to name the refusal).

    Mirrors `jwt.decode(..., algorithms=[alg], audience=..., issuer=..., leeway=...,
    options={"require": ["exp", "iss", "aud"]})`: same base64 rules, same algorithm object
    and key preparation, same claim checks in the same arithmetic. The header and claims
    are peek's: the same bytes through the same json.loads as PyJWT would read them.
    bench/parity.py compares the two roads over a corpus of odd tokens.
    """
    header, claims = unverified.header, unverified.claims
    if "b64" in header:
        return None
    header_segment, payload_segment, signature_segment = token.split(".")
    if not (
        _canonical_base64url(header_segment)
        and _canonical_base64url(payload_segment)
        and _canonical_base64url(signature_segment)
    ):
        return None
    try:
        algorithm = jwt.get_algorithm_by_name(header["alg"])
        key = algorithm.prepare_key(signing_key.key)
        if algorithm.check_key_length(key) is not None:
            return None  # PyJWT warns about short keys: let it
        signing_input = token[: len(header_segment) + 1 + len(payload_segment)].encode()
        valid = algorithm.verify(signing_input, key, _base64url_decode(signature_segment))
    except Exception:  # whatever PyJWT would make of it, it makes of it below
        return None
    if not valid:
        raise InvalidToken("The token's signature does not verify.", "token_signature_invalid")
    return claims if _ordinary_claims(claims, issuer) else None


def _ordinary_claims(claims: dict[str, Any], issuer: IssuerConfig) -> bool:
    """True when PyJWT's claim checks (exp, nbf, iat with leeway; iss; aud; sub; jti) all pass."""
    for name in _REQUIRED:
        if claims.get(name) is None:
            return False
    now = time.time()
    leeway = issuer.leeway
    try:
        # _check_numeric_dates has made these int or float; int() is PyJWT's own conversion.
        if "iat" in claims and int(claims["iat"]) > now + leeway:
            return False
        if "nbf" in claims and int(claims["nbf"]) > now + leeway:
            return False
        if int(claims["exp"]) <= now - leeway:
            return False
    except (TypeError, ValueError, OverflowError):
        return False
    if claims["iss"] != issuer.issuer or not isinstance(claims["iss"], str):
        return False
    aud = claims["aud"]
    if isinstance(aud, str):
        if aud not in issuer.audiences:
            return False
    elif not (
        isinstance(aud, list) and all(isinstance(a, str) for a in aud) and any(a in aud for a in issuer.audiences)
    ):
        return False
    if "sub" in claims and not isinstance(claims["sub"], str):
        return False
    return "jti" not in claims or isinstance(claims["jti"], str)


def _typ_matches(typ: object, expected: str) -> bool:
    """RFC 9068 §4: `at+jwt` may also be written `application/at+jwt`, any case."""
    if not isinstance(typ, str):
        return False
    typ = typ.lower().removeprefix("application/")
    return typ == expected.lower().removeprefix("application/")


def _describe(exc: jwt.InvalidTokenError) -> InvalidToken:
    for exc_type, message, reason in _PYJWT_ERRORS:
        if isinstance(exc, exc_type):
            return InvalidToken(message, reason)
    return InvalidToken("The token is not valid.", "token_invalid")


def _check_numeric_dates(claims: dict[str, Any]) -> None:
    """PyJWT reads "9999999999" as a NumericDate and calls "tomorrow" malformed: both are type errors."""
    for name in ("exp", "nbf", "iat"):
        value = claims.get(name)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise InvalidToken(f"The token's {name} claim is not a number.", "token_claim_type")


def _check_claim_types(claims: dict[str, Any], scope_claim: str) -> None:
    for name in ("sub", "client_id", "azp", "organization_id"):
        if name in claims and not isinstance(claims[name], str):
            raise InvalidToken(f"The token's {name} claim is not a string.", "token_claim_type")
    scopes = claims.get(scope_claim)
    if scopes is not None and not (
        isinstance(scopes, str) or (isinstance(scopes, list) and all(isinstance(s, str) for s in scopes))
    ):
        raise InvalidToken(
            f"The token's {scope_claim} claim is neither a string nor a list of strings.", "token_claim_type"
        )


def scopes_of(claims: dict[str, Any], scope_claim: str) -> frozenset[str]:
    scopes = claims.get(scope_claim)
    if isinstance(scopes, str):
        return frozenset(scopes.split())
    return frozenset(scopes or ())
