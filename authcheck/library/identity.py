"""`Auth`: who the request's token speaks for, as a web app's view sees it."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from authcheck.core.bearer import extract_bearer
from authcheck.core.identity import Identity
from authcheck.core.tokens import peek


class Auth:
    """The caller of an allowed request: `subject`, `issuer`, `scopes`, `client_id`,
    `organization_id`, `audiences` and `claims` (every claim of the verified token).

    The verified-token cache keeps only what the rules read (so a large cache stays
    small); `claims` is read from the token itself when first asked for. That is sound:
    the token's signature covers exactly these claims, and it was verified for this request.
    """

    __slots__ = ("_authorization", "_claims", "audiences", "client_id", "issuer", "scopes", "subject")

    def __init__(self, identity: Identity, authorization: Sequence[str]) -> None:
        """`authorization`: the Authorization header values the identity was read from."""
        self.subject = identity.subject
        self.issuer = identity.issuer
        self.scopes = identity.scopes
        self.client_id = identity.client_id
        self.audiences = identity.audiences
        self._authorization = authorization
        self._claims: dict[str, Any] | None = None

    @property
    def claims(self) -> dict[str, Any]:
        if self._claims is None:
            self._claims = peek(extract_bearer(self._authorization)).claims
        return self._claims

    @property
    def organization_id(self) -> str | None:
        value = self.claims.get("organization_id")
        return value if isinstance(value, str) else None

    def __repr__(self) -> str:  # never the token
        scopes = " ".join(sorted(self.scopes))
        return (
            f"Auth(subject={self.subject!r}, issuer={self.issuer!r}, client_id={self.client_id!r}, scopes={scopes!r})"
        )
