"""What the app's own server says a request is: method, Host, raw target, Authorization.

The raw request target is used when the server passes it on (gunicorn's RAW_URI, the
REQUEST_URI of Werkzeug and uWSGI, ASGI's raw_path): the decoded path would hide `%2F`
and `%2e%2e`, which /verify refuses or resolves. Without it, the decoded path is quoted
again. Forwarded headers (X-Forwarded-*) are never read: a client can send them.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any
from urllib.parse import quote

AppRequest = tuple[str, str | None, str, list[str]]  # method, host, target, Authorization values

_SAFE = "/!$&'()*+,=:@~"  # RFC 3986 pchars less ";" (refused raw), and "/"


def wsgi_request(environ: Mapping[str, Any]) -> AppRequest:
    target = environ.get("RAW_URI") or environ.get("REQUEST_URI")
    if not isinstance(target, str) or not target.startswith("/"):
        path = environ.get("SCRIPT_NAME", "") + environ.get("PATH_INFO", "")
        target = quote(path.encode("latin-1", "replace"), safe=_SAFE) or "/"
    authorization = environ.get("HTTP_AUTHORIZATION")
    return (
        environ.get("REQUEST_METHOD", "GET"),
        environ.get("HTTP_HOST") or None,
        target,
        [] if authorization is None else [authorization],
    )


def asgi_request(scope: Mapping[str, Any]) -> AppRequest:
    raw_path = scope.get("raw_path")
    if raw_path and raw_path.startswith(b"/"):
        target = raw_path.decode("latin-1")
    else:
        target = quote(scope["path"], safe=_SAFE) or "/"
    hosts: list[str] = []
    authorization: list[str] = []
    headers: Iterable[tuple[bytes, bytes]] = scope.get("headers", ())
    for name, value in headers:
        if name == b"host":
            hosts.append(value.decode("latin-1"))
        elif name == b"authorization":
            authorization.append(value.decode("latin-1"))
    # Two Host headers join into a list, which is refused as /verify refuses a repeated host.
    return scope.get("method", "GET"), ",".join(hosts) or None, target, authorization
