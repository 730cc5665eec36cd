"""The config file: what a valid file becomes, and how each mistake is reported."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Literal

import pytest

from authcheck.config.file import ConfigError, Problem, load_config, parse_config
from authcheck.config.lint import config_warnings, summarize
from authcheck.config.model import ASYMMETRIC_ALGORITHMS, Access, CacheConfig, Config, IssuerConfig, Match, Rule

CONFIGS = Path(__file__).parent / "configs"

# What tests/configs/full.yaml and full.toml both describe.
FULL = Config(
    issuers=(
        IssuerConfig("https://tenant.logto.app/oidc", ("https://api.example.com",)),
        IssuerConfig(
            "https://keycloak.example.com/realms/main",
            ("account",),
            jwks_uri="https://keycloak.example.com/realms/main/protocol/openid-connect/certs",
            algorithms=("RS256", "PS256"),
            leeway=0,
            scope_claim="scp",
            token_type="at+jwt",
            refresh=10,
            max_stale=604800,
        ),
    ),
    rules=(
        Rule("public", Match(paths=("/healthz", "/public/**"), methods=frozenset({"GET", "HEAD"})), Access.ANONYMOUS),
        Rule(
            "orders-read", Match(paths=("/orders/**",), methods=frozenset({"GET"})), Access.ALL_SCOPES, ("read:orders",)
        ),
        Rule(
            "admin",
            Match(paths=("/**",), hosts=frozenset({"admin.example.com"})),
            Access.ANY_SCOPE,
            ("admin", "superuser"),
        ),
        Rule("signed-in", Match(paths=("/me/**",)), Access.AUTHENTICATED),
    ),
    default="deny",
    headers=(("X-Auth-Email", "email"), ("X-Tenant", "tenant_id")),
    ingress="traefik",
    cache=CacheConfig(max_entries=0, max_ttl=86400),
)

# A minimal valid issuer: lines 1-3 of every YAML case below.
ISSUER = "issuers:\n  - issuer: https://tenant.logto.app/oidc\n    audiences: [https://api.example.com]\n"


def issuer_with(line: str) -> str:
    """The minimal issuer with one more key, on line 4."""
    return ISSUER + f"    {line}\n"


def rule(*lines: str) -> str:
    """The minimal issuer and one rule: `rules:` is line 4, the rule's lines are 5, 6, ..."""
    return ISSUER + "rules:\n  - " + "\n    ".join(lines) + "\n"


def top(*lines: str) -> str:
    """The minimal issuer and top-level lines from line 4."""
    return ISSUER + "".join(f"{line}\n" for line in lines)


def load_error(path: Path) -> ConfigError:
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.source == str(path)
    return caught.value


def problems_in(tmp_path: Path, text: str, name: str = "authcheck.yaml") -> list[Problem]:
    path = tmp_path / name
    path.write_text(text)
    return load_error(path).problems


# ---------------------------------------------------------------------------- valid files


@pytest.mark.parametrize("name", ["full.yaml", "full.toml"], ids=["yaml", "toml"])
def test_full_config_parses_to_the_expected_objects(name: str) -> None:
    path = CONFIGS / name
    assert load_config(path) == dataclasses.replace(FULL, source=str(path))


def test_minimal_config_gets_the_documented_defaults() -> None:
    config = parse_config({"issuers": [{"issuer": "https://a.example/", "audiences": "api"}]}, "mem")
    assert config == Config(issuers=(IssuerConfig("https://a.example/", ("api",)),), rules=(), source="mem")
    assert config.issuers[0].algorithms == ASYMMETRIC_ALGORITHMS


def test_empty_rule_list_and_match_everything_are_accepted() -> None:
    data = {
        "issuers": [{"issuer": "https://a.example", "audiences": ["api"]}],
        "rules": [{"name": "all", "match": {}, "allow": "authenticated"}],
        "default": "authenticated",
    }
    config = parse_config(data, "mem")
    assert config.rules == (Rule("all", Match(), Access.AUTHENTICATED),)
    assert parse_config({**data, "rules": []}, "mem").rules == ()


@pytest.mark.parametrize(
    ("written", "matched"),
    [
        ("API.Example.COM", "api.example.com"),
        ("api.example.com.", "api.example.com"),
        ("[0:0:0:0:0:0:0:1]", "[::1]"),
        ("[2001:DB8::1]", "[2001:db8::1]"),
    ],
    ids=["upper-case", "trailing-dot", "ipv6-long-form", "ipv6-upper-case"],
)
def test_hosts_are_normalized_like_the_request_host(written: str, matched: str) -> None:
    data = {
        "issuers": [{"issuer": "https://a.example", "audiences": ["api"]}],
        "rules": [{"name": "r", "match": {"hosts": [written]}, "allow": "anonymous"}],
    }
    assert parse_config(data).rules[0].match.hosts == frozenset({matched})


def test_config_file_suffix_is_case_insensitive(tmp_path: Path) -> None:
    path = tmp_path / "authcheck.TOML"
    path.write_text((CONFIGS / "full.toml").read_text())
    assert load_config(path).rules == FULL.rules


# ---------------------------------------------------------------------------- one mistake each

INVALID = [
    # issuers
    pytest.param("rules: []\n", "issuers", 1, ["is missing", "- issuer: https://"], id="issuers-missing"),
    pytest.param("issuers: []\n", "issuers", 1, ["empty list", "add an issuer"], id="issuers-empty"),
    pytest.param(
        "issuers:\n  issuer: https://a.example\n",
        "issuers",
        1,
        ["must be a list", "got a mapping"],
        id="issuers-not-a-list",
    ),
    pytest.param(
        "issuers:\n  - issuer: tenant.logto.app/oidc\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["not an https://", "write it like issuer: https://"],
        id="issuer-without-scheme",
    ),
    pytest.param(
        "issuers:\n  - issuer: ftp://tenant.example\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["not an https://"],
        id="issuer-other-scheme",
    ),
    pytest.param(
        "issuers:\n  - issuer: https://t.example/oidc?x=1\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["query or fragment", "openid-configuration"],
        id="issuer-with-query",
    ),
    pytest.param(
        "issuers:\n  - issuer: 'https://'\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["with a host"],
        id="issuer-without-host",
    ),
    pytest.param(
        "issuers:\n  - issuer: 'http://[::1'\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["not an https://"],
        id="issuer-broken-ipv6",
    ),
    pytest.param(
        "issuers:\n  - issuer: 'https://t.example:99999'\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["not an https://"],
        id="issuer-port-out-of-range",
    ),
    pytest.param(
        "issuers:\n  - issuer: 42\n    audiences: [api]\n",
        "issuers[0].issuer",
        2,
        ["must be a string, got a number"],
        id="issuer-not-a-string",
    ),
    pytest.param(
        ISSUER + "  - issuer: https://tenant.logto.app/oidc\n    audiences: [other]\n",
        "issuers[1].issuer",
        4,
        ["already used by issuers[0]", "merge"],
        id="issuer-duplicate",
    ),
    pytest.param(
        "issuers:\n  - issuer: https://t.example\n",
        "issuers[0].audiences",
        2,
        ["is missing", "aud"],
        id="audiences-missing",
    ),
    pytest.param(
        "issuers:\n  - issuer: https://t.example\n    audiences: []\n",
        "issuers[0].audiences",
        3,
        ["empty list"],
        id="audiences-empty",
    ),
    pytest.param(
        "issuers:\n  - issuer: https://t.example\n    audiences: [api, '']\n",
        "issuers[0].audiences[1]",
        3,
        ["is empty"],
        id="audience-empty-string",
    ),
    pytest.param(issuer_with("jwks_uri: /jwks"), "issuers[0].jwks_uri", 4, ["not an https://"], id="jwks-uri-relative"),
    pytest.param(
        issuer_with("algorithms: [none]"),
        "issuers[0].algorithms[0]",
        4,
        ['"none" is refused', "no signature", "ES384"],
        id="algorithm-none",
    ),
    pytest.param(
        issuer_with("algorithms: [ES384, HS256]"),
        "issuers[0].algorithms[1]",
        4,
        ['"HS256" is refused', "HMAC", "public key", "forge"],
        id="algorithm-hmac",
    ),
    pytest.param(
        issuer_with("algorithms: [es384]"),
        "issuers[0].algorithms[0]",
        4,
        ['did you mean "ES384"'],
        id="algorithm-wrong-case",
    ),
    pytest.param(
        issuer_with("algorithms: [RS999]"),
        "issuers[0].algorithms[0]",
        4,
        ["not a supported algorithm", "EdDSA"],
        id="algorithm-unknown",
    ),
    pytest.param(
        issuer_with("algorithms: []"),
        "issuers[0].algorithms",
        4,
        ["empty list", "remove the key"],
        id="algorithms-empty",
    ),
    pytest.param(
        issuer_with("algorithms: ES384"),
        "issuers[0].algorithms",
        4,
        ["must be a list", "[ES384]"],
        id="algorithms-not-a-list",
    ),
    pytest.param(
        issuer_with("leeway: true"),
        "issuers[0].leeway",
        4,
        ["got a boolean", "from 0 to 300"],
        id="leeway-boolean-is-not-a-number",
    ),
    pytest.param(issuer_with("leeway: 1.5"), "issuers[0].leeway", 4, ["whole number"], id="leeway-decimal"),
    pytest.param(
        issuer_with("leeway: 301"), "issuers[0].leeway", 4, ["is 301", "from 0 to 300"], id="leeway-too-large"
    ),
    pytest.param(issuer_with("leeway: -1"), "issuers[0].leeway", 4, ["is -1"], id="leeway-negative"),
    pytest.param(issuer_with("leeway:"), "issuers[0].leeway", 4, ["null", "remove the key"], id="leeway-null"),
    pytest.param(issuer_with("refresh: 9"), "issuers[0].refresh", 4, ["from 10 to 86400"], id="refresh-too-small"),
    pytest.param(
        issuer_with("max_stale: 604801"), "issuers[0].max_stale", 4, ["from 0 to 604800"], id="max-stale-too-large"
    ),
    pytest.param(
        issuer_with("scope_claim: ''"), "issuers[0].scope_claim", 4, ["is empty", "scp"], id="scope-claim-empty"
    ),
    pytest.param(
        issuer_with("token_type: [at+jwt]"),
        "issuers[0].token_type",
        4,
        ["must be a string"],
        id="token-type-not-a-string",
    ),
    pytest.param(
        issuer_with("scope_clam: scp"),
        "issuers[0].scope_clam",
        4,
        ["unknown key", 'did you mean "scope_claim"'],
        id="issuer-key-typo",
    ),
    pytest.param(
        issuer_with("name: x"), "issuers[0].name", 4, ["a rule", "indentation"], id="issuer-key-from-elsewhere"
    ),
    # rules
    pytest.param(
        rule("name: r", "match: {}"),
        "rules[0]",
        5,
        ["none of allow, scopes, any_scopes", "exactly one"],
        id="rule-without-access",
    ),
    pytest.param(
        rule("name: r", "match: {}", "allow: anonymous", "scopes: [a]"),
        "rules[0]",
        5,
        ["both allow and scopes", "exactly one"],
        id="rule-with-two-accesses",
    ),
    pytest.param(
        rule("match: {}", "allow: anonymous"), "rules[0].name", 5, ["is missing", "name"], id="rule-name-missing"
    ),
    pytest.param(
        rule("name: ''", "match: {}", "allow: anonymous"), "rules[0].name", 5, ["is empty"], id="rule-name-empty"
    ),
    pytest.param(
        rule("name: r", "match: {}", "allow: anonymous") + "  - name: r\n    match: {}\n    scopes: [a]\n",
        "rules[1].name",
        8,
        ['"r" is already used by rules[0]'],
        id="rule-name-duplicate",
    ),
    pytest.param(
        rule("name: r", "allow: anonymous"), "rules[0].match", 5, ["is missing", "match: {}"], id="rule-match-missing"
    ),
    pytest.param(
        rule("name: r", "match:", "  # paths: [/admin/**]", "allow: anonymous"),
        "rules[0].match",
        6,
        ["null", "match: {}"],
        id="rule-match-null-is-not-match-all",
    ),
    pytest.param(
        ISSUER + "rules:\n  - name: r\n    match: {}\n    allow: anonymous\n    paths: [/x]\n",
        "rules[0].paths",
        8,
        ["match", "indentation"],
        id="match-key-outside-match",
    ),
    pytest.param(
        rule("name: r", "match: {paths: [/x], allow: anonymous}", "scopes: [a]"),
        "rules[0].match.allow",
        6,
        ["a rule", "indentation"],
        id="rule-key-inside-match",
    ),
    pytest.param(
        rule("name: r", "match: {path: [/x]}", "allow: anonymous"),
        "rules[0].match.path",
        6,
        ['did you mean "paths"'],
        id="match-key-typo",
    ),
    pytest.param(
        rule("name: r", "match: {paths: []}", "allow: anonymous"),
        "rules[0].match.paths",
        6,
        ["empty list", "remove `paths`"],
        id="paths-empty",
    ),
    pytest.param(
        rule("name: r", "match: {paths: [orders/**]}", "allow: anonymous"),
        "rules[0].match.paths[0]",
        6,
        ["does not start with /", '"/orders/**"'],
        id="path-without-slash",
    ),
    pytest.param(
        rule("name: r", "match: {paths: [/a, '/b/x?']}", "allow: anonymous"),
        "rules[0].match.paths[1]",
        6,
        ["only *, ** and whole-segment {name} captures are wildcards"],
        id="path-question-mark",
    ),
    pytest.param(
        rule("name: r", "match: {paths: ['/a/{b,c}']}", "allow: anonymous"),
        "rules[0].match.paths[0]",
        6,
        ["only *, **"],
        id="path-braces",
    ),
    pytest.param(
        rule("name: r", "match: {paths: ['/a**']}", "allow: anonymous"),
        "rules[0].match.paths[0]",
        6,
        ["whole segment"],
        id="path-double-star-in-segment",
    ),
    pytest.param(
        rule("name: r", "match: {paths: [/a/../b]}", "allow: anonymous"),
        "rules[0].match.paths[0]",
        6,
        ["never match", "normalized"],
        id="path-dot-segment",
    ),
    pytest.param(
        rule("name: r", "match: {paths: [/a//b]}", "allow: anonymous"),
        "rules[0].match.paths[0]",
        6,
        ["never match"],
        id="path-double-slash",
    ),
    pytest.param(
        rule("name: r", "match: {methods: [GET, 'PUT POST']}", "allow: anonymous"),
        "rules[0].match.methods[1]",
        6,
        ["not an HTTP method", "one method per list item"],
        id="method-with-space",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['https://api.example.com']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["not a bare host name", "drop the scheme"],
        id="host-with-scheme",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['api.example.com:8443']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["has a port", "drop it"],
        id="host-with-port",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['*.example.com']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["wildcard", "list each host"],
        id="host-wildcard",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['::1']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["has a port", "[::1]"],
        id="host-ipv6-without-brackets",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['[::g]']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["not an IPv6 address"],
        id="host-bad-ipv6",
    ),
    pytest.param(
        rule("name: r", "match: {hosts: ['bad host']}", "allow: anonymous"),
        "rules[0].match.hosts[0]",
        6,
        ["not a valid host name"],
        id="host-invalid",
    ),
    pytest.param(
        rule("name: r", "match: {}", "allow: authenticatd"),
        "rules[0].allow",
        7,
        ['did you mean "authenticated"'],
        id="allow-typo",
    ),
    pytest.param(
        rule("name: r", "match: {}", "allow: everyone"),
        "rules[0].allow",
        7,
        ["use one of anonymous, authenticated"],
        id="allow-unknown",
    ),
    pytest.param(
        rule("name: r", "match: {}", "scopes: read:orders"),
        "rules[0].scopes",
        7,
        ["must be a list, got a string", "[read:orders]"],
        id="scopes-string",
    ),
    pytest.param(
        rule("name: r", "match: {}", "scopes: [read:orders write:orders]"),
        "rules[0].scopes[0]",
        7,
        ["whitespace", "one scope per list item"],
        id="scope-with-space",
    ),
    pytest.param(
        rule("name: r", "match: {}", "any_scopes: []"),
        "rules[0].any_scopes",
        7,
        ["empty list", "allow: authenticated"],
        id="any-scopes-empty",
    ),
    pytest.param(ISSUER + "rules:\n  name: r\n", "rules", 4, ["must be a list"], id="rules-not-a-list"),
    pytest.param(ISSUER + "rules:\n  - just-a-name\n", "rules[0]", 5, ["must be a mapping"], id="rule-not-a-mapping"),
    # the other top-level keys
    pytest.param(top("default: anonymous"), "default", 4, ["refused", "allow: anonymous"], id="default-anonymous"),
    pytest.param(top("default: denied"), "default", 4, ['did you mean "deny"'], id="default-typo"),
    pytest.param(top("ingress: nginx-ingress"), "ingress", 4, ["not allowed", "ingress-nginx"], id="ingress-unknown"),
    pytest.param(top("ingress: Traefik"), "ingress", 4, ['did you mean "traefik"'], id="ingress-wrong-case"),
    pytest.param(
        top("headers:", "  Authorization: sub"),
        "headers.Authorization",
        5,
        ["must start with X-", "X-Authorization"],
        id="header-without-x-prefix",
    ),
    pytest.param(
        top("headers:", "  x-auth-subject: sub"),
        "headers.x-auth-subject",
        5,
        ["built-in identity header X-Auth-Subject"],
        id="header-is-identity-header",
    ),
    pytest.param(
        top("headers:", "  X-Auth-Organization-Id: org"),
        "headers.X-Auth-Organization-Id",
        5,
        ["built-in"],
        id="header-is-organization-header",
    ),
    pytest.param(
        top("headers:", "  X-Forwarded-Host: host"),
        "headers.X-Forwarded-Host",
        5,
        ["proxies use", "pick another name"],
        id="header-is-a-proxy-header",
    ),
    pytest.param(
        top("headers:", "  x-envoy-auth-headers-to-remove: sub"),
        "headers.x-envoy-auth-headers-to-remove",
        5,
        ["proxies use"],
        id="header-steers-envoy",
    ),
    pytest.param(
        top("headers:", "  X-Email: email", "  x-email: mail"),
        "headers.x-email",
        6,
        ["same header as X-Email", "keep only one"],
        id="headers-differ-only-in-case",
    ),
    pytest.param(
        top("headers:", "  X Email: email"),
        'headers["X Email"]',
        5,
        ["not a valid HTTP header name"],
        id="header-not-a-token",
    ),
    pytest.param(
        top("headers:", "  X-Email: [email]"),
        "headers.X-Email",
        5,
        ["must be a string"],
        id="header-claim-not-a-string",
    ),
    pytest.param(
        top("headers: [X-Email]"),
        "headers",
        4,
        ["must be a mapping", "X-Auth-Email: email"],
        id="headers-not-a-mapping",
    ),
    pytest.param(
        top("cache: {max_entries: -1}"), "cache.max_entries", 4, ["from 0 to 10000000"], id="cache-max-entries-negative"
    ),
    pytest.param(top("cache: {max_ttl: 0}"), "cache.max_ttl", 4, ["from 1 to 86400"], id="cache-max-ttl-zero"),
    pytest.param(top("cache: {ttl: 60}"), "cache.ttl", 4, ['did you mean "max_ttl"'], id="cache-key-typo"),
    pytest.param(top("rule: []"), "rule", 4, ['did you mean "rules"'], id="top-level-key-typo"),
    pytest.param(top("Default: deny"), "Default", 4, ['did you mean "default"'], id="top-level-key-capitalised"),
    pytest.param(top("audiences: [api]"), "audiences", 4, ["an issuer", "indentation"], id="issuer-key-at-top-level"),
    pytest.param(
        top("colour: blue"), "colour", 4, ["unknown key", "issuers, rules, default"], id="top-level-key-unknown"
    ),
    pytest.param(
        top("rules: []", "rules: []"), "rules", 5, ["given twice", "line 4", "merge"], id="yaml-duplicate-key"
    ),
]


@pytest.mark.parametrize(("text", "location", "line", "words"), INVALID)
def test_mistake_is_reported_at_its_key_and_line_with_a_fix(
    tmp_path: Path, text: str, location: str, line: int, words: list[str]
) -> None:
    [problem] = problems_in(tmp_path, text)
    assert (problem.location, problem.line) == (location, line)
    assert "; " in problem.message  # "<what is wrong>; <the fix>"
    for word in words:
        assert word in problem.message


def test_error_text_names_file_line_and_key_on_each_line(tmp_path: Path) -> None:
    path = tmp_path / "authcheck.yaml"
    path.write_text(issuer_with("leeway: true") + "default: open\n")
    assert str(load_error(path)).splitlines() == [
        f"{path}:4: issuers[0].leeway: must be a whole number of seconds, got a boolean; write a number from 0 to 300",
        f'{path}:5: default: "open" is not allowed here; use one of deny, authenticated',
    ]


def test_every_problem_is_reported_at_once() -> None:
    error = load_error(CONFIGS / "many-problems.yaml")
    assert [(problem.line, problem.location) for problem in error.problems] == [
        (2, "issuers[0].issuer"),
        (4, "issuers[0].algorithms[0]"),
        (9, "rules[0].match.method"),
        (10, "rules[0].scopes"),
        (11, "rules[1].name"),
        (14, "defualt"),
    ]


# ---------------------------------------------------------------------------- TOML


def test_toml_problem_has_a_key_path_and_no_line(tmp_path: Path) -> None:
    text = '[[issuers]]\nissuer = "https://t.example"\naudiences = ["api"]\nleeway = true\n'
    path = tmp_path / "authcheck.toml"
    path.write_text(text)
    error = load_error(path)
    assert error.problems == [Problem("issuers[0].leeway", error.problems[0].message)]
    assert str(error).startswith(f"{path}: issuers[0].leeway: must be a whole number")


def test_toml_syntax_error_gives_its_line(tmp_path: Path) -> None:
    [problem] = problems_in(tmp_path, '[[issuers]]\nissuer = "https://t.example"\naudiences = [api]\n', "a.toml")
    assert (problem.location, problem.line) == ("", 3)
    assert "TOML syntax error" in problem.message and "(at line" not in problem.message


# ---------------------------------------------------------------------------- never a traceback

UNREADABLE = [
    pytest.param(b"", "", None, "the file is empty", id="empty-file"),
    pytest.param(b"# nothing but a comment\n", "", None, "the file is empty", id="only-comments"),
    pytest.param(b"- issuers\n", "", 1, "top level is a list, not a mapping", id="list-at-top-level"),
    pytest.param(b"just words\n", "", 1, "top level is a string", id="string-at-top-level"),
    pytest.param(bytes(range(256)) * 4, "", None, "not UTF-8 text", id="binary-file"),
    pytest.param(b"\x00\x01\x02garbage", "", None, "character YAML does not allow", id="control-characters"),
    pytest.param(b"issuers:\n  - issuer: x\n   audiences: y\n", "", 3, "YAML syntax error", id="bad-indentation"),
    pytest.param(b"a: 1\n---\nb: 2\n", "", 2, "single document", id="several-documents"),
    pytest.param(b"issuers: !!python/object/apply:os.system [true]\n", "", 1, "constructor", id="python-tag"),
    pytest.param(b"[" * 5000 + b"]" * 5000, "", None, "nested too deeply", id="deep-nesting"),
    pytest.param(b"issuers: &a [*a]\n", "issuers[0]", 1, "must be a mapping", id="recursive-alias"),
]


@pytest.mark.parametrize(("content", "location", "line", "words"), UNREADABLE)
def test_garbage_gives_one_problem(tmp_path: Path, content: bytes, location: str, line: int | None, words: str) -> None:
    path = tmp_path / "authcheck.yaml"
    path.write_bytes(content)
    error = load_error(path)
    [problem] = error.problems
    assert (problem.location, problem.line) == (location, line)
    assert words in problem.message
    assert "\n" not in str(error) and str(error).startswith(str(path))


def test_missing_file_says_where_to_look(tmp_path: Path) -> None:
    [problem] = load_error(tmp_path / "nope.yaml").problems
    assert problem == Problem("", "file not found; check the --config path (or AUTHCHECK_CONFIG)")


def test_unreadable_file_gives_one_problem(tmp_path: Path) -> None:
    [problem] = load_error(tmp_path).problems
    assert "cannot read the file" in problem.message


def test_parse_config_reports_without_lines() -> None:
    with pytest.raises(ConfigError) as caught:
        parse_config({"issuers": [{"issuer": "https://t.example", "audiences": 3}]}, "inline")
    assert str(caught.value) == (
        "inline: issuers[0].audiences: must be a list, got a number; write it like audiences: [https://api.example.com]"
    )


# ---------------------------------------------------------------------------- lint


def config(
    *rules: Rule,
    issuer: str = "https://t.example",
    jwks_uri: str | None = None,
    default: Literal["deny", "authenticated"] = "deny",
) -> Config:
    return Config(issuers=(IssuerConfig(issuer, ("api",), jwks_uri=jwks_uri),), rules=rules, default=default)


ANYONE = Rule("r", Match(paths=("/x/**",)), Access.ANONYMOUS)


@pytest.mark.parametrize(
    "issuer",
    [
        "https://auth.example.com",
        "http://localhost:3001/oidc",
        "http://127.0.0.1/oidc",
        "http://127.8.9.1/oidc",
        "http://[::1]:3001/oidc",
    ],
    ids=["https", "localhost", "127.0.0.1", "127.0.0.0/8", "ipv6-loopback"],
)
def test_https_or_loopback_issuer_gives_no_warning(issuer: str) -> None:
    assert config_warnings(config(ANYONE, issuer=issuer)) == []


@pytest.mark.parametrize(
    ("issuer", "jwks_uri", "location"),
    [
        ("http://auth.internal/oidc", None, "issuers[0].issuer"),
        ("http://10.0.0.5/oidc", None, "issuers[0].issuer"),
        ("https://auth.example.com", "http://keys.internal/jwks", "issuers[0].jwks_uri"),
    ],
    ids=["http-host-name", "http-private-ip", "http-jwks-uri"],
)
def test_plain_http_off_loopback_is_warned(issuer: str, jwks_uri: str | None, location: str) -> None:
    [warning] = config_warnings(config(ANYONE, issuer=issuer, jwks_uri=jwks_uri))
    assert warning.startswith(f"{location}: ") and "https://" in warning


@pytest.mark.parametrize(
    "catch_all",
    [
        Match(paths=("/**",)),
        Match(paths=("/a", "/**")),
        Match(),
    ],
    ids=["double-star", "double-star-among-others", "empty-match"],
)
def test_rule_after_a_catch_all_is_warned(catch_all: Match) -> None:
    rules = (ANYONE, Rule("all", catch_all, Access.AUTHENTICATED), Rule("late", Match(paths=("/y",)), Access.ANONYMOUS))
    [warning] = config_warnings(config(*rules))
    assert warning.startswith("rules[2] (late): never matches") and "rules[1] (all)" in warning


@pytest.mark.parametrize(
    "narrowed",
    [
        Match(paths=("/**",), methods=frozenset({"GET"})),
        Match(paths=("/**",), hosts=frozenset({"a.example"})),
        Match(paths=("/x/a/**",)),
    ],
    ids=["methods", "hosts", "narrower-path"],
)
def test_rule_after_a_narrowed_rule_is_not_warned(narrowed: Match) -> None:
    rules = (Rule("first", narrowed, Access.AUTHENTICATED), ANYONE)
    assert config_warnings(config(*rules)) == []


def test_default_authenticated_is_noted() -> None:
    [warning] = config_warnings(config(ANYONE, default="authenticated"))
    assert warning.startswith("default: authenticated: ") and "any valid token" in warning


def test_no_rules_with_default_deny_is_noted() -> None:
    [warning] = config_warnings(config())
    assert "every request is answered 403" in warning


def test_full_example_has_no_warnings() -> None:
    assert config_warnings(FULL) == []


# ---------------------------------------------------------------------------- summary


def test_summary_lists_issuers_rules_default_and_ingress() -> None:
    assert summarize(dataclasses.replace(FULL, source="authcheck.yaml")).splitlines() == [
        "authcheck.yaml: OK",
        "  issuers (2): https://tenant.logto.app/oidc, https://keycloak.example.com/realms/main",
        "  rules (4, first match decides):",
        "    public: no token needed (anonymous)",
        "    orders-read: a valid token, with scope read:orders",
        "    admin: a valid token, with scope admin or superuser",
        "    signed-in: a valid token",
        "  default: deny",
        "  ingress: traefik",
        "  headers: X-Auth-Email <- email, X-Tenant <- tenant_id",
    ]
