"""Verifying one JWT access token against one issuer's key set (pure, no I/O).

The unverified `iss` only *selects* the issuer; everything that decides trust
(signature, alg, aud, exp, nbf, iat) is then checked by PyJWT against that
issuer's configuration alone.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import jwt

from authcheck.config import IssuerConfig
from authcheck.errors import InvalidToken
from authcheck.keys import KeySet, SigningKey

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
        value = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, UnicodeDecodeError):
        raise InvalidToken("The token is not a well-formed JWT.", "token_malformed") from None
    if not isinstance(value, dict):
        raise InvalidToken("The token is not a well-formed JWT.", "token_malformed")
    return value


def verify(
    token: str, unverified: UnverifiedToken, issuer: IssuerConfig, keys: KeySet
) -> tuple[dict[str, Any], SigningKey]:
    """Return the token's verified claims and the key that signed it, or raise InvalidToken."""
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
    signing_key = keys.find(kid, alg)
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
    _check_claim_types(claims, issuer.scope_claim)
    return claims, signing_key


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
        raise InvalidToken(f"The token's {scope_claim} claim is neither a string nor a list of strings.",
                           "token_claim_type")


def scopes_of(claims: dict[str, Any], scope_claim: str) -> frozenset[str]:
    scopes = claims.get(scope_claim)
    if isinstance(scopes, str):
        return frozenset(scopes.split())
    return frozenset(scopes or ())
