"""extract_bearer: the token out of the Authorization header values, or the Denial the SPEC names.

Pure unit tests: the header values are passed in as the service would collect them.
"""

from __future__ import annotations

import pytest

from authcheck.core.bearer import MAX_TOKEN_BYTES, extract_bearer
from authcheck.core.errors import (
    AuthorizationMissing,
    Denial,
    InvalidToken,
    TokenFormatInvalid,
    TokenTypeNotSupported,
)

JWT = "eyJhbGciOiJFUzM4NCJ9.eyJzdWIiOiJ1c2VyLTEifQ.c2lnbmF0dXJl"

ACCEPTED = [
    pytest.param(["Bearer " + JWT], JWT, id="bearer-token-returned"),
    pytest.param(["bearer " + JWT], JWT, id="lower-case-scheme-accepted"),
    pytest.param(["BEARER " + JWT], JWT, id="upper-case-scheme-accepted"),
    pytest.param(["bEaReR " + JWT], JWT, id="mixed-case-scheme-accepted"),
    pytest.param(["Bearer  " + JWT], JWT, id="two-spaces-accepted-rfc6750-1*SP"),
    pytest.param(["Bearer       " + JWT], JWT, id="many-spaces-accepted-rfc6750-1*SP"),
    pytest.param(["  Bearer " + JWT + "  "], JWT, id="surrounding-spaces-ignored"),
    pytest.param(["Bearer a-b_c~d+e/f=="], "a-b_c~d+e/f==", id="b64token-characters-kept"),
    pytest.param(["Bearer " + "a" * MAX_TOKEN_BYTES], "a" * MAX_TOKEN_BYTES, id="token-of-exactly-8KiB-accepted"),
]


@pytest.mark.parametrize(("values", "token"), ACCEPTED)
def test_returns_the_token(values: list[str], token: str) -> None:
    assert extract_bearer(values) == token


INVALID_FORMAT = 'Bearer realm="authcheck", error="invalid_token"'

REFUSED = [
    pytest.param(
        [],
        AuthorizationMissing,
        401,
        "auth.authorization_header_missing",
        "authorization_header_missing",
        'Bearer realm="authcheck"',
        id="missing-header-401-no-error-attribute",
    ),
    pytest.param(
        (),
        AuthorizationMissing,
        401,
        "auth.authorization_header_missing",
        "authorization_header_missing",
        'Bearer realm="authcheck"',
        id="empty-tuple-is-missing-401",
    ),
    pytest.param(
        ["Bearer " + JWT, "Bearer " + JWT],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_header_repeated",
        INVALID_FORMAT,
        id="repeated-identical-headers-401",
    ),
    pytest.param(
        ["Bearer a", "Basic b"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_header_repeated",
        INVALID_FORMAT,
        id="repeated-different-headers-401",
    ),
    pytest.param(
        ["Bearer a, Bearer b"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_header_repeated",
        INVALID_FORMAT,
        id="envoy-comma-joined-duplicates-401",
    ),
    pytest.param(
        ["Bearer a,b"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_header_repeated",
        INVALID_FORMAT,
        id="comma-inside-token-401",
    ),
    pytest.param(
        ["Basic x, Bearer " + JWT],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_header_repeated",
        INVALID_FORMAT,
        id="comma-joined-basic-then-bearer-401",
    ),
    pytest.param(
        ["Bearer"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="scheme-only-401",
    ),
    pytest.param(
        ["Bearer   "],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="scheme-and-spaces-only-401",
    ),
    pytest.param(
        [""],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="empty-value-401",
    ),
    pytest.param(
        [JWT],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="token-without-scheme-401",
    ),
    pytest.param(
        ["Bearer a b"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="three-parts-401",
    ),
    pytest.param(
        ["Bearer " + JWT + " extra"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="trailing-word-401",
    ),
    pytest.param(
        ["Bearer\t" + JWT],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="tab-separator-401",
    ),
    pytest.param(
        ["Bearer " + JWT + "\t"],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="trailing-tab-401",
    ),
    pytest.param(
        ["Bearer \t" + JWT],
        TokenFormatInvalid,
        401,
        "auth.authorization_token_invalid_format",
        "authorization_token_invalid_format",
        INVALID_FORMAT,
        id="space-then-tab-401",
    ),
    pytest.param(
        ["Basic dXNlcjpwYXNz"],
        TokenTypeNotSupported,
        401,
        "auth.authorization_token_type_not_supported",
        "authorization_token_type_not_supported",
        INVALID_FORMAT,
        id="basic-scheme-401",
    ),
    pytest.param(
        ["DPoP " + JWT],
        TokenTypeNotSupported,
        401,
        "auth.authorization_token_type_not_supported",
        "authorization_token_type_not_supported",
        INVALID_FORMAT,
        id="dpop-scheme-401",
    ),
    pytest.param(
        ["Token " + JWT],
        TokenTypeNotSupported,
        401,
        "auth.authorization_token_type_not_supported",
        "authorization_token_type_not_supported",
        INVALID_FORMAT,
        id="token-scheme-401",
    ),
    pytest.param(
        ["Bearerx " + JWT],
        TokenTypeNotSupported,
        401,
        "auth.authorization_token_type_not_supported",
        "authorization_token_type_not_supported",
        INVALID_FORMAT,
        id="bearer-prefixed-scheme-401",
    ),
    pytest.param(
        ["Bearer " + "a" * (MAX_TOKEN_BYTES + 1)],
        InvalidToken,
        401,
        "invalid_token",
        "token_too_large",
        'Bearer realm="authcheck", error="invalid_token", error_description="The token is larger than 8192 bytes."',
        id="oversized-token-401-invalid-token",
    ),
    pytest.param(
        ["bearer   " + "a" * (64 * 1024)],
        InvalidToken,
        401,
        "invalid_token",
        "token_too_large",
        'Bearer realm="authcheck", error="invalid_token", error_description="The token is larger than 8192 bytes."',
        id="64KiB-token-401-invalid-token",
    ),
]


@pytest.mark.parametrize(("values", "denial", "status", "code", "reason", "challenge"), REFUSED)
def test_refuses(values: list[str], denial: type[Denial], status: int, code: str, reason: str, challenge: str) -> None:
    with pytest.raises(Denial) as caught:
        extract_bearer(values)
    exc = caught.value
    assert type(exc) is denial
    assert exc.status == status
    assert exc.code == code
    assert exc.reason == reason
    assert exc.www_authenticate() == challenge
    assert exc.extra_headers() == [("WWW-Authenticate", challenge)]


def test_size_limit_is_8_KiB() -> None:
    assert MAX_TOKEN_BYTES == 8 * 1024
