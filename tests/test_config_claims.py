"""The rule keys `claims`, `issuers` and `audiences` in the config file."""

from __future__ import annotations

from typing import Any

import pytest

from authcheck.config.file import ConfigError, parse_config
from authcheck.config.model import Access, ClaimRequirement

ISSUER = "https://acme.logto.app/oidc"


def config(rule: dict[str, Any]) -> dict[str, Any]:
    return {
        "issuers": [{"issuer": ISSUER, "audiences": ["https://api.example.com", "urn:org"]}],
        "rules": [{"name": "r", "match": {"paths": ["/x/**"]}, **rule}],
    }


def test_claims_alone_imply_a_valid_token() -> None:
    rule = parse_config(config({"claims": {"realm_access.roles": ["admin", "ops"], "email_verified": True}})).rules[0]
    assert rule.access is Access.AUTHENTICATED
    assert rule.claims == (
        ClaimRequirement("realm_access.roles", ("admin", "ops")),
        ClaimRequirement("email_verified", (True,)),
    )


def test_claims_combine_with_scopes_and_restrictions() -> None:
    rule = parse_config(
        config({"scopes": ["read"], "claims": {"org": "o1"}, "issuers": [ISSUER], "audiences": ["urn:org"]})
    ).rules[0]
    assert (rule.access, rule.scopes, rule.issuers, rule.audiences) == (
        Access.ALL_SCOPES,
        ("read",),
        frozenset({ISSUER}),
        frozenset({"urn:org"}),
    )
    assert "with claim org holding o1" in rule.describe()


@pytest.mark.parametrize(
    "rule,location,words",
    [
        pytest.param(
            {"allow": "anonymous", "claims": {"a": "b"}},
            "rules[0].claims",
            "allows anonymous",
            id="anonymous-with-claims",
        ),
        pytest.param({"claims": {}}, "rules[0].claims", "is empty", id="empty-claims"),
        pytest.param(
            {"claims": {"a": {"b": 1}}}, "rules[0].claims.a", "must be a string, number or boolean", id="object-value"
        ),
        pytest.param({"claims": {"a": []}}, "rules[0].claims.a", "is an empty list", id="empty-value-list"),
        pytest.param({"claims": {"a..b": "x"}}, 'rules[0].claims["a..b"]', "is not a claim path", id="bad-path"),
        pytest.param(
            {"allow": "authenticated", "issuers": ["https://other.example.com"]},
            "rules[0].issuers",
            "is not configured",
            id="unknown-issuer",
        ),
        pytest.param(
            {"allow": "authenticated", "audiences": ["https://nope"]},
            "rules[0].audiences",
            "is not configured",
            id="unknown-audience",
        ),
    ],
)
def test_bad_claim_rules_are_reported(rule: dict[str, Any], location: str, words: str) -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config(config(rule))
    assert any(p.location == location and words in p.message for p in caught.value.problems), caught.value.problems
