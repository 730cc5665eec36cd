"""Every row of the SPEC's answers table, produced by a real `authcheck serve` against a
real JWKS/discovery server over HTTP."""

from __future__ import annotations

import json
import time

import httpx
import pytest
from support.jwks_server import JwksServer
from support.metrics import value
from support.service import DECISION_FIELDS, AuthcheckProcess
from support.tokens import SigningKey, mint

REALM = 'Bearer realm="authcheck"'


def body(response: httpx.Response) -> dict[str, str]:
    return json.loads(response.content)


@pytest.mark.parametrize("alg", ["ES384", "ES256", "RS256", "EdDSA"])
def test_valid_token_200_with_identity_headers(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey], alg: str
) -> None:
    token = mint(keys[alg], jwks.issuer, sub="alice", email="alice@example.com", organization_id="org-7")
    response = service.verify(uri="/orders/42?x=1", token=token)
    assert response.status_code == 200
    assert response.content == b""
    assert response.headers["x-auth-subject"] == "alice"
    assert response.headers["x-auth-issuer"] == jwks.issuer
    assert response.headers["x-auth-scopes"] == "profile read:orders"
    assert response.headers["x-auth-client-id"] == "client-1"
    assert response.headers["x-auth-organization-id"] == "org-7"
    assert response.headers["x-auth-email"] == "alice@example.com"
    removed = response.headers["x-envoy-auth-headers-to-remove"].split(",")
    assert all("." in name for name in removed)  # only the dotted spellings: every header is set


def test_client_id_falls_back_to_azp_and_unset_headers_are_named_for_envoy(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, client_id=None, azp="spa-client")
    response = service.verify(token=token)
    assert response.status_code == 200
    assert response.headers["x-auth-client-id"] == "spa-client"
    removed = response.headers["x-envoy-auth-headers-to-remove"].split(",")
    assert sorted(name for name in removed if "." not in name) == ["x-auth-email", "x-auth-organization-id"]


def test_missing_authorization_401_without_error_attribute(service: AuthcheckProcess) -> None:
    response = service.verify()
    assert response.status_code == 401
    assert response.headers["www-authenticate"] == REALM
    assert body(response)["code"] == "auth.authorization_header_missing"


@pytest.mark.parametrize(
    "value",
    ["Bearer", "Bearer a b", "Bearer\ttoken", "token-only"],
    ids=["scheme-only", "three-parts", "tab-separated", "one-part"],
)
def test_header_not_two_parts_401_invalid_format(service: AuthcheckProcess, value: str) -> None:
    response = service.verify(headers={"Authorization": value})
    assert response.status_code == 401
    assert body(response)["code"] == "auth.authorization_token_invalid_format"
    assert response.headers["www-authenticate"] == f'{REALM}, error="invalid_token"'


def test_scheme_not_bearer_401(service: AuthcheckProcess) -> None:
    response = service.verify(headers={"Authorization": "Basic dXNlcjpwYXNz"})
    assert response.status_code == 401
    assert body(response)["code"] == "auth.authorization_token_type_not_supported"
    assert response.headers["www-authenticate"] == f'{REALM}, error="invalid_token"'


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
def test_scheme_is_case_insensitive_and_spaces_may_repeat(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey], scheme: str
) -> None:
    token = mint(keys["ES256"], jwks.issuer)
    response = service.verify(headers={"Authorization": f"{scheme}   {token}"})
    assert response.status_code == 200


def test_expired_token_401_with_description(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, exp=1_000_000, iat=999_000)
    response = service.verify(token=token)
    assert response.status_code == 401
    assert body(response)["code"] == "invalid_token"
    assert response.headers["www-authenticate"] == (
        f'{REALM}, error="invalid_token", error_description="The token has expired."'
    )


def test_missing_scope_403_names_required_scopes(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, scope="profile")
    response = service.verify(uri="/orders/1", token=token)
    assert response.status_code == 403
    assert body(response)["code"] == "auth.insufficient_scope"
    assert response.headers["www-authenticate"].startswith(f'{REALM}, error="insufficient_scope", scope="read:orders"')


@pytest.mark.parametrize("scope,status", [("admin", 200), ("superuser", 200), ("read:orders", 403)])
def test_any_scopes_needs_one_of_them(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey], scope: str, status: int
) -> None:
    token = mint(keys["RS256"], jwks.issuer, scope=scope)
    response = service.verify(uri="/anything", token=token, headers={"X-Forwarded-Host": "Admin.Example.com"})
    assert response.status_code == status


def test_scope_claim_may_be_a_list(service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    token = mint(keys["ES384"], jwks.issuer, scope=["read:orders", "write:orders"])
    response = service.verify(token=token)
    assert response.status_code == 200
    assert response.headers["x-auth-scopes"] == "read:orders write:orders"


def test_no_rule_matches_403_route_denied_without_challenge(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    response = service.verify(uri="/nowhere", token=mint(keys["ES384"], jwks.issuer))
    assert response.status_code == 403
    assert body(response)["code"] == "auth.route_denied"
    assert "www-authenticate" not in response.headers


def test_method_outside_rule_is_denied(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    response = service.verify(method="DELETE", uri="/orders/1", token=mint(keys["ES384"], jwks.issuer))
    assert response.status_code == 403
    assert body(response)["code"] == "auth.route_denied"


def test_conflicting_original_request_403_request_rejected(service: AuthcheckProcess) -> None:
    response = service.verify(uri="/public/x", headers={"X-Original-URI": "/orders/1"})
    assert response.status_code == 403
    assert body(response)["code"] == "auth.request_rejected"
    assert "www-authenticate" not in response.headers


def test_no_original_request_at_all_403(service: AuthcheckProcess) -> None:
    response = httpx.get(service.url + "/verify")
    assert response.status_code == 403
    assert body(response)["code"] == "auth.request_rejected"


def test_anonymous_route_200_without_token_and_ignores_bad_token(service: AuthcheckProcess) -> None:
    assert service.verify(uri="/public/page").status_code == 200
    response = service.verify(uri="/public/page", headers={"Authorization": "Bearer not.a.jwt"})
    assert response.status_code == 200
    assert "x-auth-subject" not in response.headers


def test_anonymous_route_with_valid_token_gets_identity(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    response = service.verify(uri="/public/page", token=mint(keys["ES384"], jwks.issuer, sub="carol"))
    assert response.status_code == 200
    assert response.headers["x-auth-subject"] == "carol"


def test_cors_preflight_passes_on_an_options_rule(service: AuthcheckProcess) -> None:
    assert service.verify(method="OPTIONS", uri="/orders/1").status_code == 200


def test_authenticated_rule_accepts_any_valid_token(
    service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    assert (
        service.verify(method="POST", uri="/me/settings", token=mint(keys["EdDSA"], jwks.issuer, scope="")).status_code
        == 200
    )


@pytest.mark.parametrize("verify_method", ["GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"])
def test_verify_accepts_any_method_and_head_has_no_body(service: AuthcheckProcess, verify_method: str) -> None:
    response = service.verify(verify_method=verify_method)
    assert response.status_code == 401
    assert (response.content == b"") == (verify_method == "HEAD")


def test_envoy_path_prefix_form(service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    token = mint(keys["ES384"], jwks.issuer)
    allowed = httpx.get(service.url + "/verify/orders/7?z=1", headers={"Authorization": f"Bearer {token}"})
    assert allowed.status_code == 200
    wrong_method = httpx.post(service.url + "/verify/orders/7", headers={"Authorization": f"Bearer {token}"})
    assert wrong_method.status_code == 403


def test_verify_query_string_is_ignored(service: AuthcheckProcess) -> None:
    """Caddy appends the client's query to /verify: it must not change the decision."""
    response = httpx.get(
        service.url + "/verify?uri=/public/x", headers={"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1"}
    )
    assert response.status_code == 401


def test_verify_never_waits_for_an_announced_body(service: AuthcheckProcess) -> None:
    """nginx without `proxy_pass_request_body off` announces 17 bytes and sends none."""
    import socket

    with socket.create_connection(("127.0.0.1", service.port), timeout=3) as conn:
        conn.sendall(
            b"GET /verify HTTP/1.1\r\nHost: a\r\nX-Forwarded-Method: GET\r\n"
            b"X-Forwarded-Uri: /public/x\r\nContent-Length: 17\r\n\r\n"
        )
        assert conn.recv(100).startswith(b"HTTP/1.1 200")


def test_token_never_appears_in_logs(service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    good = mint(keys["ES384"], jwks.issuer, sub="dave")
    bad = mint(keys["ES384"], jwks.issuer, aud="https://other")
    service.verify(token=good, headers={"X-Request-Id": "req-42"})
    service.verify(token=bad)
    deadline = time.monotonic() + 5  # the decision line is written just after the answer is sent
    while len(decisions := service.events("decision")) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    log = service.log()
    assert good not in log and bad not in log
    assert good.split(".")[2] not in log
    allow = next(d for d in decisions if d["request_id"] == "req-42")
    assert allow["decision"] == "allow" and allow["sub"] == "dave" and allow["rule"] == "orders-read"
    assert set(allow) == DECISION_FIELDS
    assert any(d["code"] == "invalid_token" for d in decisions)


def test_healthz_readyz_metrics(service: AuthcheckProcess, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    service.verify(token=mint(keys["ES384"], jwks.issuer))
    service.verify()
    assert httpx.get(service.url + "/healthz").status_code == 200
    assert httpx.get(service.url + "/readyz").json() == {"ready": True}
    metrics = httpx.get(service.url + "/metrics").text
    assert value(metrics, "authcheck_decisions_total", status="200", code="ok") == 1
    assert value(metrics, "authcheck_decisions_total", status="401", code="auth.authorization_header_missing") == 1
    assert value(metrics, "authcheck_jwks_fetches_total", result="ok") == 1
    assert value(metrics, "authcheck_decision_seconds_count") == 2
    age = value(metrics, "authcheck_jwks_age_seconds", issuer=jwks.issuer)
    assert age is not None and 0 <= age < 60
