"""FastAPI: a dependency that decides the request, declared as a bearer scheme in OpenAPI.

    auth = Authcheck(app, "authcheck.yaml")     # or Authcheck(app, guard=guard)
    Caller = Annotated[Auth | None, Depends(auth.requires_auth())]            # the rules decide
    Writer = Annotated[Auth, Depends(auth.requires_auth(scopes=["write:orders"]))]  # rules not consulted

    @app.get("/orders/{order_id}")
    async def order(order_id: int, caller: Caller): ...

    @app.post("/orders")
    async def create(caller: Writer): ...

`Authcheck` registers the handler that answers a denial as /verify does (status, JSON
body, WWW-Authenticate, Retry-After). For the rules on every route instead, use
authcheck.starlette.AuthcheckMiddleware. Install with the `starlette` extra.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from typing import Annotated, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from authcheck.config.model import Config
from authcheck.library.guard import Guard, Outcome, Requirement
from authcheck.library.identity import Auth
from authcheck.library.server_request import asgi_request

__all__ = ["Authcheck", "AuthcheckDenied", "RequireAuth"]

# Declares the scheme in the OpenAPI document (and /docs' "Authorize"); authcheck reads the header itself.
bearer_scheme = HTTPBearer(
    bearerFormat="JWT",
    scheme_name="authcheck",
    description="An access token from one of the issuers in authcheck's config.",
    auto_error=False,
)


class AuthcheckDenied(HTTPException):
    """Raised by RequireAuth on a denial; Authcheck's handler answers it as /verify would."""

    def __init__(self, outcome: Outcome) -> None:
        status, headers, _ = outcome.answer()
        assert outcome.denial is not None
        kept = {name: value for name, value in headers if name not in ("content-length", "content-type")}
        super().__init__(status, outcome.denial.message, kept)
        self.outcome = outcome


class RequireAuth:
    """A dependency: `Depends(RequireAuth(guard, scopes=[...]))` gives the caller's Auth.

    Without scopes the config's rules decide this request (the result is None on an
    anonymous rule without a token); with `scopes` (every one) or `any_scopes` (at least
    one), a valid token holding them is needed and the rules are not consulted.
    """

    def __init__(
        self, guard: Guard, *, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None
    ) -> None:
        self.guard = guard
        self.requirement = Requirement.of(scopes, any_scopes)

    async def __call__(
        self, request: Request, bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(bearer_scheme)]
    ) -> Auth | None:
        outcome = await self.guard.check_async(*asgi_request(request.scope), self.requirement)
        if not outcome.allowed:
            raise AuthcheckDenied(outcome)
        request.state.auth = outcome.auth
        return outcome.auth


class Authcheck:
    """One Guard for a FastAPI app, and the handler that answers its denials."""

    def __init__(
        self,
        app: FastAPI,
        config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
        *,
        guard: Guard | None = None,
    ) -> None:
        if guard is None:
            if config is None:
                raise ValueError("Authcheck needs config= (a file path or a mapping) or guard=")
            guard = Guard.of(config)
        self.guard = guard
        app.add_exception_handler(AuthcheckDenied, _answer_denial)

    def requires_auth(
        self, *, scopes: Iterable[str] | None = None, any_scopes: Iterable[str] | None = None
    ) -> RequireAuth:
        return RequireAuth(self.guard, scopes=scopes, any_scopes=any_scopes)


async def _answer_denial(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, AuthcheckDenied)
    status, headers, body = exc.outcome.answer()
    return Response(body, status, dict(headers))
