"""A decision as the HTTP answer the proxy gets: status, headers, body (pure)."""

from __future__ import annotations

import json

from authcheck.core.errors import Denial

_NO_STORE = (b"cache-control", b"no-store")
_JSON = (b"content-type", b"application/json")


def allow_answer(identity_headers: tuple[tuple[bytes, bytes], ...]) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    """Exactly 200 (Envoy denies any other 2xx), empty body."""
    return 200, [_NO_STORE, (b"content-length", b"0"), *identity_headers], b""


def denial_answer(denial: Denial, head: bool) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    body = json.dumps({"error": denial.error, "code": denial.code, "message": denial.message}).encode()
    headers = [_NO_STORE, _JSON, (b"content-length", str(len(body)).encode())]
    # Our own words and configured scopes only, but never let an odd one become a 500.
    headers += [
        (name.lower().encode(), value.encode("latin-1", "backslashreplace")) for name, value in denial.extra_headers()
    ]
    return denial.status, headers, b"" if head else body
