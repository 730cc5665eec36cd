"""A FastAPI API protected by authcheck: the rules for every route, a scope for one.

pip install 'authcheck[fastapi]' uvicorn
AUTHCHECK_CONFIG=authcheck.yaml uvicorn app:app
"""

import os
from typing import Annotated

from fastapi import Depends, FastAPI, Request

from authcheck import Auth, Guard
from authcheck.fastapi import Authcheck
from authcheck.starlette import AuthcheckMiddleware

guard = Guard.from_file(os.environ.get("AUTHCHECK_CONFIG", "authcheck.yaml"))
app = FastAPI(title="Orders")

# Every request is decided by the config's rules before a route runs...
app.add_middleware(AuthcheckMiddleware, guard=guard)
# ...and a route can ask for more: the dependency also puts the bearer scheme in /openapi.json.
auth = Authcheck(app, guard=guard)
WriteOrders = Annotated[Auth, Depends(auth.requires_auth(scopes=["write:orders"]))]


@app.get("/api/public")
async def public(request: Request) -> dict[str, str]:
    caller: Auth | None = request.state.auth  # None: no token (an anonymous rule)
    return {"hello": str(caller.subject) if caller else "anonymous"}


@app.get("/api/orders")
async def list_orders(request: Request) -> dict[str, object]:
    return {"orders": [], "user": request.state.auth.subject}


@app.post("/api/orders", status_code=201)
async def create_order(caller: WriteOrders) -> dict[str, object]:
    return {"created": True, "user": caller.subject, "scopes": sorted(caller.scopes)}
