"""decide_known, the gate's short road, answers exactly as the full road `decide` (a property).

Hypothesis draws rule sets (with `clients`, report_only rules, and a rule whose claim
requirement uses a path capture), original requests (methods, hosts, paths, clean and not)
and Authorization headers (valid tokens with various scopes, expired, wrong audience,
another issuer's, garbage, other schemes, none, two). For each, `decide` runs first (as the app's
first request does, filling the memo and the token cache), then `decide_known`: when it
answers, its answer must equal what `decide` answers for the same request.
"""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from support.static_keys import Clock, StaticKeys
from support.tokens import AUDIENCE, mint, new_key

from authcheck.config.model import Access, ClaimRequirement, Config, Match, Rule
from authcheck.core.authenticator import Authenticator
from authcheck.core.gate import Decision, Gate

ISSUER, OTHER_ISSUER = "https://issuer.example.test/oidc", "https://other.example.test"
NOW = 1_600_000_000
KEY = new_key("ES256", kid="k1")


def _token(**claims: Any) -> str:
    return mint(KEY, ISSUER, **{"iat": NOW, "exp": NOW + 600, **claims})


TOKENS = [
    _token(scope="read:orders"),
    _token(scope="admin"),
    _token(scope="read:orders admin", organization_id="acme"),
    _token(scope="profile"),  # lacks every scope rules ask for
    _token(scope="read:orders", sub="user-2", email="u2@example.com"),
    _token(scope="read:orders", exp=NOW - 100),  # expired
    _token(scope="read:orders", aud="https://other-api.example.com"),  # wrong audience
    mint(KEY, OTHER_ISSUER, iat=NOW, exp=NOW + 600),  # an issuer not configured
    mint(new_key("ES256", kid="k1"), ISSUER, iat=NOW, exp=NOW + 600),  # signed by an impostor key
    "not-a-jwt",
    "a.b.c",
]
AUTHORIZATIONS = st.one_of(
    st.sampled_from(TOKENS).map(lambda token: [f"Bearer {token}"]),
    st.sampled_from(TOKENS).map(lambda token: [f"bearer  {token}"]),
    st.sampled_from([[], ["Basic dXNlcjpwYXNz"], ["Bearer"], [f"Bearer {TOKENS[0]}", f"Bearer {TOKENS[1]}"]]),
)
PATHS = ["/", "/orders/1", "/orders/", "/public/x", "/public/../orders/1", "/admin/x", "/me", "//orders//1", "/a%2Fb"]
PATHS += ["/orgs/acme/x", "/orgs/other/x"]
METHODS = ["GET", "HEAD", "POST", "DELETE", "OPTIONS"]
HOSTS = [None, "api.example.com", "admin.example.com"]
SCOPES = ["read:orders", "admin", "superuser"]

RULES = st.builds(
    Rule,
    name=st.sampled_from(["a", "b", "c"]),
    match=st.builds(
        Match,
        paths=st.none()
        | st.lists(st.sampled_from(["/orders/**", "/public/**", "/admin/*", "/me", "/**"]), min_size=1).map(tuple),
        methods=st.none() | st.frozensets(st.sampled_from(METHODS), min_size=1),
        hosts=st.none() | st.frozensets(st.sampled_from(HOSTS[1:]), min_size=1),
    ),
    access=st.sampled_from(list(Access)),
    scopes=st.lists(st.sampled_from(SCOPES), min_size=1, max_size=2, unique=True).map(tuple),
    claims=st.sampled_from([(), (ClaimRequirement("organization_id", ("acme",)),)]),
    issuers=st.sampled_from([None, frozenset({ISSUER}), frozenset({OTHER_ISSUER})]),
    audiences=st.sampled_from([None, frozenset({AUDIENCE}), frozenset({"https://elsewhere"})]),
    clients=st.sampled_from([None, frozenset({"client-1"}), frozenset({"another-client"})]),
    report_only=st.booleans(),
)
# The organization in the path must be the token's (a capture used by a claim requirement).
ORG_RULES = st.builds(
    Rule,
    name=st.just("org"),
    match=st.just(Match(paths=("/orgs/{org}/**",))),
    access=st.sampled_from([Access.AUTHENTICATED, Access.ALL_SCOPES]),
    scopes=st.just(("read:orders",)),
    claims=st.just((ClaimRequirement("organization_id", ("{org}",)),)),
    report_only=st.booleans(),
)
REQUESTS = st.tuples(st.sampled_from(METHODS), st.sampled_from(HOSTS), st.sampled_from(PATHS), AUTHORIZATIONS)


def _comparable(decision: Decision) -> tuple[Any, ...]:
    """A decision with its denial as what the answer and the logs are made of (exceptions compare by identity)."""
    denial = decision.denial
    refusal = None if denial is None else (type(denial), denial.status, denial.code, denial.reason, denial.message)
    return (*decision._replace(denial=None), refusal)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rules=st.lists(RULES | ORG_RULES, max_size=4).map(tuple),
    default=st.sampled_from(["deny", "authenticated"]),
    headers=st.sampled_from([(), (("X-Auth-Email", "email"),)]),
    requests=st.lists(REQUESTS, min_size=1, max_size=8),
)
def test_decide_known_equals_decide(
    rules: tuple[Rule, ...],
    default: Any,
    headers: tuple[tuple[str, str], ...],
    requests: list[tuple[str, str | None, str, list[str]]],
) -> None:
    keys = StaticKeys(ISSUER, KEY)
    config = Config(issuers=(keys.config,), rules=rules, default=default, headers=headers, ingress="nginx")
    gate = Gate(config, Authenticator(config, {ISSUER: keys}, lambda header, why: None, Clock(NOW + 1)))
    for method, host, path, authorization in requests * 2:  # the second time, memo and cache are warm
        sent = {"x-forwarded-method": [method], "x-forwarded-uri": [path], "authorization": authorization}
        if host is not None:
            sent["x-forwarded-host"] = [host]
        raw_headers = ("GET", b"/verify", method, path, host)
        full = gate.decide(sent, "GET", None, raw_headers=raw_headers)
        one = authorization[0].encode("latin-1") if len(authorization) == 1 else None
        known = gate.decide_known(raw_headers, one)
        if known is not None:
            assert _comparable(known) == _comparable(full)


def _orders_gate() -> Gate:
    """One rule: read:orders on /orders/**."""
    keys = StaticKeys(ISSUER, KEY)
    rule = Rule(name="orders", match=Match(paths=("/orders/**",)), access=Access.ALL_SCOPES, scopes=("read:orders",))
    config = Config(issuers=(keys.config,), rules=(rule,), ingress="nginx")
    return Gate(config, Authenticator(config, {ISSUER: keys}, lambda header, why: None, Clock(NOW + 1)))


def test_decide_known_answers_a_cached_token_on_a_known_request() -> None:
    """The property above would hold vacuously if decide_known never answered."""
    gate = _orders_gate()
    raw_headers = ("GET", b"/verify", "GET", "/orders/1")
    for token, status in ((TOKENS[0], 200), (TOKENS[1], 403)):
        sent = {"x-forwarded-method": ["GET"], "x-forwarded-uri": ["/orders/1"], "authorization": [f"Bearer {token}"]}
        full = gate.decide(sent, "GET", None, raw_headers=raw_headers)
        known = gate.decide_known(raw_headers, f"Bearer {token}".encode())
        assert known is not None and known.status == full.status == status
        assert _comparable(known) == _comparable(full)


def test_decide_known_takes_an_uncached_token_on_a_known_request_but_leaves_a_refresh_to_decide() -> None:
    """The property above would also hold if decide_known only ever answered cached tokens."""
    gate = _orders_gate()
    raw_headers = ("GET", b"/verify", "GET", "/orders/1")
    sent = {"x-forwarded-method": ["GET"], "x-forwarded-uri": ["/orders/1"], "authorization": []}
    gate.decide(sent, "GET", None, raw_headers=raw_headers)  # the request is read once
    unknown_kid = mint(new_key("ES256", kid="k2"), ISSUER, iat=NOW, exp=NOW + 600)
    for token, status in ((TOKENS[2], 200), ("not-a-jwt", 401), (TOKENS[5], 401), (unknown_kid, None)):
        known = gate.decide_known(raw_headers, f"Bearer {token}".encode())
        full = gate.decide({**sent, "authorization": [f"Bearer {token}"]}, "GET", None, raw_headers=raw_headers)
        if status is None:
            assert known is None and full.refresh_issuer == ISSUER  # the caller refreshes, then asks decide
        else:
            assert known is not None and known.status == full.status == status
            assert _comparable(known) == _comparable(full)
