"""Configs the service tests run (as the dicts a YAML config file holds)."""

from __future__ import annotations

from typing import Any

from support.tokens import AUDIENCE


def service_config(issuer: str, **issuer_options: Any) -> dict[str, Any]:
    """The config most service tests run: the SPEC's example rules."""
    return {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE], **issuer_options}],
        "rules": [
            {
                "name": "public",
                "match": {"paths": ["/healthz", "/public/**"], "methods": ["GET", "HEAD"]},
                "allow": "anonymous",
            },
            {"name": "preflight", "match": {"methods": ["OPTIONS"]}, "allow": "anonymous"},
            {
                "name": "orders-read",
                "match": {"paths": ["/orders/**"], "methods": ["GET", "HEAD"]},
                "scopes": ["read:orders"],
            },
            {
                "name": "admin",
                "match": {"hosts": ["admin.example.com"], "paths": ["/**"]},
                "any_scopes": ["admin", "superuser"],
            },
            {"name": "signed-in", "match": {"paths": ["/me/**"]}, "allow": "authenticated"},
        ],
        "default": "deny",
        "headers": {"X-Auth-Email": "email"},
    }
