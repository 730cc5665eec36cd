"""read_original_request: each proxy's column, pinned and auto modes, and every refusal."""

from __future__ import annotations

from typing import TypedDict

import pytest

from authcheck.config.model import Ingress
from authcheck.core.errors import RequestRejected
from authcheck.core.original_request import OriginalRequest, read_original_request

Sent = dict[str, str | tuple[str, ...]]  # a tuple is a header that arrived more than once


class Verify(TypedDict, total=False):
    """The /verify request itself: `<method> /verify<subpath>?<query>`."""

    method: str
    subpath: str | None
    query: str


def read(
    headers: Sent,
    ingress: Ingress = "auto",
    *,
    method: str = "GET",
    subpath: str | None = None,
    query: str = "",
) -> OriginalRequest:
    """Call as the gate does for `<method> /verify<subpath>?<query>` with these headers: the
    /verify query string is never passed on (SPEC: it is ignored), so it cannot count."""
    received = {name: (value,) if isinstance(value, str) else value for name, value in headers.items()}
    return read_original_request(received, method, subpath, ingress)


def rejection(headers: Sent, ingress: Ingress, verify: Verify) -> str:
    with pytest.raises(RequestRejected) as caught:
        read(headers, ingress, **verify)
    assert caught.value.status == 403
    return caught.value.reason


# What each proxy sent for `DELETE /api/items?x=1` to app.example.test (ingress-contract.md §2, §5-§9).
NGINX: Sent = {
    "host": "authcheck",
    "x-forwarded-method": "DELETE",
    "x-forwarded-uri": "/api/items?x=1",
    "x-forwarded-host": "app.example.test",
    "x-original-method": "DELETE",
    "x-original-uri": "/api/items?x=1",
}
INGRESS_NGINX: Sent = {
    "host": "127.0.0.1",
    "x-original-method": "DELETE",
    "x-original-url": "http://app.example.test/api/items?x=1",
    "x-auth-request-redirect": "/api/items?x=1",
}
INGRESS_NGINX_CONFIGMAP: Sent = {**INGRESS_NGINX, "x-forwarded-method": "DELETE", "x-forwarded-uri": "/api/items?x=1"}
TRAEFIK: Sent = {
    "host": "127.0.0.1:9001",
    "x-forwarded-method": "DELETE",
    "x-forwarded-uri": "/api/items?x=1",
    "x-forwarded-host": "app.example.test",
}
CADDY: Sent = {
    "host": "app.example.test:8087",
    "x-forwarded-method": "DELETE",
    "x-forwarded-uri": "/api/items?x=1",
    "x-forwarded-host": "app.example.test:8087",
}
ENVOY_PREFIX: Sent = {"host": "app.example.test"}
ENVOY_OVERRIDE: Sent = {"host": "app.example.test", "x-forwarded-uri": "/api/items?x=1", "x-forwarded-method": "DELETE"}
ENVOY_PREFIX_VERIFY: Verify = {"method": "DELETE", "subpath": "/api/items", "query": "x=1"}
ENVOY_OVERRIDE_VERIFY: Verify = {"method": "DELETE", "subpath": None, "query": ""}

ITEMS = OriginalRequest("DELETE", "app.example.test", "/api/items")

PROXY_COLUMNS = [
    pytest.param("nginx", NGINX, {}, ITEMS, id="nginx-shipped-config"),
    pytest.param(
        "nginx",
        {"x-original-method": "DELETE", "x-original-uri": "/api/items?x=1", "x-forwarded-host": "app.example.test"},
        {},
        ITEMS,
        id="nginx-x-original-headers-only",
    ),
    pytest.param("ingress-nginx", INGRESS_NGINX, {}, ITEMS, id="ingress-nginx-stock"),
    pytest.param("ingress-nginx", INGRESS_NGINX_CONFIGMAP, {}, ITEMS, id="ingress-nginx-configmap"),
    pytest.param("traefik", TRAEFIK, {}, ITEMS, id="traefik-host-from-forwarded-host"),
    pytest.param("caddy", CADDY, {"query": "x=1"}, ITEMS, id="caddy-port-stripped-verify-query-ignored"),
    pytest.param("envoy", ENVOY_PREFIX, ENVOY_PREFIX_VERIFY, ITEMS, id="envoy-path-prefix"),
    pytest.param("envoy", ENVOY_OVERRIDE, ENVOY_OVERRIDE_VERIFY, ITEMS, id="envoy-path-override"),
    pytest.param("auto", NGINX, {}, ITEMS, id="auto-nginx"),
    pytest.param("auto", INGRESS_NGINX, {}, ITEMS, id="auto-ingress-nginx-stock"),
    pytest.param("auto", INGRESS_NGINX_CONFIGMAP, {}, ITEMS, id="auto-ingress-nginx-configmap"),
    pytest.param("auto", TRAEFIK, {}, ITEMS, id="auto-traefik-host-header-ignored"),
    pytest.param("auto", CADDY, {"query": "x=1"}, ITEMS, id="auto-caddy"),
    pytest.param("auto", ENVOY_PREFIX, ENVOY_PREFIX_VERIFY, ITEMS, id="auto-envoy-path-prefix"),
    pytest.param(
        "auto",
        ENVOY_OVERRIDE,
        ENVOY_OVERRIDE_VERIFY,
        OriginalRequest("DELETE", None, "/api/items"),
        id="auto-envoy-path-override-host-header-not-a-source",
    ),
]


@pytest.mark.parametrize(("ingress", "headers", "verify", "expected"), PROXY_COLUMNS)
def test_reads_each_proxy(ingress: Ingress, headers: Sent, verify: Verify, expected: OriginalRequest) -> None:
    assert read(headers, ingress, **verify) == expected


# A client adds other conventions' headers; a pinned ingress never reads them, even malformed or repeated.
SMUGGLED: Sent = {
    "x-original-uri": ("/public", "/public"),
    "x-original-method": "GET",
    "x-original-url": "not a url",
    "x-forwarded-uri": "/public",
    "x-forwarded-method": "GET",
    "x-forwarded-host": "public.example.test",
    "host": "public.example.test, evil",
}
ADMIN = OriginalRequest("DELETE", "admin.example.test", "/admin")
FORWARDED_ADMIN: Sent = {
    "x-forwarded-method": "DELETE",
    "x-forwarded-uri": "/admin",
    "x-forwarded-host": "admin.example.test",
}
PLAIN_TO_PUBLIC: Verify = {"method": "GET", "subpath": "/public"}  # what the auto or envoy columns would read

PINNED_IGNORES_SMUGGLED = [
    pytest.param(
        "nginx",
        {
            **SMUGGLED,
            "x-original-url": "http://public.example.test/public",
            "x-forwarded-method": "DELETE",
            "x-forwarded-uri": "/admin",
            "x-forwarded-host": "admin.example.test",
            "x-original-method": "DELETE",
            "x-original-uri": "/admin",
        },
        PLAIN_TO_PUBLIC,
        ADMIN,
        id="nginx-ignores-x-original-url-host-and-sub-path",
    ),
    pytest.param(
        "ingress-nginx",
        {**SMUGGLED, "x-original-method": "DELETE", "x-original-url": "https://admin.example.test/admin"},
        PLAIN_TO_PUBLIC,
        ADMIN,
        id="ingress-nginx-ignores-client-x-forwarded-x-original-uri-and-sub-path",
    ),
    pytest.param(
        "traefik",
        {**SMUGGLED, **FORWARDED_ADMIN},
        PLAIN_TO_PUBLIC,
        ADMIN,
        id="traefik-ignores-x-original-host-and-sub-path",
    ),
    pytest.param(
        "caddy",
        {**SMUGGLED, **FORWARDED_ADMIN},
        PLAIN_TO_PUBLIC,
        ADMIN,
        id="caddy-ignores-x-original-host-and-sub-path",
    ),
    pytest.param(
        "envoy",
        {**SMUGGLED, "host": "admin.example.test"},
        {"method": "DELETE", "subpath": "/admin"},
        ADMIN,
        id="envoy-prefix-ignores-every-forwarding-header",
    ),
    pytest.param(
        "envoy",
        {**SMUGGLED, "host": "admin.example.test", "x-forwarded-uri": "/admin"},
        {"method": "DELETE", "subpath": None},
        ADMIN,
        id="envoy-override-ignores-x-original-and-forwarded-method",
    ),
]


@pytest.mark.parametrize(("ingress", "headers", "verify", "expected"), PINNED_IGNORES_SMUGGLED)
def test_pinned_ingress_reads_only_its_column(
    ingress: Ingress, headers: Sent, verify: Verify, expected: OriginalRequest
) -> None:
    assert read(headers, ingress, **verify) == expected


AUTO_CONFLICTS = [
    pytest.param(
        {"x-forwarded-method": "GET", "x-forwarded-uri": "/public", "x-original-uri": "/admin"},
        {},
        "conflicting_uri",
        id="smuggled-x-original-uri-next-to-x-forwarded-uri-403",
    ),
    pytest.param(
        {**INGRESS_NGINX, "x-forwarded-uri": "/public"},
        {},
        "conflicting_uri",
        id="oauth2-proxy-GHSA-7x63-spoofed-x-forwarded-uri-403",
    ),
    pytest.param(
        {**ENVOY_PREFIX, "x-forwarded-uri": "/public"},
        ENVOY_PREFIX_VERIFY,
        "conflicting_uri",
        id="envoy-sub-path-against-x-forwarded-uri-403",
    ),
    pytest.param(
        {"x-forwarded-method": "GET", "x-original-method": "DELETE", "x-forwarded-uri": "/a"},
        {},
        "conflicting_method",
        id="x-forwarded-against-x-original-method-403",
    ),
    pytest.param(
        {**ENVOY_PREFIX, "x-forwarded-method": "GET"},
        ENVOY_PREFIX_VERIFY,
        "conflicting_method",
        id="envoy-request-method-against-x-forwarded-method-403",
    ),
    pytest.param(
        {**INGRESS_NGINX, "x-forwarded-host": "public.example.test"},
        {},
        "conflicting_host",
        id="x-original-url-host-against-x-forwarded-host-403",
    ),
    pytest.param(
        {**ENVOY_PREFIX, "x-forwarded-host": "public.example.test"},
        ENVOY_PREFIX_VERIFY,
        "conflicting_host",
        id="envoy-host-against-x-forwarded-host-403",
    ),
]


@pytest.mark.parametrize(("headers", "verify", "reason"), AUTO_CONFLICTS)
def test_auto_refuses_disagreeing_sources(headers: Sent, verify: Verify, reason: str) -> None:
    assert rejection(headers, "auto", verify) == reason


AUTO_AGREEMENTS = [
    pytest.param(
        {"x-forwarded-method": "GET", "x-forwarded-uri": "/admin", "x-original-uri": "/a/../admin"},
        {},
        OriginalRequest("GET", None, "/admin"),
        id="same-path-spelled-differently",
    ),
    pytest.param(
        {"x-forwarded-method": "GET", "x-forwarded-uri": "/api?x=1", "x-original-uri": "/api?x=2"},
        {},
        OriginalRequest("GET", None, "/api"),
        id="queries-differ-paths-agree",
    ),
    pytest.param(
        {"x-forwarded-method": "get", "x-original-method": "GET", "x-forwarded-uri": "/a"},
        {},
        OriginalRequest("GET", None, "/a"),
        id="methods-differ-only-in-case",
    ),
    pytest.param(
        {**INGRESS_NGINX, "x-forwarded-host": "App.Example.Test:80"},
        {},
        OriginalRequest("DELETE", "app.example.test", "/api/items"),
        id="hosts-differ-only-in-case-and-port",
    ),
    pytest.param(
        {"x-forwarded-method": "DELETE", "x-forwarded-uri": "/a"},
        {"method": "GET"},
        OriginalRequest("DELETE", None, "/a"),
        id="plain-verify-request-method-not-a-source",
    ),
    pytest.param(
        {
            "host": "authcheck",
            "x-forwarded-host": "app.example.test",
            "x-forwarded-method": "GET",
            "x-forwarded-uri": "/a",
        },
        {},
        OriginalRequest("GET", "app.example.test", "/a"),
        id="plain-verify-host-header-not-a-source",
    ),
]


@pytest.mark.parametrize(("headers", "verify", "expected"), AUTO_AGREEMENTS)
def test_auto_accepts_agreeing_sources(headers: Sent, verify: Verify, expected: OriginalRequest) -> None:
    assert read(headers, "auto", **verify) == expected


REFUSED = [
    # repeated, listed or empty
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-uri": ("/public", "/admin")},
        {},
        "duplicate_header",
        id="two-x-forwarded-uri-lines-403",
    ),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-uri": ("/a", "/a")},
        {},
        "duplicate_header",
        id="two-identical-x-forwarded-uri-lines-403",
    ),
    pytest.param(
        "nginx",
        {**NGINX, "x-original-method": ("GET", "GET")},
        {},
        "duplicate_header",
        id="two-x-original-method-lines-403",
    ),
    pytest.param(
        "caddy",
        {**CADDY, "x-forwarded-host": ("a.test", "b.test")},
        {},
        "duplicate_header",
        id="two-x-forwarded-host-lines-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": ("http://a/x", "http://a/x")},
        {},
        "duplicate_header",
        id="two-x-original-url-lines-403",
    ),
    pytest.param(
        "envoy",
        {"host": ("a.test", "b.test")},
        ENVOY_PREFIX_VERIFY,
        "duplicate_header",
        id="two-host-lines-behind-envoy-403",
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-uri": ""}, {}, "empty_header", id="empty-uri-403"),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-method": ""}, {}, "empty_header", id="empty-method-403"),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-host": ""}, {}, "empty_header", id="empty-host-403"),
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-method": "GET, DELETE"}, {}, "method_list", id="comma-listed-method-403"
    ),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-host": "public.test, admin.test"},
        {},
        "host_list",
        id="comma-listed-forwarded-host-403",
    ),
    # method
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-method": "GE T"}, {}, "method_invalid", id="method-with-space-403"
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-method": "GET\r"}, {}, "method_invalid", id="method-with-cr-403"),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-method": "GÉT"}, {}, "method_invalid", id="non-ascii-method-403"),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-method": "\u017fet"},
        {},
        "method_invalid",
        id="method-that-upper-cases-to-ascii-403",
    ),
    pytest.param(
        "envoy",
        ENVOY_PREFIX,
        {**ENVOY_PREFIX_VERIFY, "method": "GET/1"},
        "method_invalid",
        id="envoy-request-method-not-a-token-403",
    ),
    # URI
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-uri": "api/items"}, {}, "uri_not_origin_form", id="relative-uri-403"
    ),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-uri": "http://evil/admin"},
        {},
        "uri_not_origin_form",
        id="absolute-form-in-x-forwarded-uri-403",
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-uri": "*"}, {}, "uri_not_origin_form", id="asterisk-uri-403"),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-uri": "/admin#/public"},
        {},
        "uri_fragment",
        id="oauth2-proxy-GHSA-pxq7-fragment-403",
    ),
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-uri": "/a?x=1#y"}, {}, "uri_fragment", id="fragment-after-query-403"
    ),
    pytest.param(
        "caddy", {**CADDY, "x-forwarded-uri": "/a%2Fb"}, {}, "path_encoded_slash", id="ambiguous-path-in-uri-403"
    ),
    pytest.param(
        "envoy",
        ENVOY_PREFIX,
        {**ENVOY_PREFIX_VERIFY, "subpath": "/a%2Fb"},
        "path_encoded_slash",
        id="ambiguous-envoy-sub-path-403",
    ),
    pytest.param(
        "auto",
        {**TRAEFIK, "x-original-uri": "/../admin"},
        {},
        "path_above_root",
        id="ambiguous-path-in-second-source-403",
    ),
    # ingress-nginx X-Original-URL
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "/api/items"},
        {},
        "url_invalid",
        id="url-without-scheme-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "ftp://app.test/x"},
        {},
        "url_invalid",
        id="url-not-http-403",
    ),
    pytest.param(
        "ingress-nginx", {**INGRESS_NGINX, "x-original-url": "http:///x"}, {}, "url_invalid", id="url-without-host-403"
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "http://app.test"},
        {},
        "url_invalid",
        id="url-without-path-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "//app.test/x"},
        {},
        "url_invalid",
        id="scheme-relative-url-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "http://app.test?a=/x"},
        {},
        "host_invalid",
        id="url-query-before-path-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "http://public.test@admin.test/x"},
        {},
        "host_invalid",
        id="url-with-userinfo-403",
    ),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "http://app.test/a#b"},
        {},
        "uri_fragment",
        id="url-with-fragment-403",
    ),
    # host
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-host": "app.test/admin"}, {}, "host_invalid", id="host-with-slash-403"
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-host": "app test"}, {}, "host_invalid", id="host-with-space-403"),
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-host": "app.test:http"}, {}, "host_invalid", id="host-with-named-port-403"
    ),
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-host": "app%2etest"}, {}, "host_invalid", id="host-percent-encoded-403"
    ),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-host": "\u212aelvin.test"},
        {},
        "host_invalid",
        id="host-that-lower-cases-to-ascii-403",
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-host": "[::1"}, {}, "host_invalid", id="unclosed-ipv6-403"),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-host": "[1::2::3]"}, {}, "host_invalid", id="bad-ipv6-403"),
    pytest.param(
        "traefik", {**TRAEFIK, "x-forwarded-host": "[fe80::1%25eth0]"}, {}, "host_invalid", id="ipv6-zone-403"
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-host": "."}, {}, "host_invalid", id="host-only-a-dot-403"),
    pytest.param("envoy", {"host": "a.test:1:2"}, ENVOY_PREFIX_VERIFY, "host_invalid", id="envoy-host-two-ports-403"),
    # nothing to go on
    pytest.param("auto", {}, {}, "method_unknown", id="no-headers-at-all-403"),
    pytest.param(
        "auto",
        {"x-forwarded-uri": "/a"},
        {"method": "GET"},
        "method_unknown",
        id="auto-plain-verify-without-method-header-403",
    ),
    pytest.param(
        "traefik",
        {"x-forwarded-uri": "/a", "x-original-method": "GET"},
        {},
        "method_unknown",
        id="traefik-without-its-method-header-403",
    ),
    pytest.param(
        "traefik",
        {"x-forwarded-method": "GET", "x-original-uri": "/a"},
        {},
        "uri_unknown",
        id="traefik-without-its-uri-header-403",
    ),
    pytest.param(
        "ingress-nginx",
        {"x-original-method": "GET", "x-forwarded-uri": "/a"},
        {},
        "uri_unknown",
        id="ingress-nginx-without-x-original-url-403",
    ),
    pytest.param(
        "envoy",
        {"host": "a.test", "x-original-uri": "/a"},
        ENVOY_OVERRIDE_VERIFY,
        "uri_unknown",
        id="envoy-plain-verify-without-x-forwarded-uri-403",
    ),
]


@pytest.mark.parametrize(("ingress", "headers", "verify", "reason"), REFUSED)
def test_refuses(ingress: Ingress, headers: Sent, verify: Verify, reason: str) -> None:
    assert rejection(headers, ingress, verify) == reason


HOSTS = [
    pytest.param("App.Example.TEST", "app.example.test", id="lower-cased"),
    pytest.param("app.example.test:8443", "app.example.test", id="port-removed"),
    pytest.param("app.example.test:", "app.example.test", id="empty-port-removed"),
    pytest.param("app.example.test.", "app.example.test", id="trailing-dot-removed"),
    pytest.param("10.0.0.1:80", "10.0.0.1", id="ipv4-port-removed"),
    pytest.param("[::1]:8080", "[::1]", id="ipv6-port-removed"),
    pytest.param("[2001:DB8:0:0::1]", "[2001:db8::1]", id="ipv6-compressed-lower-cased"),
    pytest.param("my_host-1.internal", "my_host-1.internal", id="underscore-and-hyphen-kept"),
]


@pytest.mark.parametrize(("sent", "expected"), HOSTS)
def test_host_canonical_form(sent: str, expected: str) -> None:
    assert read({**TRAEFIK, "x-forwarded-host": sent}, "traefik").host == expected


def test_no_host_source_gives_none() -> None:
    assert read({"x-forwarded-method": "GET", "x-forwarded-uri": "/a", "host": "app.test"}, "traefik").host is None


METHODS = [
    pytest.param("get", "GET", id="upper-cased"),
    pytest.param("PROPFIND", "PROPFIND", id="extension-method"),
    pytest.param("M-SEARCH", "M-SEARCH", id="token-with-hyphen"),
]


@pytest.mark.parametrize(("sent", "expected"), METHODS)
def test_method_canonical_form(sent: str, expected: str) -> None:
    assert read({**TRAEFIK, "x-forwarded-method": sent}, "traefik").method == expected


PATHS = [
    pytest.param(
        "nginx",
        {**NGINX, "x-forwarded-uri": "/public/../admin/secrets", "x-original-uri": "/public/../admin/secrets"},
        {},
        "/admin/secrets",
        id="oathkeeper-GHSA-p224-dot-dot-normalized",
    ),
    pytest.param(
        "caddy",
        {**CADDY, "x-forwarded-uri": "/public/%2e%2e/admin"},
        {},
        "/admin",
        id="caddy-raw-encoded-dot-dot-normalized",
    ),
    pytest.param(
        "traefik",
        {**TRAEFIK, "x-forwarded-uri": "/admin?next=/public/"},
        {},
        "/admin",
        id="oauth2-proxy-GHSA-7rh7-query-not-matched",
    ),
    pytest.param("traefik", {**TRAEFIK, "x-forwarded-uri": "/admin?a=%zz&b=%"}, {}, "/admin", id="query-not-validated"),
    pytest.param(
        "ingress-nginx",
        {**INGRESS_NGINX, "x-original-url": "HTTPS://app.example.test//x//y?z"},
        {},
        "/x/y",
        id="ingress-nginx-url-path-normalized",
    ),
    pytest.param("envoy", ENVOY_PREFIX, {**ENVOY_PREFIX_VERIFY, "subpath": "/"}, "/", id="envoy-root"),
    pytest.param(
        "envoy",
        ENVOY_PREFIX,
        {**ENVOY_PREFIX_VERIFY, "subpath": "//public/../admin"},
        "/admin",
        id="envoy-raw-sub-path-normalized",
    ),
    pytest.param(
        "envoy",
        ENVOY_PREFIX,
        {**ENVOY_PREFIX_VERIFY, "query": "p=/public#"},
        "/api/items",
        id="envoy-verify-query-not-read",
    ),
]


@pytest.mark.parametrize(("ingress", "headers", "verify", "expected"), PATHS)
def test_path_is_normalized_without_query(ingress: Ingress, headers: Sent, verify: Verify, expected: str) -> None:
    assert read(headers, ingress, **verify).path == expected
