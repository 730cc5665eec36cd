"""The framework adapters' own behaviour, in-process (the frameworks' own test clients
drive real Flask and Starlette apps; keys come from a real JWKS server)."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from flask import Flask, g
from starlette.applications import Starlette
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket
from support.configs import service_config
from support.jwks_server import JwksServer
from support.tokens import SigningKey, mint

from authcheck import Guard
from authcheck.flask import Authcheck
from authcheck.starlette import AuthcheckMiddleware


def test_flask_app_factory_reads_its_config_and_runs_async_views(jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    auth = Authcheck()  # at import, before any app exists

    @auth.requires_auth(any_scopes=["read:orders", "admin"])
    async def view() -> dict[str, object]:
        return {"subject": g.auth.subject}

    app = Flask(__name__)
    app.config["AUTHCHECK_CONFIG"] = service_config(jwks.issuer)
    app.add_url_rule("/anything", view_func=view, methods=["POST"])
    auth.init_app(app)
    client = app.test_client()
    token = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    assert client.post("/anything", headers={"Authorization": f"Bearer {token}"}).json == {"subject": "user-1"}
    denied = client.post("/anything")
    assert denied.status_code == 401 and denied.json["code"] == "auth.authorization_header_missing"
    assert denied.headers["Content-Type"] == "application/json"
    assert denied.headers["Cache-Control"] == "no-store"


def test_flask_without_a_config_says_how_to_give_one() -> None:
    with pytest.raises(ValueError, match="AUTHCHECK_CONFIG"):
        Authcheck(Flask(__name__))


def test_starlette_middleware_takes_config_or_guard(jwks: JwksServer) -> None:
    with Guard.from_mapping(service_config(jwks.issuer)) as guard, pytest.raises(ValueError, match="not both"):
        AuthcheckMiddleware(Starlette(), config="authcheck.yaml", guard=guard)
    with pytest.raises(ValueError, match="config="):
        AuthcheckMiddleware(Starlette())


def websocket_handshake(app: Any, authorization: str | None) -> list[dict[str, Any]]:
    """Drive one WebSocket connection through the ASGI app as a server would; what the app sent."""
    headers = [(b"host", b"app.example.com")]
    if authorization:
        headers.append((b"authorization", authorization.encode()))
    scope = {
        "type": "websocket",
        "path": "/me/socket",
        "raw_path": b"/me/socket",
        "headers": headers,
        "query_string": b"",
    }
    incoming = [{"type": "websocket.connect"}]
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return incoming.pop(0) if incoming else {"type": "websocket.disconnect", "code": 1000}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(app(scope, receive, send))
    return sent


def test_a_denied_websocket_handshake_is_closed_before_accept(jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    async def echo(websocket: WebSocket) -> None:
        await websocket.accept()
        await websocket.send_text(websocket.state.auth.subject)
        await websocket.close()

    app = Starlette(routes=[WebSocketRoute("/me/socket", echo)])
    with Guard.from_mapping(service_config(jwks.issuer)) as guard:
        guarded = AuthcheckMiddleware(app, guard=guard)
        assert websocket_handshake(guarded, None) == [{"type": "websocket.close", "code": 1008}]
        token = mint(keys["ES384"], jwks.issuer)
        sent = websocket_handshake(guarded, f"Bearer {token}")
        assert [m["type"] for m in sent] == ["websocket.accept", "websocket.send", "websocket.close"]
        assert sent[1]["text"] == "user-1"


def test_django_decorator_wraps_sync_and_async_views(
    jwks: JwksServer, keys: dict[str, SigningKey], monkeypatch: pytest.MonkeyPatch
) -> None:
    import django
    from django.conf import settings
    from django.http import HttpRequest, JsonResponse
    from django.test import AsyncRequestFactory, RequestFactory

    from authcheck import django as authcheck_django

    if not settings.configured:
        settings.configure(ALLOWED_HOSTS=["*"], AUTHCHECK={"config": service_config(jwks.issuer)})
        django.setup()
    with Guard.from_mapping(service_config(jwks.issuer)) as guard:
        monkeypatch.setattr(authcheck_django, "_guard", guard)

        @authcheck_django.requires_auth(any_scopes=["admin"])
        def sync_view(request: HttpRequest) -> JsonResponse:
            return JsonResponse({"subject": request.auth.subject})  # type: ignore[attr-defined]

        @authcheck_django.requires_auth(any_scopes=["admin"])
        async def async_view(request: HttpRequest) -> JsonResponse:
            return JsonResponse({"subject": request.auth.subject})  # type: ignore[attr-defined]

        admin = f"Bearer {mint(keys['ES384'], jwks.issuer, scope='admin')}"
        reader = f"Bearer {mint(keys['ES384'], jwks.issuer, scope='read:orders')}"
        allowed = sync_view(RequestFactory().post("/anything", headers={"Authorization": admin}))
        assert allowed.status_code == 200 and allowed.content == b'{"subject": "user-1"}'
        denied = sync_view(RequestFactory().post("/anything", headers={"Authorization": reader}))
        assert denied.status_code == 403 and b'"code": "auth.insufficient_scope"' in denied.content
        assert 'scope="admin"' in denied["WWW-Authenticate"]

        allowed = asyncio.run(async_view(AsyncRequestFactory().post("/anything", headers={"Authorization": admin})))
        assert allowed.status_code == 200 and allowed.content == b'{"subject": "user-1"}'
        missing = asyncio.run(async_view(AsyncRequestFactory().post("/anything")))
        assert missing.status_code == 401 and missing["Content-Type"] == "application/json"
