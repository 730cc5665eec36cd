"""read_personal, Personal.identity and anonymous_headers: the identity headers the proxy copies upstream (pure).

on_dropped is a plain list collector: every header left out for safety must be reported.
"""

from __future__ import annotations

from typing import Any

import pytest

from authcheck.core.identity import (
    BUILT_IN_HEADERS,
    ENVOY_REMOVE_HEADER,
    MAX_HEADER_VALUE_BYTES,
    Identity,
    Personal,
    anonymous_headers,
    dotted_spellings,
    read_personal,
)

ISSUER = "https://tenant.logto.app/oidc"
BUILT_IN = ["x-auth-subject", "x-auth-issuer", "x-auth-scopes", "x-auth-client-id", "x-auth-organization-id"]


AUDIENCE = "https://api.example.com"


def build(
    claims: dict[str, Any],
    claim_headers: tuple[tuple[str, str], ...] = (),
    scope_claim: str = "scope",
    claim_paths: frozenset[str] = frozenset(),
) -> tuple[Identity, list[tuple[str, str]]]:
    dropped: list[tuple[str, str]] = []
    parts = read_personal(
        {"iss": ISSUER, "aud": AUDIENCE, **claims},
        scope_claim,
        claim_headers,
        claim_paths,
        lambda name, why: dropped.append((name, why)),
    )
    identity = Personal(*parts).identity()
    return identity, dropped


def header_map(identity: Identity) -> dict[bytes, bytes]:
    names = [name for name, _ in identity.headers]
    assert len(names) == len(set(names)), "a header appears twice"
    return dict(identity.headers)


def remove_list(identity: Identity) -> list[str]:
    value = header_map(identity).get(ENVOY_REMOVE_HEADER)
    return [] if value is None else value.decode().split(",")


def removed(identity: Identity) -> set[str]:
    """The canonical names in the remove-list (the dotted spellings have their own tests)."""
    return {name for name in remove_list(identity) if "." not in name}


def test_full_identity() -> None:
    identity, dropped = build(
        {"sub": "user-1", "scope": "write:orders read:orders", "client_id": "client-1", "organization_id": "org-1"},
        claim_paths=frozenset({"organization_id"}),
    )
    assert identity.headers == (
        (b"x-auth-subject", b"user-1"),
        (b"x-auth-issuer", ISSUER.encode()),
        (b"x-auth-scopes", b"read:orders write:orders"),
        (b"x-auth-client-id", b"client-1"),
        (b"x-auth-organization-id", b"org-1"),
        (ENVOY_REMOVE_HEADER, ",".join(dotted_spellings(tuple(BUILT_IN))).encode()),
    )
    assert (identity.subject, identity.client_id, identity.issuer) == ("user-1", "client-1", ISSUER)
    assert identity.scopes == {"read:orders", "write:orders"}
    assert identity.claims["organization_id"] == "org-1"
    assert dropped == []


def test_header_names_are_lower_case_bytes() -> None:
    identity, _ = build({"sub": "u", "azp": "spa"}, (("X-Auth-Email", "email"),))
    for name, value in identity.headers:
        assert isinstance(name, bytes) and isinstance(value, bytes)
        assert name == name.lower()


SCOPES = [
    pytest.param({"scope": "b a c"}, "scope", b"a b c", id="string-scopes-sorted"),
    pytest.param({"scope": ["b", "a", "b"]}, "scope", b"a b", id="list-scopes-sorted-deduplicated"),
    pytest.param({"scope": "  b   a "}, "scope", b"a b", id="extra-spaces-collapsed"),
    pytest.param({"scp": ["Mail.Read", "User.Read"]}, "scp", b"Mail.Read User.Read", id="configured-scp-claim"),
    pytest.param({"scope": ""}, "scope", None, id="empty-scope-no-header"),
    pytest.param({"scope": []}, "scope", None, id="empty-scope-list-no-header"),
    pytest.param({}, "scope", None, id="no-scope-no-header"),
]


@pytest.mark.parametrize(("claims", "scope_claim", "header"), SCOPES)
def test_scopes_header(claims: dict[str, Any], scope_claim: str, header: bytes | None) -> None:
    identity, _ = build({"sub": "u", **claims}, scope_claim=scope_claim)
    assert header_map(identity).get(b"x-auth-scopes") == header
    if header is None:
        assert "x-auth-scopes" in removed(identity)
    else:
        assert identity.scopes == frozenset(header.decode().split())


CLIENT_ID = [
    pytest.param({"client_id": "c1"}, "c1", id="client-id-used"),
    pytest.param({"azp": "spa"}, "spa", id="falls-back-to-azp"),
    pytest.param({"client_id": "c1", "azp": "spa"}, "c1", id="client-id-preferred-over-azp"),
    pytest.param({}, None, id="neither-no-header"),
]


@pytest.mark.parametrize(("claims", "client_id"), CLIENT_ID)
def test_client_id(claims: dict[str, Any], client_id: str | None) -> None:
    identity, _ = build({"sub": "u", **claims})
    assert identity.client_id == client_id
    assert header_map(identity).get(b"x-auth-client-id") == (client_id.encode() if client_id else None)


CLAIM_VALUES = [
    pytest.param("a@example.com", b"a@example.com", id="string-claim-copied"),
    pytest.param(42, b"42", id="integer-claim-as-decimal"),
    pytest.param(1.5, b"1.5", id="float-claim-as-decimal"),
    pytest.param(["a", "b"], b"a b", id="list-of-strings-space-joined"),
    pytest.param(["a", 1, 2.5], b"a 1 2.5", id="list-of-scalars-space-joined"),
    pytest.param("José", "José".encode("latin-1"), id="latin-1-claim-kept"),
    pytest.param("x" * MAX_HEADER_VALUE_BYTES, b"x" * MAX_HEADER_VALUE_BYTES, id="claim-at-size-limit-kept"),
]


@pytest.mark.parametrize(("value", "header"), CLAIM_VALUES)
def test_configured_claim_header_copied(value: object, header: bytes) -> None:
    identity, dropped = build({"sub": "u", "email": value}, (("X-Auth-Email", "email"),))
    assert header_map(identity)[b"x-auth-email"] == header
    assert "x-auth-email" not in removed(identity)
    assert dropped == []


OMITTED = [
    pytest.param({"a": 1}, id="object-claim-omitted"),
    pytest.param(True, id="true-claim-omitted"),
    pytest.param(False, id="false-claim-omitted"),
    pytest.param(None, id="null-claim-omitted"),
]


@pytest.mark.parametrize("value", OMITTED)
def test_configured_claim_header_omitted(value: object) -> None:
    identity, _ = build({"sub": "u", "email": value}, (("X-Auth-Email", "email"),))
    assert b"x-auth-email" not in header_map(identity)
    assert "x-auth-email" in removed(identity)


def test_missing_claim_omitted_without_report() -> None:
    identity, dropped = build({"sub": "u"}, (("X-Auth-Email", "email"),))
    assert b"x-auth-email" not in header_map(identity)
    assert "x-auth-email" in removed(identity)
    assert dropped == []


DROPPED = [
    pytest.param("a\r\nX-Admin: 1", "claim holds control characters", id="crlf-injection-dropped"),
    pytest.param("a\nb", "claim holds control characters", id="lf-dropped"),
    pytest.param("a\rb", "claim holds control characters", id="cr-dropped"),
    pytest.param("a\x00b", "claim holds control characters", id="nul-dropped"),
    pytest.param("a\x1bb", "claim holds control characters", id="escape-dropped"),
    pytest.param("a\x7fb", "claim holds control characters", id="del-dropped"),
    pytest.param("a\tb", "claim holds control characters", id="tab-dropped"),
    pytest.param(["ok", "a\nb"], "claim holds control characters", id="control-character-in-list-item-dropped"),
    pytest.param("李小龙", "claim is not latin-1", id="cjk-dropped"),
    pytest.param("smile 😀", "claim is not latin-1", id="emoji-dropped"),
    pytest.param(
        "x" * (MAX_HEADER_VALUE_BYTES + 1),
        f"claim is longer than {MAX_HEADER_VALUE_BYTES} bytes",
        id="over-size-limit-dropped",
    ),
    pytest.param(
        ["x" * 1024, "y" * 1024],
        f"claim is longer than {MAX_HEADER_VALUE_BYTES} bytes",
        id="joined-list-over-size-limit-dropped",
    ),
    pytest.param([{"a": 1}], "claim is a list of non-scalar values", id="list-of-objects-dropped"),
    pytest.param([["a"]], "claim is a list of non-scalar values", id="nested-list-dropped"),
    pytest.param(["a", True], "claim is a list of non-scalar values", id="list-with-bool-dropped"),
    pytest.param(["a", None], "claim is a list of non-scalar values", id="list-with-null-dropped"),
]


@pytest.mark.parametrize(("value", "why"), DROPPED)
def test_unsafe_claim_header_dropped_and_reported(value: object, why: str) -> None:
    identity, dropped = build({"sub": "u", "email": value}, (("X-Auth-Email", "email"),))
    assert b"x-auth-email" not in header_map(identity)
    assert dropped == [("X-Auth-Email", why)]
    # The client's own copy of the header must not reach the upstream either.
    assert "x-auth-email" in removed(identity)


BUILT_IN_DROPPED = [
    pytest.param("sub", "X-Auth-Subject", id="subject-with-crlf-dropped"),
    pytest.param("client_id", "X-Auth-Client-Id", id="client-id-with-crlf-dropped"),
    pytest.param("organization_id", "X-Auth-Organization-Id", id="organization-id-with-crlf-dropped"),
]


@pytest.mark.parametrize(("claim", "header"), BUILT_IN_DROPPED)
def test_built_in_header_with_control_characters_dropped(claim: str, header: str) -> None:
    identity, dropped = build({"sub": "u", "client_id": "c", "organization_id": "o", claim: "x\r\nX-Admin: yes"})
    assert header.lower().encode() not in header_map(identity)
    assert dropped == [(header, "claim holds control characters")]
    assert header.lower() in removed(identity)
    assert all(b"\r" not in v and b"\n" not in v for _, v in identity.headers)


REMOVE = [
    pytest.param(
        {"sub": "u", "scope": "a", "client_id": "c", "organization_id": "o", "email": "e@x"},
        set(),
        id="all-set-nothing-to-remove",
    ),
    pytest.param(
        {"sub": "u", "scope": "a", "client_id": "c", "email": "e@x"},
        {"x-auth-organization-id"},
        id="no-organization-remove-it",
    ),
    pytest.param(
        {"sub": "u"},
        {"x-auth-scopes", "x-auth-client-id", "x-auth-organization-id", "x-auth-email"},
        id="subject-only-remove-the-rest",
    ),
    pytest.param(
        {},
        {"x-auth-subject", "x-auth-scopes", "x-auth-client-id", "x-auth-organization-id", "x-auth-email"},
        id="issuer-only-remove-the-rest",
    ),
    pytest.param(
        {"sub": "u", "scope": "a", "azp": "c", "organization_id": "o"}, {"x-auth-email"}, id="azp-counts-as-client-id"
    ),
]


@pytest.mark.parametrize(("claims", "unset"), REMOVE)
def test_envoy_removes_exactly_the_identity_headers_not_set(claims: dict[str, Any], unset: set[str]) -> None:
    identity, _ = build(claims, (("X-Auth-Email", "email"),))
    names = header_map(identity)
    assert removed(identity) == unset
    canonical = [n for n in [*BUILT_IN, "x-auth-email"] if n in unset]
    assert remove_list(identity) == [*canonical, *dotted_spellings((*BUILT_IN, "x-auth-email"))]
    set_names = {name.decode() for name in names if name != ENVOY_REMOVE_HEADER}
    assert set_names.isdisjoint(removed(identity)), "a header we set must never be removed"
    assert set_names | removed(identity) == {*BUILT_IN, "x-auth-email"}


def test_envoy_remove_header_name() -> None:
    assert ENVOY_REMOVE_HEADER == b"x-envoy-auth-headers-to-remove"


ANONYMOUS = [
    pytest.param((), BUILT_IN, id="built-in-headers-only"),
    pytest.param(
        (("X-Auth-Email", "email"), ("X-Auth-Tenant", "tenant")),
        [*BUILT_IN, "x-auth-email", "x-auth-tenant"],
        id="configured-headers-too",
    ),
]


@pytest.mark.parametrize(("claim_headers", "names"), ANONYMOUS)
def test_anonymous_headers_remove_every_identity_header(
    claim_headers: tuple[tuple[str, str], ...], names: list[str]
) -> None:
    configured = (*BUILT_IN_HEADERS, *(h for h, _ in claim_headers))
    remove = ",".join([*names, *dotted_spellings(configured)])
    assert anonymous_headers(claim_headers) == ((ENVOY_REMOVE_HEADER, remove.encode()),)


def test_dotted_spellings_are_every_dot_variant_and_nothing_else() -> None:
    assert dotted_spellings(("X-Auth-Email",)) == ("x-auth.email", "x.auth-email", "x.auth.email")
    spellings = dotted_spellings((*BUILT_IN_HEADERS, "X-Auth-Email"))
    assert len(spellings) == 3 + 3 + 3 + 7 + 7 + 3  # 2**hyphens - 1 per name
    assert all("." in name and name.replace(".", "-") in [*BUILT_IN, "x-auth-email"] for name in spellings)


def test_a_configured_name_with_a_dot_is_never_removed() -> None:
    """Envoy removes the listed headers after adding ours: a header we set must not be listed."""
    identity, _ = build({"sub": "u", "team": "blue"}, (("X-Auth.Team", "team"), ("X-Auth-Team", "team")))
    assert header_map(identity)[b"x-auth.team"] == b"blue"
    assert "x-auth.team" not in remove_list(identity)


def test_built_in_headers_are_the_spec_names() -> None:
    assert [name.lower() for name in BUILT_IN_HEADERS] == BUILT_IN


EMAIL_TENANT = (("X-Auth-Email", "email"), ("X-Auth-Tenant", "tenant"))
PER_USER_NAMES = {b"x-auth-subject", b"x-auth-email", b"x-auth-tenant"}
PER_USER = [
    pytest.param({"sub": "u"}, (), {b"x-auth-subject": b"u"}, id="subject-only"),
    pytest.param(
        {"sub": "u", "email": "e@x"},
        EMAIL_TENANT[:1],
        {b"x-auth-subject": b"u", b"x-auth-email": b"e@x"},
        id="subject-and-one",
    ),
    pytest.param(
        {"sub": "u", "email": "e@x", "tenant": "t1"},
        EMAIL_TENANT,
        {b"x-auth-subject": b"u", b"x-auth-email": b"e@x", b"x-auth-tenant": b"t1"},
        id="subject-and-two",
    ),
    pytest.param(
        {"sub": "u\n", "email": "e@x", "tenant": "t1"},
        EMAIL_TENANT,
        {b"x-auth-email": b"e@x", b"x-auth-tenant": b"t1"},
        id="two-without-subject",
    ),
    pytest.param({"email": "e@x"}, EMAIL_TENANT[:1], {b"x-auth-email": b"e@x"}, id="one-without-subject"),
]


@pytest.mark.parametrize(("claims", "claim_headers", "expected"), PER_USER)
def test_per_user_headers_each_carry_their_own_value(
    claims: dict[str, Any], claim_headers: tuple[tuple[str, str], ...], expected: dict[bytes, bytes]
) -> None:
    """However many per-user headers a token sets, each value lands under its own name."""
    identity, _ = build(claims, claim_headers)
    per_user = {name: value for name, value in header_map(identity).items() if name in PER_USER_NAMES}
    assert per_user == expected
    assert identity.subject == claims.get("sub")
