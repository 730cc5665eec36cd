"""The baseline: a bare Starlette app answering 200, on the server stack authcheck runs on.

Same uvicorn options as `authcheck serve` (authcheck.cli.SERVER_OPTIONS: uvloop,
httptools, no access log). Usage: python bench/bare_app.py --port P
"""

from __future__ import annotations

import argparse

import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from authcheck.cli.main import SERVER_OPTIONS


async def ok(_: Request) -> Response:
    return Response()  # 200, empty body


app = Starlette(routes=[Route("/verify", ok, methods=["GET", "POST"]), Route("/{path:path}", ok)])

if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    uvicorn.run(app, host="127.0.0.1", port=parser.parse_args().port, **SERVER_OPTIONS)
