"""Taking the bearer token out of the Authorization header (RFC 6750 §2.1, RFC 7235)."""

from __future__ import annotations

from collections.abc import Sequence

from authcheck.core.errors import (
    AuthorizationMissing,
    InvalidToken,
    TokenFormatInvalid,
    TokenTypeNotSupported,
)

MAX_TOKEN_BYTES = 8 * 1024


def extract_bearer(authorization: Sequence[str]) -> str:
    """Return the token from the Authorization header values, or raise a Denial.

    The scheme is case-insensitive and one or more spaces may follow it. Two headers,
    or one comma-joined value (Envoy joins duplicates), are ambiguous: refused.
    """
    if not authorization:
        raise AuthorizationMissing()
    if len(authorization) > 1:
        raise TokenFormatInvalid("More than one Authorization header.", "authorization_header_repeated")
    value = authorization[0]
    if "," in value:
        raise TokenFormatInvalid(
            "Authorization header holds more than one credential.", "authorization_header_repeated"
        )
    scheme, _, token = value.strip(" ").partition(" ")
    token = token.lstrip(" ")
    if not scheme or not token or " " in token or "\t" in value:
        raise TokenFormatInvalid("Authorization header is not `Bearer <token>`.")
    if scheme.lower() != "bearer":
        raise TokenTypeNotSupported()
    if len(token) > MAX_TOKEN_BYTES:
        raise InvalidToken(f"The token is larger than {MAX_TOKEN_BYTES} bytes.", "token_too_large")
    return token
