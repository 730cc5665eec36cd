"""Route rules: glob semantics, method/host matching, first match wins, default, scopes (pure).

Config, Rule and Match objects are built directly, in the form the config loader
produces them (methods upper-case, hosts lower-case, globs starting with /).
"""

from __future__ import annotations

import re

import pytest

from authcheck.config.model import Access, ClaimRequirement, Config, IssuerConfig, Match, Rule
from authcheck.core import rules as rules_module
from authcheck.core.errors import Denial, InsufficientClaims, InsufficientScope, InvalidToken, RouteDenied
from authcheck.core.identity import Identity
from authcheck.core.original_request import OriginalRequest
from authcheck.core.rules import DEFAULT_AUTHENTICATED, RuleSet, authorize, glob_to_regex

ISSUER = IssuerConfig(issuer="https://tenant.logto.app/oidc", audiences=("https://api.example.com",))


def config(*rules: Rule, default: str = "deny") -> Config:
    return Config(issuers=(ISSUER,), rules=rules, default=default)  # type: ignore[arg-type]


def rule(
    name: str,
    paths: tuple[str, ...] | None = None,
    methods: set[str] | None = None,
    hosts: set[str] | None = None,
    access: Access = Access.AUTHENTICATED,
    scopes: tuple[str, ...] = (),
) -> Rule:
    return Rule(
        name=name,
        match=Match(
            paths=paths,
            methods=frozenset(methods) if methods is not None else None,
            hosts=frozenset(hosts) if hosts is not None else None,
        ),
        access=access,
        scopes=scopes,
    )


def request(path: str, method: str = "GET", host: str | None = "api.example.com") -> OriginalRequest:
    return OriginalRequest(method=method, host=host, path=path)


GLOBS = [
    # `**` spans zero or more whole segments.
    pytest.param("/x/**", "/x", True, id="double-star-matches-bare-prefix"),
    pytest.param("/x/**", "/x/", True, id="double-star-matches-trailing-slash"),
    pytest.param("/x/**", "/x/a", True, id="double-star-matches-one-segment"),
    pytest.param("/x/**", "/x/a/b/c", True, id="double-star-matches-many-segments"),
    pytest.param("/x/**", "/xy", False, id="double-star-not-a-name-prefix"),
    pytest.param("/x/**", "/xy/a", False, id="double-star-not-a-longer-first-segment"),
    pytest.param("/x/**", "/", False, id="double-star-not-root"),
    pytest.param("/x/**", "/y/x/a", False, id="double-star-anchored-at-start"),
    pytest.param("/a/**/b", "/a/b", True, id="inner-double-star-zero-segments"),
    pytest.param("/a/**/b", "/a/x/b", True, id="inner-double-star-one-segment"),
    pytest.param("/a/**/b", "/a/x/y/z/b", True, id="inner-double-star-many-segments"),
    pytest.param("/a/**/b", "/a/xb", False, id="inner-double-star-keeps-segment-boundary"),
    pytest.param("/a/**/b", "/ab", False, id="inner-double-star-needs-both-segments"),
    pytest.param("/a/**/b", "/a/b/c", False, id="inner-double-star-anchored-at-end"),
    pytest.param("/a/**/b", "/a/x/b/", False, id="inner-double-star-trailing-slash-differs"),
    pytest.param("/**", "/", True, id="catch-all-matches-root"),
    pytest.param("/**", "/a", True, id="catch-all-matches-one-segment"),
    pytest.param("/**", "/a/b/c/", True, id="catch-all-matches-deep-path"),
    pytest.param("/**/x", "/x", True, id="leading-double-star-zero-segments"),
    pytest.param("/**/x", "/a/b/x", True, id="leading-double-star-many-segments"),
    pytest.param("/**/x", "/ax", False, id="leading-double-star-keeps-segment-boundary"),
    # `*` stays within one segment.
    pytest.param("/a/*", "/a/b", True, id="star-matches-one-segment"),
    pytest.param("/a/*", "/a/b/c", False, id="star-does-not-cross-slash"),
    pytest.param("/a/*", "/a", False, id="star-needs-the-slash"),
    pytest.param("/a/*/c", "/a/b/c", True, id="inner-star-one-segment"),
    pytest.param("/a/*/c", "/a/b/x/c", False, id="inner-star-not-two-segments"),
    pytest.param("/*.js", "/app.js", True, id="star-prefix-within-segment"),
    pytest.param("/*.js", "/x/app.js", False, id="star-prefix-not-across-segments"),
    pytest.param("/v*/users", "/v2/users", True, id="star-suffix-within-segment"),
    pytest.param("/v*/users", "/v2/x/users", False, id="star-suffix-not-across-segments"),
    # Exact paths.
    pytest.param("/", "/", True, id="root-matches-root"),
    pytest.param("/", "/a", False, id="root-only-root"),
    pytest.param("/healthz", "/healthz", True, id="exact-path-matches"),
    pytest.param("/healthz", "/healthz/", False, id="exact-path-not-with-trailing-slash"),
    pytest.param("/healthz", "/healthzz", False, id="exact-path-not-a-prefix"),
    pytest.param("/x/", "/x/", True, id="trailing-slash-glob-matches-trailing-slash"),
    pytest.param("/x/", "/x", False, id="trailing-slash-glob-needs-the-slash"),
    # Case-sensitive.
    pytest.param("/Admin", "/admin", False, id="paths-are-case-sensitive"),
    pytest.param("/admin/**", "/ADMIN/x", False, id="double-star-prefix-case-sensitive"),
    # Regex metacharacters are literal.
    pytest.param("/a.b", "/a.b", True, id="dot-literal-matches-dot"),
    pytest.param("/a.b", "/aXb", False, id="dot-is-not-any-character"),
    pytest.param("/(x)", "/(x)", True, id="parentheses-literal"),
    pytest.param("/(x)", "/x", False, id="parentheses-not-a-group"),
    pytest.param("/a+", "/a+", True, id="plus-literal"),
    pytest.param("/a+", "/aa", False, id="plus-not-a-quantifier"),
    pytest.param("/a$", "/a$", True, id="dollar-literal"),
    pytest.param("/a$", "/a", False, id="dollar-not-an-anchor"),
    pytest.param("/x|/admin", "/admin", False, id="pipe-not-an-alternation"),
    pytest.param("/x|/admin", "/x", False, id="pipe-not-an-alternation-left"),
    pytest.param("/a.*", "/a.json", True, id="dot-star-is-dot-then-star"),
    pytest.param("/a.*", "/ab", False, id="dot-star-not-regex-any"),
]


@pytest.mark.parametrize(("glob", "path", "matches"), GLOBS)
def test_glob_to_regex(glob: str, path: str, matches: bool) -> None:
    assert (re.fullmatch(glob_to_regex(glob), path) is not None) is matches


@pytest.mark.parametrize(("glob", "path", "matches"), GLOBS)
def test_rule_set_matches_paths_like_the_glob(glob: str, path: str, matches: bool) -> None:
    rules = RuleSet(config(rule("only", paths=(glob,))))
    if matches:
        assert rules.match(request(path)).name == "only"
    else:
        with pytest.raises(RouteDenied):
            rules.match(request(path))


SEVERAL_PATHS = [
    pytest.param("/healthz", True, id="first-glob-of-several"),
    pytest.param("/public/a/b", True, id="second-glob-of-several"),
    pytest.param("/public", True, id="second-glob-bare-prefix"),
    pytest.param("/healthz/x", False, id="no-glob-of-several"),
    pytest.param("/publicity", False, id="alternation-keeps-anchors"),
]


@pytest.mark.parametrize(("path", "matches"), SEVERAL_PATHS)
def test_any_of_several_paths_matches(path: str, matches: bool) -> None:
    rules = RuleSet(config(rule("public", paths=("/healthz", "/public/**"), access=Access.ANONYMOUS)))
    if matches:
        assert rules.match(request(path)).name == "public"
    else:
        with pytest.raises(RouteDenied):
            rules.match(request(path))


MATCHES = [
    pytest.param(rule("r", methods={"GET", "HEAD"}), request("/a", "GET"), True, id="listed-method-matches"),
    pytest.param(rule("r", methods={"GET", "HEAD"}), request("/a", "HEAD"), True, id="second-listed-method-matches"),
    pytest.param(rule("r", methods={"GET", "HEAD"}), request("/a", "POST"), False, id="unlisted-method-no-match"),
    pytest.param(rule("r", methods={"OPTIONS"}), request("/a", "OPTIONS"), True, id="options-preflight-rule-matches"),
    pytest.param(
        rule("r", hosts={"admin.example.com"}), request("/a", host="admin.example.com"), True, id="listed-host-matches"
    ),
    pytest.param(
        rule("r", hosts={"admin.example.com"}),
        request("/a", host="api.example.com"),
        False,
        id="unlisted-host-no-match",
    ),
    pytest.param(
        rule("r", hosts={"admin.example.com"}),
        request("/a", host="evil-admin.example.com"),
        False,
        id="host-is-exact-not-suffix",
    ),
    pytest.param(
        rule("r", hosts={"example.com"}),
        request("/a", host="admin.example.com"),
        False,
        id="host-is-exact-not-parent-domain",
    ),
    pytest.param(
        rule("r", hosts={"admin.example.com"}), request("/a", host=None), False, id="host-rule-no-match-without-host"
    ),
    pytest.param(rule("r"), request("/anything", "DELETE", host=None), True, id="empty-match-matches-everything"),
    pytest.param(
        rule("r", paths=("/a",), methods={"GET"}, hosts={"h.example"}),
        request("/a", "GET", "h.example"),
        True,
        id="all-keys-agree-matches",
    ),
    pytest.param(
        rule("r", paths=("/a",), methods={"GET"}, hosts={"h.example"}),
        request("/b", "GET", "h.example"),
        False,
        id="path-disagrees-no-match",
    ),
    pytest.param(
        rule("r", paths=("/a",), methods={"GET"}, hosts={"h.example"}),
        request("/a", "PUT", "h.example"),
        False,
        id="method-disagrees-no-match",
    ),
    pytest.param(
        rule("r", paths=("/a",), methods={"GET"}, hosts={"h.example"}),
        request("/a", "GET", "x.example"),
        False,
        id="host-disagrees-no-match",
    ),
    pytest.param(rule("r", paths=()), request("/"), False, id="empty-path-list-matches-nothing"),
]


@pytest.mark.parametrize(("the_rule", "the_request", "matches"), MATCHES)
def test_methods_hosts_and_omitted_keys(the_rule: Rule, the_request: OriginalRequest, matches: bool) -> None:
    rules = RuleSet(config(the_rule))
    if matches:
        assert rules.match(the_request) is the_rule
    else:
        with pytest.raises(RouteDenied):
            rules.match(the_request)


SPEC_RULES = (
    rule("public", paths=("/healthz", "/public/**"), methods={"GET", "HEAD"}, access=Access.ANONYMOUS),
    rule("orders-read", paths=("/orders/**",), methods={"GET"}, access=Access.ALL_SCOPES, scopes=("read:orders",)),
    rule("admin", paths=("/**",), hosts={"admin.example.com"}, access=Access.ANY_SCOPE, scopes=("admin", "superuser")),
    rule("signed-in", paths=("/me/**",)),
)

FIRST_MATCH = [
    pytest.param(request("/public/x"), "public", id="public-path-anonymous"),
    pytest.param(request("/public/x", host="admin.example.com"), "public", id="earlier-rule-wins-over-admin-host"),
    pytest.param(request("/public/x", "POST"), None, id="public-path-wrong-method-denied"),
    pytest.param(request("/public/x", "POST", "admin.example.com"), "admin", id="falls-through-to-admin-host"),
    pytest.param(request("/orders/1"), "orders-read", id="orders-get"),
    pytest.param(request("/orders/1", "DELETE"), None, id="orders-delete-denied-by-default"),
    pytest.param(request("/me"), "signed-in", id="me-bare"),
    pytest.param(request("/me/settings", host="admin.example.com"), "admin", id="admin-host-before-signed-in"),
    pytest.param(request("/other"), None, id="unmatched-denied"),
]


@pytest.mark.parametrize(("the_request", "expected"), FIRST_MATCH)
def test_first_match_wins_spec_example(the_request: OriginalRequest, expected: str | None) -> None:
    rules = RuleSet(config(*SPEC_RULES))
    if expected is None:
        with pytest.raises(RouteDenied):
            rules.match(the_request)
    else:
        assert rules.match(the_request).name == expected


def test_order_decides_between_overlapping_rules() -> None:
    narrow = rule("narrow", paths=("/a/b",), access=Access.ANONYMOUS)
    broad = rule("broad", paths=("/a/**",))
    assert RuleSet(config(narrow, broad)).match(request("/a/b")) is narrow
    assert RuleSet(config(broad, narrow)).match(request("/a/b")) is broad


def test_default_deny_raises_route_denied_403() -> None:
    with pytest.raises(RouteDenied) as caught:
        RuleSet(config(rule("only", paths=("/a",)))).match(request("/b"))
    assert caught.value.status == 403
    assert caught.value.code == "auth.route_denied"
    assert caught.value.www_authenticate() is None


def test_no_rules_default_deny() -> None:
    with pytest.raises(RouteDenied):
        RuleSet(config()).match(request("/"))


def test_default_authenticated_when_no_rule_matches() -> None:
    rules = RuleSet(config(rule("only", paths=("/a",), access=Access.ANONYMOUS), default="authenticated"))
    assert rules.match(request("/b")) is DEFAULT_AUTHENTICATED
    assert DEFAULT_AUTHENTICATED.access is Access.AUTHENTICATED
    assert rules.match(request("/a")).name == "only"


def test_same_request_twice_same_answer() -> None:
    rules = RuleSet(config(*SPEC_RULES))
    for _ in range(2):
        assert rules.match(request("/orders/1")).name == "orders-read"
        with pytest.raises(RouteDenied):
            rules.match(request("/other"))


def test_memo_keeps_method_and_host_apart() -> None:
    rules = RuleSet(config(*SPEC_RULES))
    assert rules.match(request("/public/x", "GET")).name == "public"
    with pytest.raises(RouteDenied):
        rules.match(request("/public/x", "POST"))
    assert rules.match(request("/public/x", "POST", "admin.example.com")).name == "admin"
    with pytest.raises(RouteDenied):
        rules.match(request("/public/x", "POST", None))
    assert rules.match(request("/public/x", "GET")).name == "public"


def test_memo_limit_does_not_change_answers() -> None:
    rules = RuleSet(config(rule("even", paths=("/even/**",))))
    count = 2 * rules_module._MEMO_LIMIT + 17
    for round_ in range(2):  # the second round runs after the memo has been full for a while
        for i in range(count):
            if i % 2 == 0:
                assert rules.match(request(f"/even/{i}")).name == "even", (round_, i)
            else:
                with pytest.raises(RouteDenied):
                    rules.match(request(f"/odd/{i}"))
    assert len(rules._memo) <= rules_module._MEMO_LIMIT


def test_a_flood_of_new_paths_keeps_a_path_in_use_remembered() -> None:
    """The memo drops the least recently used: a client sending endless new paths does not
    make every other request's rule be matched again."""
    rules = RuleSet(config(rule("orders", paths=("/orders/**",))))
    hot = rules.matching(request("/orders/1"))
    for i in range(3 * rules_module._MEMO_LIMIT):
        rules.matching(request(f"/flood/{i}"))
        assert rules.matching(request("/orders/1")) is hot, i  # the remembered answer itself


def identity(
    *scopes: str,
    issuer: str = ISSUER.issuer,
    audiences: tuple[str, ...] = ISSUER.audiences,
    claims: dict[str, object] | None = None,
) -> Identity:
    return Identity(
        subject="user-1",
        client_id="client-1",
        issuer=issuer,
        audiences=audiences,
        scopes=frozenset(scopes),
        claims=claims or {},
        headers=(),
    )


ALL = rule("r", access=Access.ALL_SCOPES, scopes=("read:orders", "write:orders"))
ANY = rule("r", access=Access.ANY_SCOPE, scopes=("admin", "superuser"))

AUTHORIZED = [
    pytest.param(ALL, identity("read:orders", "write:orders"), id="all-scopes-held"),
    pytest.param(ALL, identity("read:orders", "write:orders", "profile"), id="all-scopes-held-plus-others"),
    pytest.param(ANY, identity("admin"), id="any-scope-first"),
    pytest.param(ANY, identity("superuser", "profile"), id="any-scope-second"),
    pytest.param(ANY, identity("admin", "superuser"), id="any-scope-both"),
    pytest.param(rule("r"), identity(), id="authenticated-needs-no-scope"),
    pytest.param(rule("r", access=Access.ANONYMOUS), identity(), id="anonymous-needs-no-scope"),
]


@pytest.mark.parametrize(("the_rule", "the_identity"), AUTHORIZED)
def test_authorize_allows(the_rule: Rule, the_identity: Identity) -> None:
    assert authorize(the_rule, the_identity) is None


REFUSED = [
    pytest.param(
        ALL,
        identity("read:orders"),
        "The token lacks the scope write:orders.",
        id="all-scopes-one-missing-403-names-it",
    ),
    pytest.param(
        ALL, identity(), "The token lacks the scope read:orders write:orders.", id="all-scopes-none-held-403-names-both"
    ),
    pytest.param(
        ALL,
        identity("read:orders:extra", "Write:Orders"),
        "The token lacks the scope read:orders write:orders.",
        id="all-scopes-exact-and-case-sensitive-403",
    ),
    pytest.param(
        ANY, identity("profile"), "The token needs one of the scopes admin superuser.", id="any-scope-none-held-403"
    ),
    pytest.param(ANY, identity(), "The token needs one of the scopes admin superuser.", id="any-scope-no-scopes-403"),
    pytest.param(
        ANY, identity("Admin"), "The token needs one of the scopes admin superuser.", id="any-scope-case-sensitive-403"
    ),
]


@pytest.mark.parametrize(("the_rule", "the_identity", "message"), REFUSED)
def test_authorize_refuses_with_insufficient_scope(the_rule: Rule, the_identity: Identity, message: str) -> None:
    with pytest.raises(InsufficientScope) as caught:
        authorize(the_rule, the_identity)
    assert caught.value.message == message
    assert caught.value.required == the_rule.scopes
    assert caught.value.status == 403
    assert caught.value.code == "auth.insufficient_scope"
    assert f'scope="{" ".join(the_rule.scopes)}"' in caught.value.www_authenticate()


OTHER_ISSUER = "https://other.example.com"
ON_ROUTE = [
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, issuers=frozenset({ISSUER.issuer})),
        identity(),
        None,
        None,
        id="rule-issuer-matches-ok",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, issuers=frozenset({OTHER_ISSUER})),
        identity(),
        InvalidToken,
        "route_issuer_not_accepted",
        id="rule-issuer-differs-401",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, audiences=frozenset({"https://b"})),
        identity(audiences=("https://a", "https://b")),
        None,
        None,
        id="rule-audience-one-of-token-auds-ok",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, audiences=frozenset({"https://c"})),
        identity(audiences=("https://a", "https://b")),
        InvalidToken,
        "route_audience_not_accepted",
        id="rule-audience-none-of-token-auds-401",
    ),
    pytest.param(
        Rule("r", Match(), Access.ALL_SCOPES, scopes=("admin",), issuers=frozenset({OTHER_ISSUER})),
        identity(),
        InvalidToken,
        "route_issuer_not_accepted",
        id="wrong-issuer-401-before-scope-403",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, claims=(ClaimRequirement("roles", ("admin",)),)),
        identity(claims={"roles": ["user", "admin"]}),
        None,
        None,
        id="claim-requirement-met-ok",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, claims=(ClaimRequirement("roles", ("admin",)),)),
        identity(claims={"roles": ["user"]}),
        InsufficientClaims,
        "insufficient_claims",
        id="claim-requirement-unmet-403",
    ),
    pytest.param(
        Rule("r", Match(), Access.AUTHENTICATED, claims=(ClaimRequirement("roles", ("admin",)),)),
        identity(),
        InsufficientClaims,
        "insufficient_claims",
        id="claim-requirement-missing-claim-403",
    ),
]


@pytest.mark.parametrize(("the_rule", "the_identity", "denial", "reason"), ON_ROUTE)
def test_authorize_rule_issuers_audiences_and_claims(
    the_rule: Rule, the_identity: Identity, denial: type[Denial] | None, reason: str | None
) -> None:
    if denial is None:
        assert authorize(the_rule, the_identity) is None
        return
    with pytest.raises(Denial) as caught:
        authorize(the_rule, the_identity)
    assert type(caught.value) is denial
    assert caught.value.reason == reason
    assert caught.value.status == (401 if denial is InvalidToken else 403)
