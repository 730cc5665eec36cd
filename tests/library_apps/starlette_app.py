"""Every path and method answered behind AuthcheckMiddleware (for the parity test)."""

import os

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from authcheck.starlette import AuthcheckMiddleware

METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


async def everything(request: Request) -> JSONResponse:
    auth = request.state.auth
    return JSONResponse({"subject": auth.subject if auth else None})


app = Starlette(routes=[Route("/{anything:path}", everything, methods=METHODS)])
app.add_middleware(AuthcheckMiddleware, config=os.environ["AUTHCHECK_CONFIG"])
