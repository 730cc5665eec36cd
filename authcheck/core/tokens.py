"""Verifying one JWT access token against one issuer's key set (pure, no I/O).

The unverified `iss` only *selects* the issuer; everything that decides trust
(signature, alg, aud, exp, nbf, iat) is then checked against that issuer's
configuration alone.

PyJWT is the reference: an ordinary token takes the short road of
authcheck.core.fast_jws, anything unusual goes to `jwt.decode`. The dates (exp, nbf, iat)
are checked here, on both roads, against the caller's clock, in PyJWT's arithmetic, after
PyJWT's other claim checks.

The token's JSON is read once, by `peek`, within limits: no deeper than MAX_JSON_DEPTH
levels of arrays and objects, no larger than MAX_TOKEN_BYTES.
"""

from __future__ import annotations

import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

import jwt

from authcheck.config.model import IssuerConfig
from authcheck.core.bearer import MAX_TOKEN_BYTES
from authcheck.core.errors import InvalidToken
from authcheck.core.fast_jws import base64url_decode, verify_ordinary
from authcheck.core.keys import KeySet, SigningKey

# Header parameters that would ask us to fetch or trust key material chosen by the
# token itself, or to understand extensions we do not implement (RFC 7515 §4.1.11).
_FORBIDDEN_HEADERS = ("jku", "x5u", "jwk", "x5c", "crit")

_IAT_NOT_A_NUMBER = "The token's iat claim is not a number."
_MALFORMED = "The token is not a well-formed JWT."
_NOT_YET_VALID = "The token is not valid yet (nbf or iat is in the future)."
# Arrays and objects in the header or claims: real tokens nest a few levels (SPEC: allow at least 32).
MAX_JSON_DEPTH = 64
# A segment with no more brackets than the limit cannot nest too deep: only others are measured.
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"')  # a JSON string: brackets inside it do not nest
_BRACKET = re.compile(rb"[\[\]{}]")

_PYJWT_ERRORS: tuple[tuple[type[Exception], str, str], ...] = (
    (jwt.ExpiredSignatureError, "The token has expired.", "token_expired"),
    (jwt.ImmatureSignatureError, _NOT_YET_VALID, "token_not_yet_valid"),
    (jwt.InvalidAudienceError, "The token's audience is not accepted.", "token_audience_invalid"),
    (jwt.InvalidIssuerError, "The token's issuer does not match.", "token_issuer_invalid"),
    (jwt.InvalidSignatureError, "The token's signature does not verify.", "token_signature_invalid"),
    (jwt.InvalidIssuedAtError, _IAT_NOT_A_NUMBER, "token_claim_type"),
    (jwt.exceptions.InvalidSubjectError, "The token's sub claim is not a string.", "token_claim_type"),
    (jwt.exceptions.InvalidJTIError, "The token's jti claim is not a string.", "token_claim_type"),
    (jwt.DecodeError, _MALFORMED, "token_malformed"),
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
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"The token is larger than {MAX_TOKEN_BYTES} bytes.", "token_too_large")
    parts = token.split(".")
    if len(parts) == 5:
        raise InvalidToken("Encrypted tokens (JWE) are not supported.", "token_encrypted")
    if len(parts) != 3:
        raise InvalidToken("The token is not a JWT (three dot-separated parts).", "token_malformed")
    header, claims = _json_part(parts[0]), _json_part(parts[1])
    return UnverifiedToken(header, claims)


def _json_part(segment: str) -> dict[str, Any]:
    try:
        data = base64url_decode(segment)
        if data.count(b"[") + data.count(b"{") > MAX_JSON_DEPTH:
            _check_depth(data)
        value = json.loads(data)
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidToken(_MALFORMED, "token_malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken(_MALFORMED, "token_malformed")
    return value


def _check_depth(data: bytes) -> None:
    """Refuse JSON nested deeper than MAX_JSON_DEPTH (brackets inside strings do not count)."""
    depth = 0
    for bracket in _BRACKET.findall(_STRING.sub(b"", data)):
        if bracket in b"[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise InvalidToken(
                    f"The token's JSON nests deeper than {MAX_JSON_DEPTH} levels of arrays and objects.",
                    "token_too_deep",
                )
        else:
            depth -= 1


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
    token: str, unverified: UnverifiedToken, issuer: IssuerConfig, signing_key: SigningKey, now: float
) -> dict[str, Any]:
    """The signature and the claims, for a token that passed `check_header` with this key."""
    claims = unverified.claims
    if not verify_ordinary(token, unverified.header, claims, issuer, signing_key):
        claims = verify_with_pyjwt(token, unverified.header["alg"], issuer, signing_key)
    check_dates(claims, now, issuer.leeway)
    _check_claim_types(claims, issuer.scope_claim)
    return claims


def verify_with_pyjwt(token: str, alg: str, issuer: IssuerConfig, signing_key: SigningKey) -> dict[str, Any]:
    """`jwt.decode`, every check but the dates (`check_dates` has the caller's clock)."""
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            signing_key.key,
            algorithms=[alg],
            audience=issuer.audiences,
            issuer=issuer.issuer,
            options={"require": ["exp", "iss", "aud"], "verify_exp": False, "verify_nbf": False, "verify_iat": False},
        )
    except jwt.MissingRequiredClaimError as exc:
        raise InvalidToken(f"The token has no {exc.claim} claim.", "token_claim_missing") from None
    except jwt.InvalidTokenError as exc:
        raise _describe(exc) from None
    return claims


def check_dates(claims: dict[str, Any], now: float, leeway: float) -> None:
    """iat, nbf and exp as PyJWT checks them (its order, int() of each, the same refusals), at `now`."""
    if "iat" in claims:
        try:
            iat = int(claims["iat"])
        except (ValueError, TypeError, OverflowError):
            raise InvalidToken(_IAT_NOT_A_NUMBER, "token_claim_type") from None
        if iat > now + leeway:
            raise InvalidToken(_NOT_YET_VALID, "token_not_yet_valid")
    if "nbf" in claims:
        try:
            nbf = int(claims["nbf"])
        except (ValueError, TypeError, OverflowError):
            raise InvalidToken(_MALFORMED, "token_malformed") from None
        if nbf > now + leeway:
            raise InvalidToken(_NOT_YET_VALID, "token_not_yet_valid")
    try:
        exp = int(claims["exp"])
    except (ValueError, TypeError, OverflowError):
        raise InvalidToken(_MALFORMED, "token_malformed") from None
    if exp <= now - leeway:
        raise InvalidToken("The token has expired.", "token_expired")


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
