"""Every Denial as the answer the proxy gets: status, code, WWW-Authenticate, JSON body (pure).

Unit tests of authcheck/errors.py and authcheck/answers.py; the same answers over
HTTP, from a real server, are in test_service_answers.py.
"""

from __future__ import annotations

import json

import pytest

from authcheck.core.answers import allow_answer, denial_answer
from authcheck.core.errors import (
    AuthorizationMissing,
    ClientNotAllowed,
    DecisionFailed,
    Denial,
    InsufficientClaims,
    InsufficientScope,
    InvalidToken,
    KeysUnavailable,
    RequestRejected,
    RouteDenied,
    TokenFormatInvalid,
    TokenTypeNotSupported,
    UnknownKeyId,
)

REALM = 'Bearer realm="authcheck"'

# (denial, status, code, body "error", WWW-Authenticate or None)
DENIALS = [
    pytest.param(
        AuthorizationMissing(),
        401,
        "auth.authorization_header_missing",
        "unauthorized",
        REALM,
        id="missing-header-401-realm-only",
    ),
    pytest.param(
        TokenFormatInvalid("Authorization header is not `Bearer <token>`."),
        401,
        "auth.authorization_token_invalid_format",
        "invalid_token",
        f'{REALM}, error="invalid_token"',
        id="invalid-format-401-invalid-token",
    ),
    pytest.param(
        TokenTypeNotSupported(),
        401,
        "auth.authorization_token_type_not_supported",
        "invalid_token",
        f'{REALM}, error="invalid_token"',
        id="not-bearer-401-invalid-token",
    ),
    pytest.param(
        InvalidToken("The token has expired.", "token_expired"),
        401,
        "invalid_token",
        "invalid_token",
        f'{REALM}, error="invalid_token", error_description="The token has expired."',
        id="expired-token-401-with-description",
    ),
    pytest.param(
        UnknownKeyId("The token's signing key (kid) is not in the issuer's key set."),
        401,
        "invalid_token",
        "invalid_token",
        f'{REALM}, error="invalid_token", '
        "error_description=\"The token's signing key (kid) is not in the issuer's key set.\"",
        id="unknown-kid-401-with-description",
    ),
    pytest.param(
        InsufficientScope("The token lacks the scope read:orders.", ("read:orders",)),
        403,
        "auth.insufficient_scope",
        "insufficient_scope",
        f'{REALM}, error="insufficient_scope", scope="read:orders", '
        'error_description="The token lacks the scope read:orders."',
        id="insufficient-scope-403-names-scope",
    ),
    pytest.param(
        InsufficientScope("The token needs one of the scopes admin superuser.", ("admin", "superuser")),
        403,
        "auth.insufficient_scope",
        "insufficient_scope",
        f'{REALM}, error="insufficient_scope", scope="admin superuser", '
        'error_description="The token needs one of the scopes admin superuser."',
        id="insufficient-scope-403-space-joins-scopes",
    ),
    pytest.param(
        InsufficientClaims("The token's roles claim does not hold admin."),
        403,
        "auth.insufficient_claims",
        "insufficient_scope",
        f'{REALM}, error="insufficient_scope", error_description="The token\'s roles claim does not hold admin."',
        id="insufficient-claims-403-no-scope-attribute",
    ),
    pytest.param(
        ClientNotAllowed("The token's client is not allowed on this route."),
        403,
        "auth.client_not_allowed",
        "insufficient_scope",
        f'{REALM}, error="insufficient_scope", error_description="The token\'s client is not allowed on this route."',
        id="client-not-allowed-403-insufficient-scope-challenge",
    ),
    pytest.param(
        RouteDenied("No rule allows this request."),
        403,
        "auth.route_denied",
        "forbidden",
        None,
        id="route-denied-403-no-challenge",
    ),
    pytest.param(
        RequestRejected("Two headers name different original hosts.", "conflicting_host"),
        403,
        "auth.request_rejected",
        "forbidden",
        None,
        id="request-rejected-403-no-challenge",
    ),
    pytest.param(
        KeysUnavailable("The issuer's keys could not be fetched yet.", 5),
        503,
        "auth.keys_unavailable",
        "temporarily_unavailable",
        None,
        id="keys-unavailable-503-no-challenge",
    ),
    pytest.param(
        DecisionFailed(), 503, "auth.internal_error", "server_error", None, id="decision-failed-503-no-challenge"
    ),
]


@pytest.mark.parametrize(("denial", "status", "code", "error", "challenge"), DENIALS)
def test_denial_knows_its_answer(denial: Denial, status: int, code: str, error: str, challenge: str | None) -> None:
    assert (denial.status, denial.code, denial.error) == (status, code, error)
    assert denial.www_authenticate() == challenge


@pytest.mark.parametrize(("denial", "status", "code", "error", "challenge"), DENIALS)
def test_denial_answer_status_headers_and_json_body(
    denial: Denial, status: int, code: str, error: str, challenge: str | None
) -> None:
    answer_status, headers, body = denial_answer(denial, head=False)
    assert answer_status == status
    assert json.loads(body) == {"error": error, "code": code, "message": denial.message}
    named = dict(headers)
    assert len(named) == len(headers), "a header appears twice"
    assert all(name == name.lower() and isinstance(name, bytes) for name, _ in headers)
    assert named[b"content-type"] == b"application/json"
    assert named[b"content-length"] == str(len(body)).encode()
    assert named[b"cache-control"] == b"no-store"
    if challenge is None:
        assert b"www-authenticate" not in named
    else:
        assert named[b"www-authenticate"] == challenge.encode()


@pytest.mark.parametrize(("denial", "status", "code", "error", "challenge"), DENIALS)
def test_head_answer_has_no_body_but_keeps_headers(
    denial: Denial, status: int, code: str, error: str, challenge: str | None
) -> None:
    get_status, get_headers, get_body = denial_answer(denial, head=False)
    head_status, head_headers, head_body = denial_answer(denial, head=True)
    assert head_body == b""
    assert head_status == get_status == status
    # Same headers as GET, content-length included (RFC 9110 9.3.2).
    assert head_headers == get_headers
    assert dict(head_headers)[b"content-length"] == str(len(get_body)).encode()


def _concrete_denials(cls: type[Denial]) -> set[type[Denial]]:
    found = set()
    for sub in cls.__subclasses__():
        if sub.__module__ == "authcheck.core.errors" and not sub.__name__.startswith("_"):
            found.add(sub)
        found |= _concrete_denials(sub)
    return found


def test_every_denial_has_a_row_in_the_table() -> None:
    assert {type(param.values[0]) for param in DENIALS} == _concrete_denials(Denial)


RETRY_AFTER = [
    pytest.param(5, b"5", id="never-fetched-503-retry-after-5"),
    pytest.param(30, b"30", id="too-stale-503-retry-after-30"),
]


@pytest.mark.parametrize(("seconds", "header"), RETRY_AFTER)
def test_keys_unavailable_503_has_retry_after_and_no_sign_in_challenge(seconds: int, header: bytes) -> None:
    denial = KeysUnavailable("The issuer's keys are too old.", seconds)
    status, headers, _ = denial_answer(denial, head=False)
    named = dict(headers)
    assert status == 503
    assert named[b"retry-after"] == header
    assert b"www-authenticate" not in named


QUOTING = [
    pytest.param('say "hi"', 'say \\"hi\\"', id="double-quote-backslash-escaped"),
    pytest.param("a\\b", "a\\\\b", id="backslash-doubled"),
    pytest.param('\\"', '\\\\\\"', id="backslash-then-quote-both-escaped"),
    pytest.param("plain words.", "plain words.", id="plain-text-unchanged"),
]


@pytest.mark.parametrize(("message", "quoted"), QUOTING)
def test_invalid_token_error_description_is_a_quoted_string(message: str, quoted: str) -> None:
    challenge = InvalidToken(message, "token_invalid").www_authenticate()
    assert challenge == f'{REALM}, error="invalid_token", error_description="{quoted}"'


@pytest.mark.parametrize(("message", "quoted"), QUOTING)
def test_insufficient_scope_quotes_scope_and_description(message: str, quoted: str) -> None:
    challenge = InsufficientScope(message, (message,)).www_authenticate()
    assert challenge == f'{REALM}, error="insufficient_scope", scope="{quoted}", error_description="{quoted}"'


def test_insufficient_scope_without_required_scopes_has_no_scope_attribute() -> None:
    challenge = InsufficientScope("Not allowed.", ()).www_authenticate()
    assert challenge == f'{REALM}, error="insufficient_scope", error_description="Not allowed."'


def test_insufficient_scope_keeps_required_scopes() -> None:
    assert InsufficientScope("m", ("a", "b")).required == ("a", "b")


REASONS = [
    pytest.param(AuthorizationMissing(), "authorization_header_missing", id="missing-reason"),
    pytest.param(TokenFormatInvalid("m"), "authorization_token_invalid_format", id="format-default-reason"),
    pytest.param(
        TokenFormatInvalid("m", "authorization_header_repeated"),
        "authorization_header_repeated",
        id="format-explicit-reason",
    ),
    pytest.param(InvalidToken("m"), "token_invalid", id="invalid-token-default-reason"),
    pytest.param(UnknownKeyId("m"), "token_kid_unknown", id="unknown-kid-reason"),
    pytest.param(RouteDenied("m"), "route_denied", id="route-denied-reason"),
    pytest.param(RequestRejected("m", "conflicting_uri"), "conflicting_uri", id="request-rejected-explicit-reason"),
    pytest.param(KeysUnavailable("m", 5), "keys_unavailable", id="keys-unavailable-reason"),
    pytest.param(DecisionFailed(), "internal_error", id="decision-failed-reason"),
]


@pytest.mark.parametrize(("denial", "reason"), REASONS)
def test_reason_for_logs(denial: Denial, reason: str) -> None:
    assert denial.reason == reason


def test_unknown_kid_is_an_invalid_token() -> None:
    assert issubclass(UnknownKeyId, InvalidToken)


def test_json_body_escapes_control_and_non_ascii_characters() -> None:
    _, _, body = denial_answer(RouteDenied('No rule "x"\n allows é.'), head=False)
    assert json.loads(body)["message"] == 'No rule "x"\n allows é.'


def test_insufficient_scope_with_non_latin1_scope_still_answers_403() -> None:
    # `authcheck check` accepts any non-blank scope without whitespace, e.g. a
    # Japanese one; the 403 for it must not turn into an encoding crash (500).
    denial = InsufficientScope("The token lacks the scope 注文:読む.", ("注文:読む",))
    status, headers, body = denial_answer(denial, head=False)
    assert status == 403
    assert json.loads(body)["code"] == "auth.insufficient_scope"
    assert b"www-authenticate" in dict(headers)


ALLOW = [
    pytest.param((), id="anonymous-no-identity-headers"),
    pytest.param(((b"x-auth-subject", b"user-1"), (b"x-auth-scopes", b"a b")), id="identity-headers-passed-on"),
]


@pytest.mark.parametrize("identity_headers", ALLOW)
def test_allow_answer_is_exactly_200_with_empty_body(identity_headers: tuple[tuple[bytes, bytes], ...]) -> None:
    status, headers, body = allow_answer(identity_headers)
    assert status == 200
    assert body == b""
    named = dict(headers)
    assert named[b"content-length"] == b"0"
    assert named[b"cache-control"] == b"no-store"
    assert b"www-authenticate" not in named
    # The identity headers go out unchanged and in order, after the fixed ones.
    assert tuple(headers[len(headers) - len(identity_headers) :]) == identity_headers
