"""The apps bench/library.py measures, chosen by BENCH_APP; each answers GET /orders/<id>
with a small JSON body and GET /healthz with 200. AUTHCHECK_CONFIG, BENCH_ISSUER and
BENCH_AUDIENCE configure them.

  flask-bare          Flask, no check
  flask-authcheck     Flask, @auth.requires_auth (authcheck.flask)
  flask-guide         Flask, the Logto guide's decorator: python-jose, the JWKS fetched per request
  starlette-bare      Starlette, no check
  starlette-authcheck Starlette behind AuthcheckMiddleware
"""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Any
from urllib.request import urlopen

KIND = os.environ["BENCH_APP"]


def _flask() -> Any:
    from flask import Flask, jsonify

    flask_app = Flask(__name__)
    decorate: Callable[[Any], Any] = lambda view: view  # noqa: E731
    if KIND == "flask-authcheck":
        from authcheck.flask import Authcheck

        decorate = Authcheck(flask_app, os.environ["AUTHCHECK_CONFIG"]).requires_auth
    elif KIND == "flask-guide":
        decorate = _guide_requires_auth

    @flask_app.get("/healthz")
    def healthz() -> str:
        return "ok"

    @flask_app.get("/orders/<int:order_id>")
    @decorate
    def order(order_id: int) -> Any:
        return jsonify(id=order_id, status="shipped")

    return flask_app


def _guide_requires_auth(view: Callable[..., Any]) -> Callable[..., Any]:
    """The guide's steps, as it writes them: read the Bearer token, fetch the JWKS, decode
    the token with python-jose (signature, issuer, audience, expiry), check the scope."""
    from flask import jsonify, request
    from jose import jwt

    issuer, audience = os.environ["BENCH_ISSUER"], os.environ["BENCH_AUDIENCE"]

    def refuse(status: int, code: str) -> Any:
        return jsonify(code=code), status

    @functools.wraps(view)
    def decorated(*args: Any, **kwargs: Any) -> Any:
        auth = request.headers.get("Authorization")
        if not auth:
            return refuse(401, "auth.authorization_header_missing")
        parts = auth.split()
        if len(parts) < 2:
            return refuse(401, "auth.authorization_token_invalid_format")
        if parts[0] != "Bearer":
            return refuse(401, "auth.authorization_token_type_not_supported")
        with urlopen(issuer + "/jwks") as answer:  # the guide fetches the key set on every request
            jwks = json.loads(answer.read())
        try:
            payload = jwt.decode(parts[1], jwks, algorithms=["ES384"], audience=audience, issuer=issuer)
        except Exception:
            return refuse(401, "invalid_token")
        if "read:orders" not in payload.get("scope", "").split():
            return refuse(403, "auth.insufficient_scope")
        return view(*args, **kwargs)

    return decorated


def _starlette() -> Any:
    from starlette.applications import Starlette
    from starlette.requests import Request
    from starlette.responses import JSONResponse, PlainTextResponse
    from starlette.routing import Route

    async def healthz(_: Request) -> PlainTextResponse:
        return PlainTextResponse("ok")

    async def order(request: Request) -> JSONResponse:
        return JSONResponse({"id": int(request.path_params["order_id"]), "status": "shipped"})

    starlette_app = Starlette(routes=[Route("/healthz", healthz), Route("/orders/{order_id:int}", order)])
    if KIND == "starlette-authcheck":
        from authcheck.starlette import AuthcheckMiddleware

        starlette_app.add_middleware(AuthcheckMiddleware, config=os.environ["AUTHCHECK_CONFIG"])
    return starlette_app


app = _flask() if KIND.startswith("flask") else _starlette()
