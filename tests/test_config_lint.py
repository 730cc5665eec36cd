"""`authcheck check`'s lint: exact glob containment, shadowed rules, unused captures (pure)."""

from __future__ import annotations

import itertools
import re
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from authcheck.config.containment import hosts_contained, paths_contained
from authcheck.config.file import parse_config
from authcheck.config.lint import config_warnings
from authcheck.core.captures import host_regex, path_glob_regex

ISSUER = {"issuer": "https://tenant.logto.app/oidc", "audiences": ["https://api.example.com"]}

PATHS = [
    pytest.param(["/a/*/b"], ["/a/**"], True, id="double-star-covers-star-then-literal"),
    pytest.param(["/a/**"], ["/a/*"], False, id="star-does-not-cover-double-star"),
    pytest.param(["/x", "/y/z/", "/"], ["/**"], True, id="catch-all-covers-everything"),
    pytest.param(None, ["/**"], True, id="catch-all-covers-no-paths-key"),
    pytest.param(None, ["/a/**"], False, id="prefix-does-not-cover-every-path"),
    pytest.param(["/{x}"], ["/*"], True, id="star-covers-capture"),
    pytest.param(["/*"], ["/{x}"], False, id="capture-does-not-cover-star-which-matches-empty"),
    pytest.param(["/{x}/**"], ["/{y}/**"], True, id="capture-names-do-not-matter"),
    pytest.param(["/a"], ["/a/**"], True, id="double-star-matches-zero-segments"),
    pytest.param(["/ab"], ["/a/**"], False, id="double-star-is-not-a-string-prefix"),
    pytest.param(["/a/"], ["/a/*"], True, id="star-matches-empty-segment"),
    pytest.param(["/a/b*"], ["/a/*"], True, id="star-covers-star-with-prefix"),
    pytest.param(["/a*"], ["/ab*"], False, id="longer-prefix-does-not-cover"),
    pytest.param(["/a/**"], ["/a", "/a/*", "/a/*/**"], True, id="union-covers-what-no-single-pattern-does"),
    pytest.param(["/a/**"], ["/a/*/**"], False, id="double-star-after-star-needs-a-segment"),
    pytest.param(["/**/x"], ["/**"], True, id="leading-double-star"),
    pytest.param(["/**"], ["/**/x"], False, id="suffix-does-not-cover-all"),
    pytest.param(["/a/*.js"], ["/a/*"], True, id="star-within-segment"),
    pytest.param(["/a/*"], ["/a/*.js"], False, id="suffix-within-segment-is-narrower"),
]


@pytest.mark.parametrize(("inner", "outer", "contained"), PATHS)
def test_path_containment(inner: list[str] | None, outer: list[str], contained: bool) -> None:
    assert paths_contained(inner, outer) is contained


@pytest.mark.parametrize(
    ("inner", "outer", "contained"),
    [
        (["a.example.com"], ["{t}.example.com"], True),
        (["{t}.example.com"], ["{x}.example.com"], True),
        (["{t}.example.com"], ["a.example.com"], False),
        (["a.b.example.com"], ["{t}.example.com"], False),  # a capture is one label
        (["a.example.com", "b.example.com"], ["{t}.example.com"], True),
        (None, ["{t}.example.com"], False),  # no hosts key also matches requests without a host
        (["api.example.com"], None, True),
    ],
)
def test_host_containment(inner: list[str] | None, outer: list[str] | None, contained: bool) -> None:
    assert hosts_contained(inner, outer) is contained


SEGMENTS = st.sampled_from(["a", "b", "ab", "*", "a*", "*b", "**", "{x}", "{y}", ""])
GLOBS = (
    st.lists(SEGMENTS, min_size=1, max_size=4, unique_by=lambda s: s if s.startswith("{") else object())
    .map(lambda parts: "/" + "/".join(parts))
    .filter(lambda glob: not any("**" in s and s != "**" for s in glob.split("/")))
)
# Every path of one to five segments over these: long enough to tell any two globs above apart.
UNIVERSE = [
    "/" + "/".join(parts) for n in range(1, 6) for parts in itertools.product(["a", "b", "ab", "c", ""], repeat=n)
]


@settings(max_examples=200, deadline=None)
@given(GLOBS, GLOBS)
def test_containment_agrees_with_the_matcher(inner: str, outer: str) -> None:
    """Containment holds exactly when no path the inner glob matches escapes the outer one."""
    inner_re, outer_re = re.compile(path_glob_regex(inner)), re.compile(path_glob_regex(outer))
    escaping = [path for path in UNIVERSE if inner_re.fullmatch(path) and not outer_re.fullmatch(path)]
    assert paths_contained([inner], [outer]) is (not escaping), escaping[:3]


def test_host_capture_regex_is_one_label() -> None:
    assert re.fullmatch(host_regex("{t}.example.com"), "acme.example.com")
    assert not re.fullmatch(host_regex("{t}.example.com"), "a.b.example.com")


def warnings_of(rules: list[dict[str, Any]]) -> list[str]:
    return config_warnings(parse_config({"issuers": [ISSUER], "rules": rules}))


def test_shadowed_rule_names_both_rules() -> None:
    [warning] = warnings_of(
        [
            {"name": "api", "match": {"paths": ["/api/**"]}, "allow": "authenticated"},
            {"name": "api-items", "match": {"paths": ["/api/*/items"], "methods": ["GET"]}, "allow": "anonymous"},
        ]
    )
    assert warning.startswith("rules[1] (api-items): never matches") and "rules[0] (api)" in warning


def test_rule_narrowed_by_method_or_host_is_not_shadowed() -> None:
    assert not warnings_of(
        [
            {"name": "get", "match": {"paths": ["/**"], "methods": ["GET"]}, "allow": "authenticated"},
            {"name": "tenant", "match": {"paths": ["/**"], "hosts": ["{_t}.example.com"]}, "allow": "authenticated"},
            {"name": "post", "match": {"paths": ["/x"], "methods": ["POST"]}, "allow": "anonymous"},
        ]
    )


def test_host_capture_shadows_a_listed_host() -> None:
    [warning] = warnings_of(
        [
            {"name": "tenants", "match": {"hosts": ["{t}.example.com"]}, "audiences": ["urn:t:{t}"]},
            {"name": "acme", "match": {"hosts": ["ACME.example.com"], "paths": ["/x"]}, "allow": "anonymous"},
        ]
    )
    assert "rules[1] (acme)" in warning and "rules[0] (tenants)" in warning


def test_report_only_rule_shadows_nothing_but_can_be_shadowed() -> None:
    warnings = warnings_of(
        [
            {"name": "trial", "report_only": True, "match": {"paths": ["/**"]}, "any_scopes": ["x"]},
            {"name": "all", "match": {}, "allow": "authenticated"},
            {"name": "late-trial", "report_only": True, "match": {"paths": ["/y"]}, "allow": "authenticated"},
        ]
    )
    assert len(warnings) == 1 and warnings[0].startswith("rules[2] (late-trial)") and "rules[1] (all)" in warnings[0]


def test_capture_never_used_is_warned() -> None:
    [warning] = warnings_of([{"name": "orgs", "match": {"paths": ["/orgs/{org}/**"]}, "allow": "authenticated"}])
    assert warning.startswith("rules[0] (orgs): match.paths[0] captures {org}") and "never uses it" in warning


def test_used_captures_are_not_warned() -> None:
    assert not warnings_of(
        [
            {
                "name": "orgs",
                "match": {"paths": ["/orgs/{org}/**"], "hosts": ["{tenant}.example.com"]},
                "claims": {"organization_id": "{org}"},
                "audiences": ["urn:example:tenant:{tenant}"],
            }
        ]
    )
