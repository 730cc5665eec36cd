"""Who a verified token speaks for, and the identity headers the proxy copies upstream.

Built once per verified token (and cached with it), so the hot path only reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from authcheck.claims import retained
from authcheck.tokens import scopes_of

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


@dataclass(frozen=True, slots=True)
class Identity:
    subject: str | None
    client_id: str | None
    issuer: str
    audiences: tuple[str, ...]
    scopes: frozenset[str]
    claims: dict[str, Any]  # only the claims some rule's `claims` requirement reads
    headers: tuple[tuple[bytes, bytes], ...]  # ready for the ASGI response


def build_identity(
    claims: dict[str, Any],
    scope_claim: str,
    claim_headers: tuple[tuple[str, str], ...],
    claim_paths: frozenset[str],
    on_dropped: HeaderDropped,
) -> Identity:
    scopes = scopes_of(claims, scope_claim)
    client_id = claims.get("client_id") or claims.get("azp")
    values: list[tuple[str, object]] = [
        (SUBJECT, claims.get("sub")),
        (ISSUER, claims["iss"]),
        (SCOPES, " ".join(sorted(scopes)) if scopes else None),
        (CLIENT_ID, client_id),
        (ORGANIZATION_ID, claims.get("organization_id")),
        *((header, claims.get(claim)) for header, claim in claim_headers),
    ]
    headers: list[tuple[bytes, bytes]] = []
    for name, value in values:
        encoded = _header_value(name, value, on_dropped)
        if encoded is not None:
            headers.append((name.lower().encode(), encoded))
    all_names = [name.lower() for name, _ in values]
    unset = [name for name in all_names if name.encode() not in {h for h, _ in headers}]
    if unset:
        headers.append((ENVOY_REMOVE_HEADER, ",".join(unset).encode()))
    aud = claims["aud"]
    audiences = (aud,) if isinstance(aud, str) else tuple(aud)
    return Identity(claims.get("sub"), client_id, claims["iss"], audiences, scopes,
                    retained(claims, claim_paths), tuple(headers))


def anonymous_headers(claim_headers: tuple[tuple[str, str], ...]) -> tuple[tuple[bytes, bytes], ...]:
    """For a 200 without identity: ask Envoy to drop every identity header."""
    names = [name.lower() for name in (*BUILT_IN_HEADERS, *(h for h, _ in claim_headers))]
    return ((ENVOY_REMOVE_HEADER, ",".join(names).encode()),)


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
    if any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in text):
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
