"""Tokens shaped exactly as the major issuers document them, each checked by a real
service running the config a user of that issuer would write (docs/issuers.md's recipes).

The keys are ours (served by a local JWKS server, named with `jwks_uri`), since the
issuers themselves cannot be reached from here; the claim shapes and configs are theirs.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint

ORDERS = "https://api.example.com"


@dataclass
class Check:
    method: str
    uri: str
    claims: dict[str, Any]
    status: int
    code: str = "ok"
    headers: dict[str, str] = field(default_factory=dict)  # expected identity headers
    typ: str | None = "at+jwt"


@dataclass
class Shape:
    issuer: str
    issuer_config: dict[str, Any]
    rules: list[dict[str, Any]]
    checks: list[Check]
    headers: dict[str, str] = field(default_factory=dict)


LOGTO = "https://acme.logto.app/oidc"
AUTH0 = "https://acme.us.auth0.com/"
KEYCLOAK = "https://sso.example.com/realms/acme"
ENTRA = "https://login.microsoftonline.com/72f988bf-86f1-41af-91ab-2d7cd011db47/v2.0"
OKTA = "https://acme.okta.com/oauth2/default"
ZITADEL = "https://acme-xyz.zitadel.cloud"
ZITADEL_ROLES = "urn:zitadel:iam:org:project:roles"

SHAPES: dict[str, Shape] = {
    "logto": Shape(
        LOGTO,
        {"audiences": [ORDERS, "urn:logto:organization:org-7"], "algorithms": ["ES384"], "token_type": "at+jwt"},
        [
            {"name": "orders", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"], "audiences": [ORDERS]},
            {
                "name": "org",
                "match": {"paths": ["/orgs/org-7/**"]},
                "allow": "authenticated",
                "audiences": ["urn:logto:organization:org-7"],
                "claims": {"organization_id": "org-7"},
            },
        ],
        [
            Check(
                "GET",
                "/orders/1",
                {"aud": ORDERS, "scope": "read:orders", "client_id": "m2m-app"},
                200,
                headers={"x-auth-client-id": "m2m-app", "x-auth-scopes": "read:orders"},
            ),
            Check(
                "GET",
                "/orgs/org-7/members",
                {"aud": "urn:logto:organization:org-7", "organization_id": "org-7", "scope": "read:members"},
                200,
                headers={"x-auth-organization-id": "org-7"},
            ),
            Check("GET", "/orgs/org-7/members", {"aud": ORDERS, "scope": "read:orders"}, 401, "invalid_token"),
            Check(
                "GET",
                "/orders/1",
                {"aud": "urn:logto:organization:org-7", "organization_id": "org-7", "scope": "read:orders"},
                401,
                "invalid_token",
            ),
            Check("GET", "/orders/1", {"aud": ORDERS, "scope": "read:orders"}, 401, "invalid_token", typ="JWT"),
        ],
    ),
    "auth0": Shape(
        AUTH0,
        {"audiences": [ORDERS], "algorithms": ["RS256"]},
        [
            {
                "name": "delete",
                "match": {"paths": ["/orders/**"], "methods": ["DELETE"]},
                "allow": "authenticated",
                "claims": {"permissions": "delete:orders"},
            },
            {
                "name": "admin",
                "match": {"paths": ["/admin/**"]},
                "allow": "authenticated",
                "claims": {"https://example.com/roles": "admin"},
            },
            {"name": "read", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]},
        ],
        [
            Check(
                "GET",
                "/orders/1",
                {
                    "aud": [ORDERS, AUTH0 + "userinfo"],
                    "scope": "openid read:orders",
                    "azp": "spa-client",
                    "client_id": None,
                },
                200,
                headers={"x-auth-client-id": "spa-client"},
                typ="JWT",
            ),
            Check("DELETE", "/orders/1", {"permissions": ["read:orders", "delete:orders"]}, 200, typ="JWT"),
            Check("DELETE", "/orders/1", {"permissions": ["read:orders"]}, 403, "auth.insufficient_claims", typ="JWT"),
            Check("GET", "/admin/x", {"https://example.com/roles": ["admin"]}, 200, typ="JWT"),
            Check(
                "GET", "/admin/x", {"https://example.com/roles": ["viewer"]}, 403, "auth.insufficient_claims", typ="JWT"
            ),
        ],
    ),
    "keycloak": Shape(
        KEYCLOAK,
        {"audiences": ["orders-api"], "algorithms": ["RS256"]},
        [
            {
                "name": "realm-admin",
                "match": {"paths": ["/admin/**"]},
                "allow": "authenticated",
                "claims": {"realm_access.roles": "admin"},
            },
            {
                "name": "client-role",
                "match": {"paths": ["/orders/**"]},
                "allow": "authenticated",
                "claims": {"resource_access.orders-api.roles": ["orders-reader"]},
            },
        ],
        [
            Check(
                "GET",
                "/orders/1",
                {
                    "aud": ["orders-api", "account"],
                    "azp": "web",
                    "client_id": None,
                    "scope": "profile email",
                    "resource_access": {"orders-api": {"roles": ["orders-reader"]}},
                },
                200,
                headers={"x-auth-client-id": "web"},
                typ="Bearer",
            ),
            Check(
                "GET",
                "/orders/1",
                {"aud": "orders-api", "resource_access": {"account": {"roles": ["orders-reader"]}}},
                403,
                "auth.insufficient_claims",
                typ="Bearer",
            ),
            Check(
                "GET",
                "/admin/users",
                {"aud": "orders-api", "realm_access": {"roles": ["admin", "user"]}},
                200,
                typ="Bearer",
            ),
            Check(
                "GET",
                "/admin/users",
                {"aud": "orders-api", "realm_access": {"roles": ["user"]}},
                403,
                "auth.insufficient_claims",
                typ="Bearer",
            ),
        ],
    ),
    "entra-id": Shape(
        ENTRA,
        {
            "audiences": ["6e74172b-be56-4843-9ff4-e66a39bb12e3", "api://orders"],
            "algorithms": ["RS256"],
            "scope_claim": "scp",
        },
        [
            {
                "name": "app-admin",
                "match": {"paths": ["/admin/**"]},
                "allow": "authenticated",
                "claims": {"roles": "Orders.Admin"},
            },
            {"name": "read", "match": {"paths": ["/orders/**"]}, "scopes": ["Orders.Read"]},
        ],
        [
            Check(
                "GET",
                "/orders/1",
                {
                    "aud": "6e74172b-be56-4843-9ff4-e66a39bb12e3",
                    "scp": "Orders.Read User.Read",
                    "scope": None,
                    "azp": "web-app",
                    "client_id": None,
                    "tid": "72f988bf-86f1-41af-91ab-2d7cd011db47",
                },
                200,
                headers={"x-auth-scopes": "Orders.Read User.Read"},
                typ="JWT",
            ),
            Check(
                "GET",
                "/orders/1",
                {"aud": "api://orders", "scp": "User.Read", "scope": None},
                403,
                "auth.insufficient_scope",
                typ="JWT",
            ),
            Check("GET", "/admin/x", {"aud": "api://orders", "roles": ["Orders.Admin"], "scope": None}, 200, typ="JWT"),
            Check(
                "GET",
                "/admin/x",
                {"aud": "api://other", "roles": ["Orders.Admin"], "scope": None},
                401,
                "invalid_token",
                typ="JWT",
            ),
        ],
    ),
    "okta": Shape(
        OKTA,
        {"audiences": ["api://default"], "algorithms": ["RS256"], "scope_claim": "scp"},
        [{"name": "read", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]}],
        [
            Check(
                "GET",
                "/orders/1",
                {
                    "aud": "api://default",
                    "scp": ["read:orders", "openid"],
                    "scope": None,
                    "cid": "0oa1okta",
                    "client_id": None,
                    "uid": "00u1",
                },
                200,
                headers={"x-auth-scopes": "openid read:orders", "x-auth-okta-client": "0oa1okta"},
                typ="JWT",
            ),
            Check(
                "GET",
                "/orders/1",
                {"aud": "api://default", "scp": ["openid"], "scope": None},
                403,
                "auth.insufficient_scope",
                typ="JWT",
            ),
        ],
        headers={"X-Auth-Okta-Client": "cid"},
    ),
    "zitadel": Shape(
        ZITADEL,
        {"audiences": ["286431457839055107"], "algorithms": ["RS256"]},
        [
            {
                "name": "admin",
                "match": {"paths": ["/admin/**"]},
                "allow": "authenticated",
                "claims": {ZITADEL_ROLES: "admin"},
            }
        ],
        [
            Check(
                "GET",
                "/admin/x",
                {
                    "aud": ["286431457839055107", "286431457839120643"],
                    ZITADEL_ROLES: {"admin": {"286431457838989571": "acme.zitadel.cloud"}},
                },
                200,
                typ="JWT",
            ),
            Check(
                "GET",
                "/admin/x",
                {"aud": "286431457839055107", ZITADEL_ROLES: {"viewer": {"1": "acme"}}},
                403,
                "auth.insufficient_claims",
                typ="JWT",
            ),
        ],
    ),
}


@pytest.mark.parametrize("name", SHAPES)
def test_issuer_token_shapes(
    name: str, jwks: JwksServer, keys: dict[str, SigningKey], start_service: Callable[..., AuthcheckProcess]
) -> None:
    shape = SHAPES[name]
    algorithm = shape.issuer_config["algorithms"][0]
    config = {
        "issuers": [{"issuer": shape.issuer, "jwks_uri": jwks.issuer + "/jwks", **shape.issuer_config}],
        "rules": shape.rules,
        "headers": shape.headers,
    }
    service = start_service(config)
    for check in shape.checks:
        token = mint(keys[algorithm], shape.issuer, headers={"typ": check.typ}, **{"scope": None, **check.claims})
        response = service.verify(method=check.method, uri=check.uri, token=token)
        code = json.loads(response.content)["code"] if response.content else "ok"
        assert (response.status_code, code) == (check.status, check.code), (name, check)
        for header, value in check.headers.items():
            assert response.headers[header] == value, (name, header)


def test_missing_claim_403_names_it(
    jwks: JwksServer, keys: dict[str, SigningKey], start_service: Callable[..., AuthcheckProcess]
) -> None:
    shape = SHAPES["keycloak"]
    service = start_service(
        {
            "issuers": [{"issuer": shape.issuer, "jwks_uri": jwks.issuer + "/jwks", **shape.issuer_config}],
            "rules": shape.rules,
        }
    )
    response = service.verify(uri="/admin/x", token=mint(keys["RS256"], shape.issuer, aud="orders-api"))
    assert response.status_code == 403
    assert 'error_description="The token has no realm_access.roles claim."' in response.headers["www-authenticate"]
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
