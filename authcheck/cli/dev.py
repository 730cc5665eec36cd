"""`authcheck dev`: a development issuer and demo rules, so one command shows 200, 401 and 403.

The issuer's ES384 key lives only in memory for the life of the process. Never for production.
"""

from __future__ import annotations

import time
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from authcheck.config.model import Access, Config, IssuerConfig, Match, Rule

AUDIENCE = "https://api.example.com"
KID = "dev-key-1"


class DevIssuer:
    def __init__(self, port: int) -> None:
        self.issuer = f"http://127.0.0.1:{port}/dev/oidc"
        self._key = ec.generate_private_key(ec.SECP384R1())

    def mint(self, subject: str, scopes: list[str], lifetime: int = 3600) -> str:
        now = int(time.time())
        claims = {
            "iss": self.issuer,
            "aud": AUDIENCE,
            "sub": subject,
            "client_id": "dev-client",
            "scope": " ".join(scopes),
            "iat": now,
            "exp": now + lifetime,
            "jti": f"{subject}-{now}",
        }
        return jwt.encode(claims, self._key, algorithm="ES384", headers={"kid": KID, "typ": "at+jwt"})

    def routes(self) -> list[BaseRoute]:
        async def discovery(_: Request) -> Response:
            return JSONResponse({"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"})

        async def jwks(_: Request) -> Response:
            public: dict[str, Any] = ECAlgorithm.to_jwk(self._key.public_key(), as_dict=True)
            return JSONResponse({"keys": [{**public, "kid": KID, "alg": "ES384", "use": "sig"}]})

        return [Route("/dev/oidc/.well-known/openid-configuration", discovery), Route("/dev/oidc/jwks", jwks)]

    def config(self) -> Config:
        return Config(
            issuers=(IssuerConfig(issuer=self.issuer, audiences=(AUDIENCE,), token_type="at+jwt"),),
            rules=(
                Rule("public", Match(paths=("/public/**",)), Access.ANONYMOUS),
                Rule(
                    "orders-read",
                    Match(paths=("/orders/**",), methods=frozenset({"GET"})),
                    Access.ALL_SCOPES,
                    ("read:orders",),
                ),
                Rule("admin", Match(paths=("/admin/**",)), Access.ANY_SCOPE, ("admin",)),
            ),
            default="deny",
            source="<authcheck dev>",
        )


def banner(issuer: DevIssuer, port: int) -> str:
    reader = issuer.mint("alice", ["read:orders"])
    nobody = issuer.mint("bob", ["profile"])
    verify = f"http://127.0.0.1:{port}/verify"
    orders = "-H 'X-Forwarded-Method: GET' -H 'X-Forwarded-Uri: /orders/42'"
    return f"""
authcheck dev: a DEVELOPMENT issuer with a throw-away key. Never use this in production.

  issuer   {issuer.issuer}
  audience {AUDIENCE}
  rules    /public/** anonymous; GET /orders/** needs read:orders; /admin/** needs admin; else deny

200, alice has read:orders:
  curl -i {verify} {orders} -H 'Authorization: Bearer {reader}'

401, no token:
  curl -i {verify} {orders}

403, bob lacks read:orders:
  curl -i {verify} {orders} -H 'Authorization: Bearer {nobody}'
"""
