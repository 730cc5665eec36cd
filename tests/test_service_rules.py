"""Captures, clients and report_only rules through the real service: answers, log line, metrics."""

from __future__ import annotations

from collections.abc import Callable

import httpx
from support.configs import service_config
from support.jwks_server import JwksServer
from support.metrics import value
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint
from support.wait import wait_until

Start = Callable[..., AuthcheckProcess]


def test_report_only_is_logged_and_counted_but_never_answers(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    config = service_config(jwks.issuer)
    config["rules"][2:2] = [
        {"name": "orders-mfa", "report_only": True, "match": {"paths": ["/orders/**"]}, "claims": {"amr": "mfa"}},
        {
            "name": "orgs",
            "match": {"paths": ["/orgs/{org}/**"]},
            "claims": {"organization_id": "{org}"},
            "clients": ["portal"],
        },
    ]
    service = start_service(config)
    reader = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    assert service.verify(uri="/orders/1", token=reader).status_code == 200
    assert service.verify(uri="/orders/1", token=reader).status_code == 200  # the cached-token road too
    # The line is written once the answer is sent: wait for it.
    wait_until(lambda: len([line for line in service.events("decision") if line["path"] == "/orders/1"]) == 2)
    lines = [line for line in service.events("decision") if line["path"] == "/orders/1"]
    for line in lines:
        assert (line["status"], line["rule"]) == (200, "orders-read")
        assert (line["report_only_rule"], line["report_only_status"], line["report_only_code"]) == (
            "orders-mfa",
            403,
            "auth.insufficient_claims",
        )
    wait_until(
        lambda: (
            value(
                httpx.get(service.url + "/metrics").text, "authcheck_report_only_total", rule="orders-mfa", status="403"
            )
            == 2
        )
    )

    member = mint(keys["ES384"], jwks.issuer, organization_id="acme", client_id="portal")
    assert service.verify(uri="/orgs/acme/x", token=member).status_code == 200
    assert service.verify(uri="/orgs/globex/x", token=member).status_code == 403
    outsider = mint(keys["ES384"], jwks.issuer, organization_id="acme", client_id="cli")
    refused = service.verify(uri="/orgs/acme/x", token=outsider)
    assert refused.status_code == 403 and refused.json()["code"] == "auth.client_not_allowed"
    assert 'error="insufficient_scope"' in refused.headers["www-authenticate"]
    wait_until(
        lambda: any(line["path"] == "/orgs/acme/x" and line["status"] == 403 for line in service.events("decision"))
    )
    assert not any(
        "report_only_rule" in line for line in service.events("decision") if line["path"].startswith("/orgs")
    )
