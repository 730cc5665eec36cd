"""Claim paths and claim requirements (authcheck/claims.py), and how rules apply them."""

from __future__ import annotations

from typing import Any

import pytest

from authcheck.config.model import ClaimRequirement
from authcheck.core.claims import holds, is_missing, resolve, retained, unmet

CLAIMS: dict[str, Any] = {
    "sub": "u1",
    "realm_access": {"roles": ["admin", "user"]},
    "resource_access": {"orders-api": {"roles": ["reader"]}},
    "https://example.com/roles": ["editor"],
    "https://example.com": {"roles": ["shadow"]},
    "urn:zitadel:iam:org:project:roles": {"admin": {"1": "acme"}},
    "email_verified": True,
    "level": 3,
}


@pytest.mark.parametrize(
    "path,expected",
    [
        pytest.param("sub", "u1", id="top-level"),
        pytest.param("realm_access.roles", ["admin", "user"], id="nested"),
        pytest.param("resource_access.orders-api.roles", ["reader"], id="nested-with-dash"),
        pytest.param("https://example.com/roles", ["editor"], id="key-with-dots-longest-wins"),
        pytest.param("urn:zitadel:iam:org:project:roles", {"admin": {"1": "acme"}}, id="urn-key"),
    ],
)
def test_resolve(path: str, expected: Any) -> None:
    assert resolve(CLAIMS, path) == expected


@pytest.mark.parametrize("path", ["nope", "realm_access.nope", "sub.x", "realm_access.roles.0"])
def test_resolve_missing(path: str) -> None:
    assert is_missing(resolve(CLAIMS, path))


def test_resolve_backtracks_when_the_longest_key_leads_nowhere() -> None:
    claims = {"a.b": {"x": 1}, "a": {"b": {"c": 2}}}
    assert resolve(claims, "a.b.c") == 2
    assert resolve(claims, "a.b.x") == 1


@pytest.mark.parametrize(
    "claim,wanted,expected",
    [
        pytest.param("admin", "admin", True, id="scalar-equal"),
        pytest.param("admin", "adm", False, id="scalar-not-equal"),
        pytest.param(["a", "b"], "b", True, id="list-contains"),
        pytest.param(["a", "b"], "c", False, id="list-lacks"),
        pytest.param({"admin": {}}, "admin", True, id="object-has-key"),
        pytest.param({"admin": {}}, "viewer", False, id="object-lacks-key"),
        pytest.param(True, True, True, id="bool-equal"),
        pytest.param(1, True, False, id="one-is-not-true"),
        pytest.param("1", 1, False, id="string-is-not-number"),
        pytest.param(3, 3.0, True, id="int-equals-float"),
        pytest.param(None, "x", False, id="null-holds-nothing"),
    ],
)
def test_holds(claim: Any, wanted: Any, expected: bool) -> None:
    assert holds(claim, wanted) is expected


@pytest.mark.parametrize(
    "requirement,why",
    [
        pytest.param(ClaimRequirement("realm_access.roles", ("admin", "user")), None, id="all-values-held"),
        pytest.param(
            ClaimRequirement("realm_access.roles", ("admin", "owner")),
            "The token's realm_access.roles claim does not hold owner.",
            id="one-value-missing",
        ),
        pytest.param(ClaimRequirement("groups", ("x",)), "The token has no groups claim.", id="claim-missing"),
        pytest.param(ClaimRequirement("email_verified", (True,)), None, id="bool"),
        pytest.param(ClaimRequirement("level", (4,)), "The token's level claim does not hold 4.", id="number"),
    ],
)
def test_unmet(requirement: ClaimRequirement, why: str | None) -> None:
    assert unmet(CLAIMS, requirement) == why


def test_retained_keeps_only_what_rules_read() -> None:
    kept = retained(CLAIMS, ["realm_access.roles", "https://example.com/roles"])
    assert set(kept) == {"realm_access", "https://example.com/roles"}
    assert set(retained(CLAIMS, ["https://example.com.roles"])) == {"https://example.com"}
    assert retained(CLAIMS, []) == {}
