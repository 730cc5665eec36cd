"""The baselines: bare apps on the server stack authcheck runs on, one per yardstick.

Same uvicorn options as `authcheck serve` (authcheck.cli.main.SERVER_OPTIONS: uvloop,
httptools, no access log). Usage: python bench/bare_app.py --port P [--mode M] [--jwk FILE]

- `ok` (default): a bare Starlette app answering 200 with an empty body: what a repeated,
  cached token costs at best.
- `verify`: takes the bearer token and checks its ES384 signature with `cryptography` and a
  preloaded public key (the JWK in FILE), then answers 200 (401 if it does not verify): one
  signature check per request inside a busy server, the floor for distinct tokens.
- `deny`: answers every request as authcheck answers a garbage token: 401, the same headers
  and a body of the same size: the floor for refusals.
"""

from __future__ import annotations

import argparse
import base64
from pathlib import Path

import uvicorn
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from jwt.algorithms import ECAlgorithm
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authcheck.cli.main import SERVER_OPTIONS
from authcheck.core.answers import denial_answer
from authcheck.core.errors import InvalidToken


def _b64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def ok_app() -> Starlette:
    async def ok(_: Request) -> Response:
        return Response()  # 200, empty body

    return Starlette(routes=[Route("/verify", ok, methods=["GET", "POST"]), Route("/{path:path}", ok)])


def verify_app(jwk_file: Path) -> Starlette:
    public_key = ECAlgorithm.from_jwk(jwk_file.read_text())
    assert isinstance(public_key, ec.EllipticCurvePublicKey)

    async def verify(request: Request) -> Response:
        token = request.headers.get("authorization", "")[7:]
        signing_input, _, signature = token.rpartition(".")
        raw = _b64(signature)
        half = len(raw) // 2
        der = encode_dss_signature(int.from_bytes(raw[:half], "big"), int.from_bytes(raw[half:], "big"))
        try:
            public_key.verify(der, signing_input.encode(), ec.ECDSA(hashes.SHA384()))
        except InvalidSignature:
            return Response(status_code=401)
        return Response()

    return Starlette(routes=[Route("/verify", verify, methods=["GET", "POST"])])


def deny_app() -> Starlette:
    # authcheck's answer to a garbage token ("not a JWT"): status, headers and body size.
    status, headers, body = denial_answer(InvalidToken("The token is not a well-formed JWT.", "token_malformed"), False)
    response_headers = {name.decode(): value.decode("latin-1") for name, value in headers if name != b"content-length"}

    async def deny(_: Request) -> Response:
        return Response(body, status_code=status, headers=response_headers)

    return Starlette(routes=[Route("/verify", deny, methods=["GET", "POST"])])


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--mode", choices=["ok", "verify", "deny"], default="ok")
    parser.add_argument("--jwk", type=Path, help="the public JWK the verify mode checks signatures with")
    args = parser.parse_args()
    app = {"ok": ok_app, "deny": deny_app}[args.mode]() if args.mode != "verify" else verify_app(args.jwk)
    uvicorn.run(app, host="127.0.0.1", port=args.port, **SERVER_OPTIONS)
