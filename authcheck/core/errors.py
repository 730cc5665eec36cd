"""Every way a request can be refused, as exceptions that know their own answer.

    Denial                      any refusal; carries status, body code and log reason
    ├── AuthorizationMissing    401  auth.authorization_header_missing
    ├── TokenFormatInvalid      401  auth.authorization_token_invalid_format
    ├── TokenTypeNotSupported   401  auth.authorization_token_type_not_supported
    ├── InvalidToken            401  invalid_token (error_description says why)
    │   └── UnknownKeyId        401  kid not in the issuer's key set (the caller may refresh once)
    ├── InsufficientScope       403  auth.insufficient_scope
    │   ├── InsufficientClaims  403  auth.insufficient_claims (a rule's `claims` requirement)
    │   └── ClientNotAllowed    403  auth.client_not_allowed (the token's client is not in a rule's `clients`)
    ├── RouteDenied             403  auth.route_denied
    ├── RequestRejected         403  auth.request_rejected (ambiguous original request)
    ├── KeysUnavailable         503  auth.keys_unavailable (+ Retry-After): an outage, not the caller's fault
    └── DecisionFailed          503  auth.internal_error (+ Retry-After): a bug, logged; never a 500 or an allow

`reason` is a stable snake_case id for logs and metrics; `message` is for humans.
"""

from __future__ import annotations

REALM = 'Bearer realm="authcheck"'


def _quote(value: str) -> str:
    """An RFC 7230 quoted-string body: backslash-escape quote and backslash."""
    return value.replace("\\", "\\\\").replace('"', '\\"')


class Denial(Exception):
    status: int = 403
    code: str = "auth.denied"
    error: str = "forbidden"  # the JSON body's "error"
    reason: str = "denied"

    def __init__(self, message: str, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason

    def www_authenticate(self) -> str | None:
        return None

    def extra_headers(self) -> list[tuple[str, str]]:
        challenge = self.www_authenticate()
        return [("WWW-Authenticate", challenge)] if challenge else []


class AuthorizationMissing(Denial):
    status = 401
    code = "auth.authorization_header_missing"
    error = "unauthorized"
    reason = "authorization_header_missing"

    def __init__(self) -> None:
        super().__init__("Authorization header is missing.")

    def www_authenticate(self) -> str:
        return REALM


class _InvalidTokenChallenge(Denial):
    status = 401
    error = "invalid_token"

    def www_authenticate(self) -> str:
        return f'{REALM}, error="invalid_token"'


class TokenFormatInvalid(_InvalidTokenChallenge):
    code = "auth.authorization_token_invalid_format"
    reason = "authorization_token_invalid_format"


class TokenTypeNotSupported(_InvalidTokenChallenge):
    code = "auth.authorization_token_type_not_supported"
    reason = "authorization_token_type_not_supported"

    def __init__(self) -> None:
        super().__init__("Authorization scheme is not Bearer.")


class InvalidToken(_InvalidTokenChallenge):
    code = "invalid_token"
    reason = "token_invalid"

    def www_authenticate(self) -> str:
        return f'{REALM}, error="invalid_token", error_description="{_quote(self.message)}"'


class UnknownKeyId(InvalidToken):
    reason = "token_kid_unknown"
    issuer: str | None = None  # set by the authenticator: whose keys a refresh might complete


class InsufficientScope(Denial):
    status = 403
    code = "auth.insufficient_scope"
    error = "insufficient_scope"
    reason = "insufficient_scope"

    def __init__(self, message: str, required: tuple[str, ...], reason: str | None = None) -> None:
        super().__init__(message, reason)
        self.required = required

    def www_authenticate(self) -> str:
        challenge = f'{REALM}, error="insufficient_scope"'
        if self.required:
            challenge += f', scope="{_quote(" ".join(self.required))}"'
        return challenge + f', error_description="{_quote(self.message)}"'


class InsufficientClaims(InsufficientScope):
    code = "auth.insufficient_claims"
    reason = "insufficient_claims"

    def __init__(self, message: str) -> None:
        super().__init__(message, ())


class ClientNotAllowed(InsufficientScope):
    """RFC 6750 has no error for "wrong client"; insufficient_scope ("the request requires
    higher privileges than provided by the access token") is the one that fits: another
    token, for an allowed client, would pass."""

    code = "auth.client_not_allowed"
    reason = "client_not_allowed"

    def __init__(self, message: str) -> None:
        super().__init__(message, ())


class RouteDenied(Denial):
    status = 403
    code = "auth.route_denied"
    error = "forbidden"
    reason = "route_denied"


class RequestRejected(Denial):
    status = 403
    code = "auth.request_rejected"
    error = "forbidden"
    reason = "request_rejected"


class KeysUnavailable(Denial):
    status = 503
    code = "auth.keys_unavailable"
    error = "temporarily_unavailable"
    reason = "keys_unavailable"

    def __init__(self, message: str, retry_after: int) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def extra_headers(self) -> list[tuple[str, str]]:
        return [("Retry-After", str(self.retry_after))]


class DecisionFailed(KeysUnavailable):
    code = "auth.internal_error"
    error = "server_error"
    reason = "internal_error"

    def __init__(self) -> None:
        super().__init__("authcheck failed to decide; the error is logged.", 5)
