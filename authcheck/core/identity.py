"""Who a verified token speaks for, and the identity headers the proxy copies upstream.

Built once per verified token. The verified-token cache keeps it `compact`: the subject,
and a profile shared by every token of the same issuer, client and scopes (so 100,000
cached tokens fit in ~35 MB); `expand` rebuilds it for each request.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, TypeVar

from authcheck.core.claims import retained
from authcheck.core.tokens import scopes_of

SUBJECT, ISSUER, SCOPES = "X-Auth-Subject", "X-Auth-Issuer", "X-Auth-Scopes"
CLIENT_ID, ORGANIZATION_ID = "X-Auth-Client-Id", "X-Auth-Organization-Id"
BUILT_IN_HEADERS = (SUBJECT, ISSUER, SCOPES, CLIENT_ID, ORGANIZATION_ID)

# Each identity header is kept small enough for every proxy's buffers: nginx reads the
# whole auth response header block into `proxy_buffer_size` (4k or 8k by default).
MAX_HEADER_VALUE_BYTES = 2048

# Tells Envoy to remove client-sent copies of identity headers we did not set (§4 of
# the ingress contract); the other proxies ignore it.
ENVOY_REMOVE_HEADER = b"x-envoy-auth-headers-to-remove"

HeaderDropped = Callable[[str, str], None]  # (header name, why)

_CONTROL_CHARACTER = re.compile("[\x00-\x1f\x7f]").search
_NAME_BYTES = {name: name.lower().encode() for name in BUILT_IN_HEADERS}
_SUBJECT_BYTES = _NAME_BYTES[SUBJECT]
# Headers whose values repeat across tokens (one issuer, a few scope sets and clients):
# identities share one (name, value) pair instead of holding a copy each.
_SHARED_HEADERS = frozenset({ISSUER, SCOPES, CLIENT_ID, ORGANIZATION_ID})
_NO_CLAIMS: dict[str, Any] = {}  # shared by every identity that retains no claim; never mutated

T = TypeVar("T")


class Identity(NamedTuple):
    subject: str | None
    client_id: str | None
    issuer: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    claims: dict[str, Any]  # only the claims some rule's `claims` requirement reads
    headers: tuple[tuple[bytes, bytes], ...]  # ready for the ASGI response


class SharedValues:
    """Hands out one object for equal values, so that 100,000 cached identities of one
    issuer hold one issuer string, one scope set per distinct scope, and so on.

    Bounded: past `limit` distinct values it starts over (objects handed out stay valid).
    """

    def __init__(self, limit: int = 4096) -> None:
        self._limit = limit
        self._table: dict[object, object] = {}

    def __call__(self, value: T, key: object = None) -> T:
        """The shared object equal to `value` (or filed under `key`, for unhashable values)."""
        key = value if key is None else key
        found = self._table.get(key)
        if found is None:
            if len(self._table) >= self._limit:
                self._table.clear()
            self._table[key] = found = value
        return found  # type: ignore[return-value]

    def get(self, key: object) -> Any:
        return self._table.get(key)


def _unshared(value: T, key: object = None) -> T:
    return value


class _Common(NamedTuple):
    """What an identity has in common with every token of its issuer, client and scope set."""

    client_id: str | None
    issuer: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    headers: tuple[tuple[bytes, bytes], ...]  # issuer, scopes, client id, organization id: those set
    unset: tuple[str, ...]  # the names of those not set
    dropped: tuple[tuple[str, str], ...]  # (header, why) for each left out for safety


_COMMON = object()  # marks _Common keys in a SharedValues table


def build_identity(
    claims: dict[str, Any],
    scope_claim: str,
    claim_headers: tuple[tuple[str, str], ...],
    claim_paths: frozenset[str],
    on_dropped: HeaderDropped,
    shared: Callable[..., Any] = _unshared,
) -> Identity:
    """`shared` (a SharedValues) lets identities that are kept for long share equal values,
    and works out what the tokens of one issuer, client and scope set have in common once."""
    subject = claims.get("sub")
    headers, unset = _encode(((SUBJECT, subject),), on_dropped, shared)
    common = _common(claims, scope_claim, shared)
    for name, why in common.dropped:
        on_dropped(name, why)
    headers += common.headers
    unset += common.unset
    if claim_headers:
        more_headers, more_unset = _encode(
            [(header, claims.get(claim)) for header, claim in claim_headers], on_dropped, shared
        )
        headers += more_headers
        # A name listed twice (a configured header shadowing a built-in) is unset only if neither set it.
        set_names = {name for name, _ in headers}
        unset = [name for name in (*unset, *more_unset) if name.encode() not in set_names]
    if unset:
        headers.append(shared((ENVOY_REMOVE_HEADER, ",".join(unset).encode())))
    return Identity(
        subject,
        common.client_id,
        common.issuer,
        common.audiences,
        common.scopes,
        retained(claims, claim_paths) if claim_paths else _NO_CLAIMS,
        tuple(headers),
    )


def _common(claims: dict[str, Any], scope_claim: str, shared: Callable[..., Any]) -> _Common:
    memo = shared if isinstance(shared, SharedValues) else None
    key: tuple[object, ...] = ()
    if memo is not None:
        scope, aud = claims.get(scope_claim), claims["aud"]
        key = (
            _COMMON,
            scope_claim,
            claims["iss"],
            tuple(scope) if isinstance(scope, list) else scope,
            claims.get("client_id"),
            claims.get("azp"),
            claims.get("organization_id"),
            tuple(aud) if isinstance(aud, list) else aud,
        )
        try:
            found: _Common | None = memo.get(key)
        except TypeError:  # an unhashable claim value: work it out for this token alone
            memo = None
        else:
            if found is not None:
                return found
    scopes = shared(scopes_of(claims, scope_claim))
    client_id = claims.get("client_id") or claims.get("azp")
    if isinstance(client_id, str):
        client_id = shared(client_id)
    dropped: list[tuple[str, str]] = []
    headers, unset = _encode(
        (
            (ISSUER, claims["iss"]),
            (SCOPES, " ".join(sorted(scopes)) if scopes else None),
            (CLIENT_ID, client_id),
            (ORGANIZATION_ID, claims.get("organization_id")),
        ),
        lambda name, why: dropped.append((name, why)),
        shared,
    )
    aud = claims["aud"]
    common = _Common(
        client_id,
        shared(claims["iss"]),
        shared((aud,) if isinstance(aud, str) else tuple(aud)),
        scopes,
        tuple(headers),
        tuple(unset),
        tuple(dropped),
    )
    return memo(common, key=key) if memo is not None else common


def _encode(
    values: Sequence[tuple[str, object]], on_dropped: HeaderDropped, shared: Callable[..., Any]
) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """(the headers set, the lower-case names of those left unset)."""
    headers: list[tuple[bytes, bytes]] = []
    unset: list[str] = []
    for name, value in values:
        encoded = _header_value(name, value, on_dropped)
        if encoded is None:
            unset.append(name.lower())
            continue
        pair = (_NAME_BYTES.get(name) or name.lower().encode(), encoded)
        headers.append(shared(pair) if name in _SHARED_HEADERS else pair)
    return headers, unset


def anonymous_headers(claim_headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """For a 200 without identity: ask Envoy to drop every identity header."""
    names = [name.lower() for name in (*BUILT_IN_HEADERS, *(h for h, _ in claim_headers))]
    return ((ENVOY_REMOVE_HEADER, ",".join(names).encode()),)


def compact(identity: Identity, shared: Callable[..., Any] = _unshared) -> tuple[bytes | str | None, Identity]:
    """(subject, profile): how the verified-token cache keeps an identity.

    The subject is what is the token's own, kept as the header value it travels as when
    it has one; the profile is the rest (subject None, headers after the subject's), which
    every token of one issuer, client and scope set shares.
    """
    headers = identity.headers
    subject: bytes | str | None = identity.subject
    if (
        headers
        and headers[0][0] == _SUBJECT_BYTES
        and isinstance(subject, str)
        and headers[0][1] == subject.encode("latin-1")
    ):
        subject, headers = headers[0][1], headers[1:]
    profile = Identity(None, *identity[1:6], headers)
    if identity.claims is _NO_CLAIMS:
        profile = shared(profile, key=(*profile[1:5], headers))  # all but the (unhashable) claims
    return subject, profile


def expand(subject: bytes | str | None, profile: Identity) -> Identity:
    """The identity `compact` took apart."""
    _, client_id, issuer, audiences, scopes, claims, headers = profile
    if type(subject) is bytes:
        return Identity(
            subject.decode("latin-1"),
            client_id,
            issuer,
            audiences,
            scopes,
            claims,
            ((_SUBJECT_BYTES, subject), *headers),
        )
    return Identity(subject, client_id, issuer, audiences, scopes, claims, headers)  # type: ignore[arg-type]


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
