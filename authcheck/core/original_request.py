"""Which request the proxy is asking about: method, host and path, read from the proxy's headers.

Each proxy names the original request in its own headers (SPEC, "Reading the original
request"), and a client can add another proxy's header that some proxies pass on
unchanged (oauth2-proxy GHSA-7x63-xv5r-3p2x). So a pinned `ingress` reads only its
own column, `auto` reads every column and refuses when two sources disagree, and any
source that could be read two ways (repeated, comma-listed, malformed) is refused.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from authcheck.config.model import Ingress
from authcheck.core.errors import RequestRejected
from authcheck.core.paths import normalize_path

# Lower-case header name -> every value received for it, in arrival order.
Headers = Mapping[str, Sequence[str]]


@dataclass(frozen=True, slots=True)
class OriginalRequest:
    method: str  # upper-case
    host: str | None  # lower-case, port removed; None when no source names it
    path: str  # normalized (authcheck.core.paths.normalize_path); no query


@dataclass(frozen=True, slots=True)
class _Column:
    """Where one proxy (or `auto`) names the original request."""

    methods: tuple[str, ...] = ()  # headers holding the method
    uris: tuple[str, ...] = ()  # headers holding an origin-form URI (path + query)
    urls: tuple[str, ...] = ()  # headers holding an absolute URL (path and host)
    hosts: tuple[str, ...] = ()  # headers holding a host
    request_line: bool = False  # the /verify request's own method (and sub-path) count


_NGINX = _Column(
    methods=("x-forwarded-method", "x-original-method"),
    uris=("x-forwarded-uri", "x-original-uri"),
    hosts=("x-forwarded-host",),
)
_INGRESS_NGINX = _Column(methods=("x-original-method",), urls=("x-original-url",))
_FORWARDED = _Column(methods=("x-forwarded-method",), uris=("x-forwarded-uri",), hosts=("x-forwarded-host",))
_AUTO = _Column(_NGINX.methods, _NGINX.uris, _INGRESS_NGINX.urls, _NGINX.hosts)

_ENVOY_PREFIX = _Column(hosts=("host",), request_line=True)  # /verify/<path>?<query>
_ENVOY_OVERRIDE = _Column(uris=("x-forwarded-uri",), hosts=("host",), request_line=True)  # path_override
_AUTO_PREFIX = _Column(_AUTO.methods, _AUTO.uris, _AUTO.urls, (*_AUTO.hosts, "host"), request_line=True)

# Keyed by (ingress, whether the request was /verify/<sub-path>).
_COLUMNS: dict[tuple[str, bool], _Column] = {
    ("nginx", False): _NGINX,
    ("nginx", True): _NGINX,
    ("ingress-nginx", False): _INGRESS_NGINX,
    ("ingress-nginx", True): _INGRESS_NGINX,
    ("traefik", False): _FORWARDED,
    ("traefik", True): _FORWARDED,
    ("caddy", False): _FORWARDED,
    ("caddy", True): _FORWARDED,
    ("envoy", False): _ENVOY_OVERRIDE,
    ("envoy", True): _ENVOY_PREFIX,
    ("auto", False): _AUTO,
    ("auto", True): _AUTO_PREFIX,
}

_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+").fullmatch  # RFC 7230 token
# reg-name restricted to what host names use, or a bracketed IPv6 literal; then an optional port.
_HOST = re.compile(r"([A-Za-z0-9\-._~]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]*)?").fullmatch


def read_original_request(
    headers: Headers,
    verify_method: str,
    envoy_subpath: str | None,
    ingress: Ingress,
) -> OriginalRequest:
    """Raise RequestRejected for anything ambiguous, conflicting or missing.

    Rules match the path only, so the query of any source is dropped (and the /verify
    request's own query string is never read).
    """
    column = _COLUMNS[ingress, envoy_subpath is not None]
    method: str | None = None
    path: str | None = None
    host: str | None = None
    if column.request_line:
        method = _method(verify_method)
        if envoy_subpath is not None:
            path = normalize_path(envoy_subpath)
    for name in column.methods:
        value = _single(headers, name)
        if value is not None:
            method = _agree(method, _method(value), "method")
    for name in column.uris:
        value = _single(headers, name)
        if value is not None:
            path = _agree(path, _origin_path(value), "URI")
    for name in column.urls:
        value = _single(headers, name)
        if value is not None:
            url_host, url_path = _absolute_url(value)
            path = _agree(path, url_path, "URI")
            host = _agree(host, url_host, "host")
    for name in column.hosts:
        value = _single(headers, name)
        if value is not None:
            host = _agree(host, _host(value), "host")
    if method is None:
        raise RequestRejected("No header names the original method.", reason="method_unknown")
    if path is None:
        raise RequestRejected("No header names the original URI.", reason="uri_unknown")
    return OriginalRequest(method, host, path)


def named_request(method: str, uri: str, host: str | None) -> OriginalRequest:
    """A request named field by field (Envoy's gRPC CheckRequest): the same checks and
    normalization as when a proxy's headers name it. An empty host is no host."""
    if not uri:
        raise RequestRejected("The original URI is empty.", reason="uri_unknown")
    return OriginalRequest(_method(method), _host(host) if host else None, _origin_path(uri))


def _single(headers: Headers, name: str) -> str | None:
    """The header's one non-empty value, or None when it is absent."""
    values = headers.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise RequestRejected(f"The {name} header arrives more than once.", reason="duplicate_header")
    value = values[0]
    if not value:
        raise RequestRejected(f"The {name} header is empty.", reason="empty_header")
    return value


_CONFLICTS = {"method": "conflicting_method", "URI": "conflicting_uri", "host": "conflicting_host"}


def _agree(current: str | None, new: str, what: str) -> str:
    if current is not None and current != new:
        raise RequestRejected(
            f"Two headers name different original {what}s; a client may have added one.", reason=_CONFLICTS[what]
        )
    return new


def _method(value: str) -> str:
    if "," in value:
        raise RequestRejected("The original method is a list.", reason="method_list")
    if not _TOKEN(value):
        raise RequestRejected("The original method is not an HTTP token.", reason="method_invalid")
    return value.upper()


def _origin_path(uri: str) -> str:
    """The normalized path of an origin-form URI; the query is dropped."""
    if uri[0] != "/":
        raise RequestRejected("The original URI does not start with '/'.", reason="uri_not_origin_form")
    if "#" in uri:
        # The proxy and the upstream may cut the path at '#' differently (oauth2-proxy GHSA-pxq7-h93f-9jrg).
        raise RequestRejected("The original URI has a fragment.", reason="uri_fragment")
    query = uri.find("?")
    return normalize_path(uri if query < 0 else uri[:query])


def _absolute_url(url: str) -> tuple[str, str]:
    """(host, normalized path) of ingress-nginx's `$scheme://$http_host$request_uri`."""
    scheme, separator, rest = url.partition("://")
    slash = rest.find("/")
    if not separator or scheme.lower() not in ("http", "https") or slash <= 0:
        raise RequestRejected(
            "The original URL is not an absolute http(s) URL with a host and a path.", reason="url_invalid"
        )
    return _host(rest[:slash]), _origin_path(rest[slash:])


def _host(value: str) -> str:
    """Lower-case host without port or trailing dot; IPv6 literals in brackets, compressed."""
    if "," in value:
        raise RequestRejected("The original host is a list.", reason="host_list")
    found = _HOST(value)
    if found is None:
        raise RequestRejected("The original host is not a valid host name or address.", reason="host_invalid")
    host = found.group(1).lower()
    if host[0] == "[":
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            raise RequestRejected("The original host is not a valid IPv6 address.", reason="host_invalid") from None
    host = host.removesuffix(".")  # `example.com.` is `example.com` to DNS and to the proxies' routing
    if not host:
        raise RequestRejected("The original host is empty.", reason="host_invalid")
    return host
