"""Every path and method reaches one route whose dependency applies the config's rules (parity test)."""

import os
from typing import Annotated

from fastapi import Depends, FastAPI

from authcheck import Auth
from authcheck.fastapi import Authcheck

app = FastAPI(openapi_url=None)
auth = Authcheck(app, os.environ["AUTHCHECK_CONFIG"])
Caller = Annotated[Auth | None, Depends(auth.requires_auth())]
METHODS = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]


@app.api_route("/{anything:path}", methods=METHODS)
async def everything(anything: str, caller: Caller) -> dict[str, object]:
    return {"subject": caller.subject if caller else None}
