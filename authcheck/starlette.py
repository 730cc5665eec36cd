"""Starlette (and FastAPI): `AuthcheckMiddleware`, the config's rules applied to every request.

    app.add_middleware(AuthcheckMiddleware, config="authcheck.yaml")   # or guard=Guard(...)

A pure ASGI middleware (no BaseHTTPMiddleware: no extra task or body buffering per
request). Allowed: the caller is `request.state.auth` (None on an anonymous rule
without a token). Denied: /verify's answer, and the app is not called. A WebSocket
handshake is decided as a GET; denied, it is closed before being accepted (the server
answers 403). Install with the `starlette` extra.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

from authcheck.config.model import Config
from authcheck.library.guard import Guard, Outcome
from authcheck.library.server_request import asgi_request

__all__ = ["AuthcheckMiddleware", "send_denial"]


class AuthcheckMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        config: str | os.PathLike[str] | Mapping[str, Any] | Config | None = None,
        *,
        guard: Guard | None = None,
    ) -> None:
        if guard is None:
            if config is None:
                raise ValueError("AuthcheckMiddleware needs config= (a file path or a mapping) or guard=")
            guard = Guard.of(config)
        elif config is not None:
            raise ValueError("AuthcheckMiddleware takes config= or guard=, not both")
        self.app = app
        self.guard = guard

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        outcome = await self.guard.check_async(*asgi_request(scope))
        if not outcome.allowed:
            if kind == "websocket":
                await send({"type": "websocket.close", "code": 1008})
            else:
                await send_denial(outcome, send)
            return
        scope.setdefault("state", {})["auth"] = outcome.auth
        await self.app(scope, receive, send)


async def send_denial(outcome: Outcome, send: Send) -> None:
    """/verify's answer to a denied request, sent as an ASGI response."""
    status, headers, body = outcome.answer()
    raw_headers = [(name.encode(), value.encode("latin-1")) for name, value in headers]
    await send({"type": "http.response.start", "status": status, "headers": raw_headers})
    await send({"type": "http.response.body", "body": body})
