"""Who a verified token speaks for, and the identity headers the proxy copies upstream.

An identity is made of two parts, and the verified-token cache keeps them apart:
- a `Profile`, what every token of one issuer, audience, client, organization and scope
  set has in common (with the same per-user headers set): those values, their prebuilt
  header pairs and the Envoy remove-list. Profiles are interned (`shared_profile`, a bounded
  LRU), so 100,000 cached tokens of one client share one;
- a `Personal` part, the token's own: its subject, the values of the configured per-user
  claim headers (such as X-Auth-Email), and the claims some rule reads.
`Personal.identity()` joins them for a request.
"""

from __future__ import annotations

import functools
import itertools
import re
from collections.abc import Callable
from typing import Any, NamedTuple

from authcheck.core.claims import retained
from authcheck.core.tokens import scopes_of

SUBJECT, ISSUER, SCOPES = "X-Auth-Subject", "X-Auth-Issuer", "X-Auth-Scopes"
CLIENT_ID, ORGANIZATION_ID = "X-Auth-Client-Id", "X-Auth-Organization-Id"
BUILT_IN_HEADERS = (SUBJECT, ISSUER, SCOPES, CLIENT_ID, ORGANIZATION_ID)

# Each identity header is kept small enough for every proxy's buffers: nginx reads the
# whole auth response header block into `proxy_buffer_size` (4k or 8k by default).
MAX_HEADER_VALUE_BYTES = 2048

# Tells Envoy to remove client-sent copies of identity headers we did not set (§4 of
# the ingress contract), and dotted spellings of every one (`dotted_spellings`); the other
# proxies ignore it.
ENVOY_REMOVE_HEADER = b"x-envoy-auth-headers-to-remove"

HeaderDropped = Callable[[str, str], None]  # (header name, why)

_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]").search
_SUBJECT_NAME = SUBJECT.lower()
_SUBJECT_BYTES = _SUBJECT_NAME.encode()
_NO_CLAIMS: dict[str, Any] = {}  # shared by every identity that retains no claim; never mutated
PROFILES = 4096  # distinct profiles kept interned; past it the least recently used is let go


class Identity(NamedTuple):
    subject: str | None
    client_id: str | None
    issuer: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    claims: dict[str, Any]  # only the claims some rule's `claims` requirement reads
    headers: tuple[tuple[bytes, bytes], ...]  # ready for the ASGI response


class Profile:
    """What an identity shares with every token of its issuer, audience, client, organization
    and scope set that sets the same per-user headers. Immutable once built; interned by `shared_profile`."""

    __slots__ = (
        "audiences",
        "client_id",
        "dropped",
        "headers",
        "issuer",
        "organization_id",
        "scopes",
        "subject_header",
        "value_names",
    )

    def __init__(
        self,
        issuer: str,
        audiences: tuple[str, ...],
        scopes: frozenset[str],
        client_id: str | None,
        organization_id: str | None,
        subject_header: bool,
        value_names: tuple[bytes, ...],
        headers: tuple[tuple[bytes, bytes], ...],
        dropped: tuple[tuple[str, str], ...],
    ) -> None:
        self.issuer = issuer
        self.audiences = audiences
        self.scopes = scopes
        self.client_id = client_id
        self.organization_id = organization_id
        self.subject_header = subject_header  # whether X-Auth-Subject carries the subject (value_names[0])
        self.value_names = value_names  # the per-user headers set, in order: the names of Personal.values
        self.headers = headers  # issuer, scopes, client id, organization id (those set), then the remove-list
        self.dropped = dropped  # (header, why) for each shared header left out for safety


@functools.lru_cache(maxsize=PROFILES)
def shared_profile(
    issuer: str,
    audiences: tuple[str, ...],
    scopes: frozenset[str],
    client_id: str | None,
    organization_id: str | None,
    subject_header: bool,
    value_names: tuple[bytes, ...],
    unset_values: tuple[str, ...],
) -> Profile:
    """The one Profile for these values. `value_names`: the per-user headers (X-Auth-Subject and the
    configured claim headers) a token sets; `unset_values`: those it leaves unset, lower-case."""
    dropped: list[tuple[str, str]] = []
    shared = (
        (ISSUER, issuer),
        (SCOPES, " ".join(sorted(scopes)) or None),
        (CLIENT_ID, client_id),
        (ORGANIZATION_ID, organization_id),
    )
    headers: list[tuple[bytes, bytes]] = []
    # The remove-list in header order: the subject, the shared headers, the configured ones.
    unset = [name for name in unset_values if name == _SUBJECT_NAME]
    for name, value in shared:
        encoded = _header_value(name, value, lambda header, why: dropped.append((header, why)))
        if encoded is None:
            unset.append(name.lower())
        else:
            headers.append((name.lower().encode(), encoded))
    unset += [name for name in unset_values if name != _SUBJECT_NAME]
    # Then every dotted spelling, of every identity header, but never a name we set (a configured
    # name may itself hold a dot).
    present = {*value_names, *(name for name, _ in headers)}
    names = (*(name.lower() for name in BUILT_IN_HEADERS), *(n.decode() for n in value_names), *unset_values)
    unset += [name for name in dotted_spellings(tuple(dict.fromkeys(names))) if name.encode() not in present]
    headers.append((ENVOY_REMOVE_HEADER, ",".join(unset).encode()))
    return Profile(
        issuer,
        audiences,
        scopes,
        client_id,
        organization_id,
        subject_header,
        value_names,
        tuple(headers),
        tuple(dropped),
    )


class Personal:
    """What an identity has of its own token, and its shared Profile. The verified-token cache
    keeps one per token, so it holds as few objects as it can (docs/keys-and-caching.md)."""

    __slots__ = ("claims", "profile", "subject", "values")

    def __init__(self, profile: Profile, values: bytes, subject: str | None, claims: dict[str, Any]) -> None:
        self.profile = profile
        # The token's per-user header values, named by profile.value_names (the subject's first
        # when profile.subject_header), joined by a newline: no header value can hold one.
        self.values = values
        self.subject = None if profile.subject_header else subject  # else it is values' first
        self.claims = claims  # only the claims some rule's `claims` requirement reads

    def identity(self) -> Identity:
        """The identity for one request (the cache-hit path: one or two small tuples, no zip)."""
        shared = self.profile
        names, headers, subject = shared.value_names, shared.headers, self.subject
        count = len(names)
        if count == 1:  # the subject alone, usually
            first = self.values
            headers = ((names[0], first), *headers)
        elif count == 2:  # the subject and one claim header such as X-Auth-Email
            first, _, second = self.values.partition(b"\n")
            headers = ((names[0], first), (names[1], second), *headers)
        elif count:
            values = self.values.split(b"\n")
            first = values[0]
            headers = (*zip(names, values, strict=True), *headers)
        if count and shared.subject_header:
            subject = first.decode("latin-1")
        return Identity(subject, shared.client_id, shared.issuer, shared.audiences, shared.scopes, self.claims, headers)


def read_personal(
    claims: dict[str, Any],
    scope_claim: str,
    claim_headers: tuple[tuple[str, str], ...],
    claim_paths: frozenset[str],
    on_dropped: HeaderDropped,
) -> tuple[Profile, bytes, str | None, dict[str, Any]]:
    """The arguments of Personal (or of a subclass) for a verified token's claims; every header
    left out for safety is reported to `on_dropped`, for this token."""
    value_names: list[bytes] = []
    values: list[bytes] = []
    unset_values: list[str] = []
    subject = claims.get("sub")
    for header, value in ((SUBJECT, subject), *((header, claims.get(claim)) for header, claim in claim_headers)):
        encoded = _header_value(header, value, on_dropped)
        if encoded is None:
            unset_values.append(header.lower())
        else:
            value_names.append(header.lower().encode())
            values.append(encoded)
    subject_header = bool(value_names) and value_names[0] == _SUBJECT_BYTES
    aud = claims["aud"]
    shared = shared_profile(
        claims["iss"],
        (aud,) if isinstance(aud, str) else tuple(aud),
        scopes_of(claims, scope_claim),
        claims.get("client_id") or claims.get("azp"),
        claims.get("organization_id"),
        subject_header,
        tuple(value_names),
        tuple(unset_values),
    )
    for name, why in shared.dropped:
        on_dropped(name, why)
    kept = retained(claims, claim_paths) if claim_paths else _NO_CLAIMS
    return shared, b"\n".join(values), subject, kept


def anonymous_headers(claim_headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """For a 200 without identity: ask Envoy to drop every identity header."""
    names = (*BUILT_IN_HEADERS, *(h for h, _ in claim_headers))
    remove = [*(name.lower() for name in names), *dotted_spellings(names)]
    return ((ENVOY_REMOVE_HEADER, ",".join(remove).encode()),)


@functools.lru_cache(maxsize=64)
def dotted_spellings(names: tuple[str, ...]) -> tuple[str, ...]:
    """Every spelling of `names` with one or more `-` written as `.` (`x.auth.email`,
    `x-auth.email`...). Envoy passes such a client header on next to ours, and servers that map
    header names to CGI variables read it as X-Auth-Email; `_` spellings Envoy refuses itself."""
    spellings: list[str] = []
    for name in names:
        first, *rest = name.lower().split("-")
        for separators in itertools.product("-.", repeat=len(rest)):
            if "." in separators:
                spellings.append(first + "".join(s + part for s, part in zip(separators, rest, strict=True)))
    return tuple(dict.fromkeys(spellings))


def _header_value(name: str, value: object, on_dropped: HeaderDropped) -> bytes | None:
    """A claim as one header value; None (and a log line) when it cannot travel safely."""
    if value is None or isinstance(value, (dict, bool)):
        return None
    if isinstance(value, list):
        if not all(isinstance(item, (str, int, float)) and not isinstance(item, bool) for item in value):
            on_dropped(name, "claim is a list of non-scalar values")
            return None
        value = " ".join(str(item) for item in value)
    text = str(value)
    if not text:
        return None
    if _CONTROL_CHARACTER(text):
        on_dropped(name, "claim holds control characters")
        return None
    try:
        encoded = text.encode("latin-1")
    except UnicodeEncodeError:
        on_dropped(name, "claim is not latin-1")
        return None
    if len(encoded) > MAX_HEADER_VALUE_BYTES:
        on_dropped(name, f"claim is longer than {MAX_HEADER_VALUE_BYTES} bytes")
        return None
    return encoded
