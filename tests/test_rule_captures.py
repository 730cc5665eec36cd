"""Captures, clients and report_only rules through the real Gate, with offline-signed tokens (pure)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from authcheck.cli.policy_test import PolicyTest
from authcheck.config.file import ConfigError, parse_config
from authcheck.config.model import Config
from authcheck.core.gate import Decision, ReportOnly

ISS = "https://tenant.logto.app/oidc"
AUD = "https://api.example.com"
ISSUER = {"issuer": ISS, "audiences": [AUD], "algorithms": ["ES384"]}


def load(rules: list[dict[str, Any]], **top: Any) -> Config:
    return parse_config({"issuers": [ISSUER], "rules": rules, **top})


def headers(
    uri: str, method: str = "GET", host: str | None = None, authorization: str | None = None
) -> dict[str, list[str]]:
    sent = {"x-forwarded-method": [method], "x-forwarded-uri": [uri]}
    if host is not None:
        sent["x-forwarded-host"] = [host]
    if authorization is not None:
        sent["authorization"] = [authorization]
    return sent


class Offline:
    """A config's gate and a way to sign tokens its issuer trusts."""

    def __init__(self, config: Config) -> None:
        self.policy = PolicyTest(config)
        self.gate = self.policy.gate

    def bearer(self, **claims: Any) -> str:
        return "Bearer " + self.policy.issuers[ISS].mint(
            {"iss": ISS, "aud": AUD, "sub": "alice", **claims}, int(time.time())
        )

    def decide(self, uri: str, method: str = "GET", host: str | None = None, **claims: Any) -> Decision:
        authorization = self.bearer(**claims) if claims else None
        return self.gate.decide(headers(uri, method, host, authorization), "GET", None)


ORG_RULES = [
    {
        "name": "org-members",
        "match": {"paths": ["/orgs/{org}/**"]},
        "scopes": ["read:members"],
        "claims": {"organization_id": "{org}"},
    },
    {
        "name": "tenant-host",
        "match": {"hosts": ["{tenant}.example.com"]},
        "audiences": ["urn:example:tenant:{tenant}"],
        "allow": "authenticated",
    },
]


@pytest.fixture
def org_gate() -> Offline:
    issuer = {**ISSUER, "audiences": [AUD, "urn:example:tenant:acme", "urn:example:tenant:globex"]}
    return Offline(parse_config({"issuers": [issuer], "rules": ORG_RULES}))


def test_path_capture_binds_the_claim(org_gate: Offline) -> None:
    allowed = org_gate.decide("/orgs/acme/members", scope="read:members", organization_id="acme")
    assert (allowed.status, allowed.rule.name if allowed.rule else None) == (200, "org-members")
    assert dict(allowed.captures) == {"org": "acme"}
    other = org_gate.decide("/orgs/globex/members", scope="read:members", organization_id="acme")
    assert (other.status, other.denial.code if other.denial else None) == (403, "auth.insufficient_claims")


def test_capture_is_compared_after_normalization_and_exactly(org_gate: Offline) -> None:
    decoded = org_gate.decide("/orgs/%61cme/x/../members", scope="read:members", organization_id="acme")
    assert decoded.status == 200 and dict(decoded.captures) == {"org": "acme"}
    case = org_gate.decide("/orgs/ACME/members", scope="read:members", organization_id="acme")
    assert case.status == 403


def test_capture_needs_a_non_empty_segment(org_gate: Offline) -> None:
    decision = org_gate.decide("/orgs/", scope="read:members", organization_id="")
    assert decision.rule is None or decision.rule.name != "org-members"


def test_host_capture_binds_the_audience(org_gate: Offline) -> None:
    acme = org_gate.decide("/x", host="ACME.example.com", aud="urn:example:tenant:acme")
    assert acme.status == 200 and dict(acme.captures) == {"tenant": "acme"}
    crossed = org_gate.decide("/x", host="globex.example.com", aud="urn:example:tenant:acme")
    assert (crossed.status, crossed.denial.reason if crossed.denial else None) == (401, "route_audience_not_accepted")
    deeper = org_gate.decide("/x", host="a.acme.example.com", aud="urn:example:tenant:acme")
    assert deeper.rule is None  # a capture is one whole label


@pytest.mark.parametrize(
    ("rule", "location", "words"),
    [
        (
            {"name": "r", "match": {"paths": ["/orgs/*/**"]}, "claims": {"organization_id": "{org}"}},
            "rules[0].claims.organization_id",
            ["uses {org}", "not captured"],
        ),
        (
            {"name": "r", "match": {"paths": ["/orgs/{org}", "/public"]}, "audiences": ["urn:{org}"]},
            "rules[0].audiences[0]",
            ["only some of its paths or hosts"],
        ),
        (
            {"name": "r", "match": {"paths": ["/a/{x}/{x}"]}, "allow": "authenticated"},
            "rules[0].match.paths[0]",
            ["captures {x} twice"],
        ),
        ({"name": "r", "match": {"paths": ["/a/x{y}"]}, "allow": "authenticated"}, "rules[0].match.paths[0]", ["{"]),
        (
            {"name": "r", "match": {"paths": ["/{a}"], "hosts": ["{a}.example.com"]}, "claims": {"x": "{a}"}},
            "rules[0].match",
            ["both paths and hosts"],
        ),
        ({"name": "r", "match": {}, "clients": []}, "rules[0].clients", ["empty list"]),
        (
            {"name": "r", "match": {}, "report_only": "yes", "allow": "anonymous"},
            "rules[0].report_only",
            ["true or false"],
        ),
    ],
)
def test_capture_and_new_key_mistakes_name_their_key(rule: dict[str, Any], location: str, words: list[str]) -> None:
    with pytest.raises(ConfigError) as error:
        load([rule])
    [problem] = error.value.problems
    assert problem.location == location
    for word in words:
        assert word in problem.message


def test_clients_allow_client_id_else_azp() -> None:
    gate = Offline(load([{"name": "partner", "match": {}, "clients": ["partner-portal"]}]))
    assert gate.decide("/x", client_id="partner-portal").status == 200
    assert gate.decide("/x", azp="partner-portal").status == 200
    refused = gate.decide("/x", client_id="mobile", azp="partner-portal")
    assert refused.status == 403 and refused.denial is not None
    assert (refused.denial.code, refused.denial.reason) == ("auth.client_not_allowed", "client_not_allowed")
    assert refused.denial.www_authenticate() == (
        'Bearer realm="authcheck", error="insufficient_scope", '
        'error_description="The token\'s client is not allowed on this route."'
    )
    assert gate.decide("/x", sub="no-client").status == 403


def test_report_only_rule_is_judged_and_matching_goes_on() -> None:
    gate = Offline(
        load(
            [
                {"name": "strict", "report_only": True, "match": {"paths": ["/admin/**"]}, "any_scopes": ["admin"]},
                {"name": "open", "report_only": True, "match": {"paths": ["/admin/**"]}, "allow": "anonymous"},
                {"name": "admin", "match": {"paths": ["/admin/**"]}, "allow": "authenticated"},
            ]
        )
    )
    decision = gate.decide("/admin/users", scope="profile")
    assert (decision.status, decision.rule.name if decision.rule else None) == (200, "admin")
    assert decision.report_only == (ReportOnly("strict", 403, "auth.insufficient_scope"), ReportOnly("open", 200, "ok"))
    anonymous = gate.gate.decide(headers("/admin/users"), "GET", None)
    assert anonymous.status == 401
    assert anonymous.report_only[0] == ReportOnly("strict", 401, "auth.authorization_header_missing")
    unmatched = gate.gate.decide(headers("/other"), "GET", None)
    assert unmatched.report_only == () and unmatched.status == 403


def test_cache_hit_road_reports_report_only_rules_too() -> None:
    gate = Offline(
        load(
            [
                {"name": "trial", "report_only": True, "match": {"paths": ["/x"]}, "scopes": ["write"]},
                {"name": "read", "match": {"paths": ["/x"]}, "scopes": ["read"]},
            ]
        )
    )
    bearer = gate.bearer(scope="read")
    full = gate.gate.decide(headers("/x", authorization=bearer), "GET", None, raw_headers="x")
    quick = gate.gate.decide_known("x", bearer.encode())
    assert quick is not None and quick.status == full.status == 200
    assert quick.report_only == full.report_only == (ReportOnly("trial", 403, "auth.insufficient_scope"),)


# ---------------------------------------------------------------------------- property: report_only never decides

PATHS = ["/a/**", "/a/{x}", "/b", "/**", "/a/*/c", "/{org}/**"]
REQUEST_PATHS = ["/a", "/a/x", "/a/x/c", "/b", "/c", "/acme/z", "/globex"]


@st.composite
def rule_dicts(draw: st.DrawFn, name: str) -> dict[str, Any]:
    paths = draw(st.lists(st.sampled_from(PATHS), min_size=1, max_size=2, unique=True))
    rule: dict[str, Any] = {"name": name, "match": {"paths": paths}}
    if draw(st.booleans()):
        rule["match"]["methods"] = draw(st.lists(st.sampled_from(["GET", "POST"]), min_size=1, unique=True))
    access = draw(st.sampled_from(["anonymous", "authenticated", "scopes", "any_scopes", "clients"]))
    if access in ("anonymous", "authenticated"):
        rule["allow"] = access
    elif access == "clients":
        rule["clients"] = draw(st.lists(st.sampled_from(["c1", "c2"]), min_size=1, unique=True))
    else:
        rule[access] = draw(st.lists(st.sampled_from(["s1", "s2"]), min_size=1, unique=True))
    if access != "anonymous" and all("{org}" in p for p in paths) and draw(st.booleans()):
        rule["claims"] = {"org": "{org}"}
    return rule


@st.composite
def policies(draw: st.DrawFn) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(rules, the same rules with report_only rules inserted anywhere)."""
    rules = [draw(rule_dicts(f"r{i}")) for i in range(draw(st.integers(0, 4)))]
    shadowed = list(rules)
    for i in range(draw(st.integers(1, 3))):
        extra = {**draw(rule_dicts(f"shadow{i}")), "report_only": True}
        shadowed.insert(draw(st.integers(0, len(shadowed))), extra)
    return rules, shadowed


CLAIMS = st.fixed_dictionaries(
    {},
    optional={
        "scope": st.sampled_from(["s1", "s2", "s1 s2", ""]),
        "client_id": st.sampled_from(["c1", "c2", "c3"]),
        "org": st.sampled_from(["acme", "globex"]),
    },
)
CALLERS = st.one_of(st.none(), st.just("raw"), CLAIMS)


def summary(decision: Decision) -> tuple[object, ...]:
    denial = decision.denial
    return (*decision[:4], (type(denial), denial.message) if denial else None, *decision[5:])


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    policies(),
    st.sampled_from(["deny", "authenticated"]),
    st.lists(
        st.tuples(st.sampled_from(["GET", "POST"]), st.sampled_from(REQUEST_PATHS), CALLERS), min_size=1, max_size=6
    ),
)
def test_report_only_rules_never_change_the_decision(
    policy: tuple[list[dict[str, Any]], list[dict[str, Any]]], default: str, requests: list[tuple[str, str, Any]]
) -> None:
    rules, shadowed = policy
    plain, with_report_only = Offline(load(rules, default=default)), Offline(load(shadowed, default=default))
    for method, path, caller in requests:
        outcomes = []
        for offline in (plain, with_report_only):
            authorization = None
            if caller == "raw":
                authorization = "Bearer not-a-jwt"
            elif caller is not None:
                authorization = offline.bearer(**caller)
            sent = headers(path, method, None, authorization)
            raw_key = (method, path, authorization is None)
            full = offline.gate.decide(sent, "GET", None, raw_headers=raw_key)
            outcome = (full.status, full.denial.code if full.denial else "ok", full.rule.name if full.rule else None)
            outcomes.append(outcome)
            # The cache-hit road answers exactly as the full road, report_only rules included.
            quick = offline.gate.decide_known(raw_key, authorization.encode() if authorization else None)
            if quick is not None:
                assert summary(quick) == summary(full)
        assert outcomes[0] == outcomes[1]
