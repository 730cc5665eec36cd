"""One scenario table, run through every real proxy in front of a real authcheck.

Each proxy (nginx, Traefik, Caddy, Envoy) starts from the SHIPPED files (see harness.py), in front
of a real `authcheck serve` and the recording echo app, all on 127.0.0.1. So does Envoy with the
ext_authz configuration Envoy Gateway and Istio generate from k8s/gateway/ (`envoy-gateway`,
`istio`: envoy/gateway-dataplane/), which authcheck reads as `ingress: envoy`, and Traefik's
ingress-nginx provider reading ingress-nginx/ingress.yaml (`traefik-ingress-nginx`,
`ingress: traefik`). Clients are plain
http.client requests that put the path on the request line byte for byte: httpx would resolve
`/public/../orders/1` to `/orders/1` before sending it.

GRPC_KINDS ask authcheck over gRPC (`serve --grpc-port`): Envoy from envoy/envoy-grpc.yaml
(`envoy-grpc`) and the kit's gRPC data planes (`envoy-gateway-grpc`, `istio-grpc`). Over gRPC
the `ingress` setting does not apply, so their scenarios run once, with `ingress: auto`.

Every authcheck scenario runs twice per HTTP proxy:

- `<proxy>-<scenario>`: authcheck with the `ingress:` setting the shipped file asks for
  (`ingress: nginx`, `ingress: traefik`, ..., and INGRESS_SETTING for the kit's kinds);
- `<proxy>-<scenario>-ingress-auto`: the default `ingress: auto`, which reads every proxy's
  headers, so a header a proxy lets through from the client has the most to work with.

The fail-closed scenarios replace that authcheck with a stopped one, one that cannot get keys,
or a stand-in slower than the shipped timeout. Traefik's timeout is a fixed 30 s, so those slow
requests start in the background when the module starts, and their tests collect the answers.

One JWKS server and one authcheck per `ingress` setting serve the whole module; each proxy
starts once per backend. The rules are the SPEC's example (tests/support/configs.py `service_config`),
plus an anonymous rule for the host `status.example.com`, so that a client-chosen host would
open a door if a proxy let one reach authcheck.
"""

from __future__ import annotations

import json
import re
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Protocol

import grpc
import pytest
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest, CheckResponse, OkHttpResponse
from google.rpc.status_pb2 import Status
from support.configs import service_config
from support.jwks_server import JwksServer, free_port
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint, new_key

from .harness import (
    DATAPLANE_KINDS,
    GRPC_KINDS,
    PROXY_KINDS,
    READY_PROBE_PATH,
    Answer,
    Proxy,
    RecordingServer,
    Response,
    Seen,
    StartProxy,
    start_proxy,
)
from .harness import request as http_request
from .readings import is_public, readings

# ---------------------------------------------------------------------------------------------
# What the app, the tokens and the client send

IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Issuer",
    "X-Auth-Scopes",
    "X-Auth-Client-Id",
    "X-Auth-Organization-Id",
    "X-Auth-Email",
)
ENVOY_REMOVE_HEADER = "x-envoy-auth-headers-to-remove"  # for Envoy only, never for the app

STATUS_PAGE_RULE = {
    "name": "status-page",
    "match": {"hosts": ["status.example.com"], "methods": ["GET", "HEAD"]},
    "allow": "anonymous",
}


def app(seen: Seen) -> Answer:
    """The protected app: echoes the request as JSON; /orders/missing is its own 404."""
    status = 404 if seen.path.startswith("/orders/missing") else 200
    body = json.dumps({"app": "echo", "method": seen.method, "path": seen.path, "headers": seen.headers}).encode()
    return status, [("Content-Type", "application/json"), ("X-App", "echo")], body


def token_claims() -> dict[str, dict[str, Any]]:
    """Claim overrides per token name (support.tokens.claims adds sub user-1, client_id client-1,
    scope "read:orders profile", a 10-minute exp and the test audience)."""
    now = int(time.time())
    return {
        "full": {"email": "alice@example.com", "organization_id": "org-1"},
        "plain": {},  # no email, no organization: authcheck sends neither header
        "no_scope": {"scope": "profile"},
        "expired": {"iat": now - 7200, "exp": now - 3600},
        "wrong_audience": {"aud": "https://other.example.com"},
    }


def expected_identity(name: str | None, issuer: str) -> dict[str, str]:
    """The identity headers the app must see, and only these, for a request with token `name`."""
    if name is None:
        return {}
    identity = {
        "X-Auth-Subject": "user-1",
        "X-Auth-Issuer": issuer,
        "X-Auth-Scopes": "profile read:orders",
        "X-Auth-Client-Id": "client-1",
    }
    if name == "full":
        identity |= {"X-Auth-Email": "alice@example.com", "X-Auth-Organization-Id": "org-1"}
    return identity


FORGED = (
    ("X-Auth-Subject", "mallory"),
    ("X-Auth-Scopes", "admin superuser read:orders"),
    ("X-Auth-Email", "mallory@evil.example"),
    ("X-Auth-Client-Id", "forged-client"),
    ("X-Auth-Issuer", "https://evil.example/oidc"),
    ("X-Auth-Organization-Id", "forged-org"),
)
# Every identity header (the built-in ones and the configured X-Auth-Email) in other spellings.
# Letter case: the same header to every HTTP component, so the proxy must strip it like the
# canonical one. `_` and `.`: CGI, WSGI and PHP apps read them as X-Auth-*, so they must not
# reach the app at all, whether or not authcheck's answer sets that header.
CASE_VARIANTS = tuple((spelled, value) for name, value in FORGED for spelled in (name.upper(), name.lower()))
UNDERSCORE_ALIASES = tuple(
    (spelled, value)
    for name, value in FORGED
    for spelled in (name.replace("-", "_"), name.replace("-", "_").lower(), name.replace("-", "_", 1))
)
# Apart from the underscores: Envoy refuses any request with one (400), which would hide these.
DOT_ALIASES = tuple(
    (spelled, value) for name, value in FORGED for spelled in (name.replace("-", "."), name.replace("-", ".", 1))
)
FORGED_VALUES = tuple({value for _, value in FORGED})

SMUGGLED_EVERYTHING = (
    ("X-Original-URI", "/public/x"),
    ("X-Original-URL", "http://127.0.0.1/public/x"),
    ("X-Forwarded-Uri", "/public/x"),
    ("X-Original-Method", "GET"),
    ("X-Forwarded-Method", "GET"),
    ("X-Forwarded-Host", "status.example.com"),
)

# What each proxy answers when authcheck cannot decide (docs/proxies.md, "What the client gets").
# authcheck's own 503 (no keys) carries Retry-After: Traefik and Caddy relay it; nginx turns the
# 503 into its 500 and Envoy into status_on_error's empty 503, both without it.
# The kit's Envoy data planes have statusOnError 503 (k8s/gateway/), so they answer as Envoy;
# Traefik's ingress-nginx provider answers as Traefik's forwardAuth does.
# Over gRPC, authcheck's 503 is a denied_response that Envoy relays whole, Retry-After included;
# unreachable or slow, every gRPC file's status_on_error answers 503 (Envoy's default is 403).
KINDS = PROXY_KINDS + DATAPLANE_KINDS + GRPC_KINDS
INGRESS_SETTING = {"envoy-gateway": "envoy", "istio": "envoy", "traefik-ingress-nginx": "traefik"}
ANSWERS_AS = {
    "envoy-gateway": "envoy",
    "istio": "envoy",
    "traefik-ingress-nginx": "traefik",
    **{kind: "envoy" for kind in GRPC_KINDS},
}


def _with_kit(by_proxy: dict[str, Any]) -> dict[str, Any]:
    return by_proxy | {kind: by_proxy[proxy] for kind, proxy in ANSWERS_AS.items()}


DOWN_STATUS = _with_kit({"nginx": 500, "traefik": 500, "caddy": 502, "envoy": 503})
SLOW_STATUS = _with_kit({"nginx": 500, "traefik": 500, "caddy": 504, "envoy": 503})
KEYLESS_STATUS = _with_kit({"nginx": 500, "traefik": 503, "caddy": 503, "envoy": 503})  # authcheck: 503, Retry-After
RELAYS_RETRY_AFTER = frozenset({"traefik", "caddy", "traefik-ingress-nginx", *GRPC_KINDS})
# How long each shipped file lets authcheck take (nginx proxy_read_timeout, Traefik's fixed
# forwardAuth client timeout, Caddy response_header_timeout, Envoy server_uri.timeout and
# envoy-grpc.yaml's grpc_service.timeout; the kit:
# SecurityPolicy extAuth.timeout, the Istio provider's timeout, Traefik's fixed 30 s).
SHIPPED_AUTH_TIMEOUT = _with_kit({"nginx": 3.0, "traefik": 30.0, "caddy": 3.0, "envoy": 3.0})
# nginx keeps only the status of a denial (and WWW-Authenticate on a 401), with its own HTML body.
REPLACES_DENIAL_BODY = frozenset({"nginx"})

NO_CREDENTIALS = r'Bearer realm="authcheck"'
INVALID_TOKEN = r'Bearer realm="authcheck", error="invalid_token"(, error_description="[^"]+")?'
INSUFFICIENT_SCOPE = (
    r'Bearer realm="authcheck", error="insufficient_scope", scope="read:orders"'
    r'(, error_description="[^"]+")?'
)


# ---------------------------------------------------------------------------------------------
# The scenario table


@dataclass
class Outcome:
    """What one scenario did: the client's answer and every request the app received."""

    kind: str
    issuer: str
    scenario: Scenario
    answer: Response
    app_saw: list[Seen]
    diagnostics: Callable[[], str]

    def why(self) -> str:
        return (
            f"{self.kind} {self.scenario.method} {self.scenario.path}: client got {self.answer.status} "
            f"{self.answer.body[:300]!r}, app saw {[(s.method, s.path) for s in self.app_saw]}\n"
            f"{self.diagnostics()}"
        )


class Expectation(Protocol):
    def check(self, outcome: Outcome) -> None: ...


@dataclass(frozen=True)
class Reaches:
    """The app gets the request once, with exactly the identity of token `identity` (None: no
    identity header at all) and nothing the client forged; the client gets the app's answer."""

    identity: str | None

    def check(self, outcome: Outcome) -> None:
        assert len(outcome.app_saw) == 1, outcome.why()
        [seen] = outcome.app_saw
        assert (seen.method, seen.path) == (outcome.scenario.method, outcome.scenario.path), outcome.why()
        _exact_identity(seen, self.identity, outcome)
        assert seen.all(ENVOY_REMOVE_HEADER) == [], outcome.why()
        _no_forged_value(seen, outcome)
        status, _, body = app(seen)
        body = b"" if seen.method == "HEAD" else body
        assert (outcome.answer.status, outcome.answer.body) == (status, body), outcome.why()
        assert outcome.answer.header("X-App") == "echo", outcome.why()


@dataclass(frozen=True)
class Refused:
    """authcheck's denial reaches the client: the status, the RFC 6750 challenge (nginx drops it
    on a 403) and, where the proxy relays bodies, authcheck's JSON code. The app sees nothing."""

    status: int
    challenge: str | None  # a regular expression for WWW-Authenticate; None: no challenge
    code: str

    def check(self, outcome: Outcome) -> None:
        assert outcome.app_saw == [], outcome.why()
        assert outcome.answer.status == self.status, outcome.why()
        challenges = [v for k, v in outcome.answer.headers if k.lower() == "www-authenticate"]
        if self.challenge is None or (self.status == 403 and outcome.kind in REPLACES_DENIAL_BODY):
            assert challenges == [], outcome.why()
        else:
            assert len(challenges) == 1 and re.fullmatch(self.challenge, challenges[0]), (
                f"WWW-Authenticate {challenges}\n{outcome.why()}"
            )
        if outcome.scenario.method == "HEAD":
            assert outcome.answer.body == b"", outcome.why()
        elif outcome.kind not in REPLACES_DENIAL_BODY:
            assert json.loads(outcome.answer.body)["code"] == self.code, outcome.why()


@dataclass(frozen=True)
class NotThrough:
    """Refused, by the proxy or by authcheck (any status but 2xx), and the app sees nothing."""

    def check(self, outcome: Outcome) -> None:
        assert outcome.app_saw == [], outcome.why()
        assert not 200 <= outcome.answer.status < 300, outcome.why()


@dataclass(frozen=True)
class NeverProtected:
    """A path that some app reads as protected: the app sees no request, or only a path that every
    reading puts under /public/; a 2xx only ever comes from the app, for such a path. Some proxies
    refuse these themselves (400, 404): that is fine."""

    def check(self, outcome: Outcome) -> None:
        assert not is_public(outcome.scenario.path), "not a trick: every reading is public"
        for seen in outcome.app_saw:
            received = seen.path.encode("latin-1")
            assert is_public(received), f"the app saw {seen.path!r}: readings {readings(received)}\n{outcome.why()}"
            assert all(seen.all(name) == [] for name in IDENTITY_HEADERS), outcome.why()
        if 200 <= outcome.answer.status < 300:
            assert len(outcome.app_saw) == 1, outcome.why()
            assert outcome.answer.body == app(outcome.app_saw[0])[2], outcome.why()


@dataclass(frozen=True)
class NoAliasedIdentity:
    """The proxy refuses the request, or the app gets it with exactly the identity of token
    `identity` under the canonical names, no other spelling of an identity header
    (`X_Auth_Subject` is `X-Auth-Subject` to CGI/WSGI/PHP) and no forged value."""

    identity: str | None = None

    def check(self, outcome: Outcome) -> None:
        if not outcome.app_saw:
            assert not 200 <= outcome.answer.status < 300, outcome.why()
            return
        [seen] = outcome.app_saw
        canonical = {h.lower() for h in IDENTITY_HEADERS}
        aliased = [n for n, _ in seen.headers if re.sub(r"[_.]", "-", n).lower() in canonical - {n.lower()}]
        assert aliased == [], outcome.why()
        _exact_identity(seen, self.identity, outcome)
        _no_forged_value(seen, outcome)
        assert outcome.answer.status == 200, outcome.why()


@dataclass(frozen=True)
class FailsClosed:
    """authcheck cannot decide: the client gets the proxy's documented 5xx, the app nothing."""

    status: Mapping[str, int]
    retry_after: frozenset[str] | None = None  # when authcheck sends one: the proxies that relay it

    def check(self, outcome: Outcome) -> None:
        assert outcome.app_saw == [], outcome.why()
        assert 500 <= outcome.answer.status < 600, outcome.why()
        assert outcome.answer.status == self.status[outcome.kind], outcome.why()
        if self.retry_after is not None:
            relayed = outcome.answer.header("Retry-After") is not None
            assert relayed == (outcome.kind in self.retry_after), outcome.why()


def _exact_identity(seen: Seen, identity: str | None, outcome: Outcome) -> None:
    """Each identity header arrives once with authcheck's value for token `identity`, or not at all."""
    expected = expected_identity(identity, outcome.issuer)
    for name in IDENTITY_HEADERS:
        wanted = [expected[name]] if name in expected else []
        got = seen.all(name)
        if name == "X-Auth-Scopes":  # space-separated, in any order
            got, wanted = _scope_sets(got), _scope_sets(wanted)
        assert got == wanted, f"{name}: app saw {seen.all(name)}, wanted {wanted}\n{outcome.why()}"


def _scope_sets(values: list[str]) -> list[str]:
    return [" ".join(sorted(value.split(" "))) for value in values]


def _no_forged_value(seen: Seen, outcome: Outcome) -> None:
    for name, value in seen.headers:
        assert not any(forged in value for forged in FORGED_VALUES), f"{name}: {value}\n{outcome.why()}"


Backend = Literal["authcheck", "stopped", "slow", "keyless"]


@dataclass(frozen=True)
class Scenario:
    id: str
    method: str
    path: str
    expect: Expectation
    token: str | None = None  # sends `Authorization: Bearer <that token>`
    headers: tuple[tuple[str, str], ...] = ()  # values may name tokens: "Bearer {plain}"
    backend: Backend = "authcheck"  # what the proxy asks

    def request_headers(self, tokens: Mapping[str, str]) -> list[tuple[str, str]]:
        sent = [("Authorization", f"Bearer {tokens[self.token]}")] if self.token else []
        return sent + [(name, value.format_map(tokens)) for name, value in self.headers]


def smuggled(header: str, value: str) -> tuple[tuple[str, str], ...]:
    return ((header, value),)


S = Scenario
SCENARIOS: list[Scenario] = [
    # A valid token reaches the app, which sees authcheck's identity; the client gets the app's answer.
    S("valid-token-reaches-upstream-with-identity", "GET", "/orders/1?page=2", Reaches("full"), token="full"),
    S("upstream-status-and-body-relayed", "GET", "/orders/missing", Reaches("full"), token="full"),
    S("public-route-reaches-upstream-without-identity", "GET", "/public/x", Reaches(None)),
    S("head-with-token-reaches-upstream", "HEAD", "/orders/1", Reaches("plain"), token="plain"),
    # No token, a bad token, not enough scope: authcheck's refusal, and the app never sees it.
    S(
        "no-token-401-with-challenge",
        "GET",
        "/orders/1",
        Refused(401, NO_CREDENTIALS, "auth.authorization_header_missing"),
    ),
    S("expired-token-401", "GET", "/orders/1", Refused(401, INVALID_TOKEN, "invalid_token"), token="expired"),
    S(
        "wrong-audience-token-401",
        "GET",
        "/orders/1",
        Refused(401, INVALID_TOKEN, "invalid_token"),
        token="wrong_audience",
    ),
    S("foreign-key-token-401", "GET", "/orders/1", Refused(401, INVALID_TOKEN, "invalid_token"), token="foreign_key"),
    S(
        "basic-scheme-401",
        "GET",
        "/orders/1",
        Refused(401, INVALID_TOKEN, "auth.authorization_token_type_not_supported"),
        headers=(("Authorization", "Basic dXNlcjpwYXNz"),),
    ),
    S(
        "two-authorization-headers-refused",
        "GET",
        "/orders/1",
        NotThrough(),  # nginx: its own 400
        headers=(("Authorization", "Bearer {full}"), ("Authorization", "Bearer {no_scope}")),
    ),
    S("head-without-token-401", "HEAD", "/orders/1", Refused(401, NO_CREDENTIALS, "auth.authorization_header_missing")),
    S(
        "missing-scope-403",
        "GET",
        "/orders/1",
        Refused(403, INSUFFICIENT_SCOPE, "auth.insufficient_scope"),
        token="no_scope",
    ),
    S("unlisted-method-403", "POST", "/orders/1", Refused(403, None, "auth.route_denied"), token="full"),
    # A client's own identity headers never reach the app: removed, or replaced by authcheck's.
    S("forged-identity-stripped-on-public-route", "GET", "/public/x", Reaches(None), headers=FORGED),
    S(
        "forged-identity-replaced-by-authcheck-values",
        "GET",
        "/orders/1",
        Reaches("full"),
        token="full",
        headers=FORGED,
    ),
    S(
        "forged-identity-removed-where-token-lacks-claim",
        "GET",
        "/orders/1",
        Reaches("plain"),
        token="plain",
        headers=FORGED,
    ),
    S(
        "forged-identity-replaced-on-public-route-with-token",
        "GET",
        "/public/x",
        Reaches("plain"),
        token="plain",
        headers=FORGED,
    ),
    *(
        scenario
        for kind, aliases in (("underscore", UNDERSCORE_ALIASES), ("dot", DOT_ALIASES))
        for scenario in (
            S(
                f"forged-identity-{kind}-aliases-never-reach-upstream",
                "GET",
                "/public/x",
                NoAliasedIdentity(),
                headers=aliases,
            ),
            S(
                f"forged-identity-{kind}-aliases-never-reach-upstream-with-token",
                "GET",
                "/orders/1",
                NoAliasedIdentity("full"),
                token="full",
                headers=aliases,
            ),
            S(
                f"forged-identity-{kind}-aliases-removed-where-token-lacks-claim",
                "GET",
                "/orders/1",
                NoAliasedIdentity("plain"),  # no email in the token: no X.Auth.Email either
                token="plain",
                headers=aliases,
            ),
        )
    ),
    S("forged-identity-case-variants-stripped", "GET", "/public/x", Reaches(None), headers=CASE_VARIANTS),
    S(
        "forged-identity-case-variants-replaced-by-authcheck-values",
        "GET",
        "/orders/1",
        Reaches("full"),
        token="full",
        headers=CASE_VARIANTS,
    ),
    S(
        "forged-identity-case-variants-removed-where-token-lacks-claim",
        "GET",
        "/orders/1",
        Reaches("plain"),
        token="plain",
        headers=CASE_VARIANTS,
    ),
    # Another proxy's original-request headers, sent by the client, never open a protected route.
    S(
        "smuggled-x-original-uri-refused",
        "GET",
        "/orders/1",
        NotThrough(),
        headers=smuggled("X-Original-URI", "/public/x"),
    ),
    S(
        "smuggled-x-original-url-refused",
        "GET",
        "/orders/1",
        NotThrough(),
        headers=smuggled("X-Original-URL", "http://127.0.0.1/public/x"),
    ),
    S(
        "smuggled-x-forwarded-uri-refused",
        "GET",
        "/orders/1",
        NotThrough(),
        headers=smuggled("X-Forwarded-Uri", "/public/x"),
    ),
    S(
        "smuggled-x-original-method-refused",
        "DELETE",
        "/public/x",
        NotThrough(),
        headers=smuggled("X-Original-Method", "GET"),
    ),
    S(
        "smuggled-x-forwarded-method-refused",
        "DELETE",
        "/public/x",
        NotThrough(),
        headers=smuggled("X-Forwarded-Method", "GET"),
    ),
    S(
        "smuggled-x-forwarded-host-refused",
        "GET",
        "/orders/1",
        NotThrough(),
        headers=smuggled("X-Forwarded-Host", "status.example.com"),
    ),
    S(
        "smuggled-x-original-url-host-refused",
        "GET",
        "/orders/1",
        NotThrough(),
        headers=smuggled("X-Original-URL", "http://status.example.com/orders/1"),
    ),
    S("smuggled-every-convention-refused", "DELETE", "/orders/1", NotThrough(), headers=SMUGGLED_EVERYTHING),
    # Path tricks that some app reads as /orders/1 never reach it without a token.
    *(
        S(name, "GET", path, NeverProtected())
        for name, path in [
            ("dotdot-path-refused", "/public/../orders/1"),
            ("encoded-dotdot-path-refused", "/public/%2e%2e/orders/1"),
            ("uppercase-encoded-dotdot-path-refused", "/public/%2E%2E/orders/1"),
            ("half-encoded-dotdot-path-refused", "/public/.%2e/orders/1"),
            ("encoded-slash-dotdot-path-refused", "/public/..%2Forders/1"),
            ("fully-encoded-traversal-refused", "/public/%2e%2e%2forders/1"),
            ("encoded-backslash-dotdot-path-refused", "/public/..%5Corders/1"),
            ("raw-backslash-dotdot-path-refused", "/public/..\\orders/1"),
            ("double-slash-path-refused", "//orders/1"),
            ("dotdot-semicolon-path-refused", "/public/..;/orders/1"),
            ("semicolon-param-dotdot-path-refused", "/public;x/../orders/1"),
            ("deep-dotdot-path-refused", "/public/x/../../orders/1"),
            ("dotdot-above-root-refused", "/../orders/1"),
            ("dotdot-after-double-slash-refused", "/public//../orders/1"),
            ("raw-fragment-in-path-refused", "/public/x#/../../orders/1"),
        ]
    ),
    # authcheck cannot decide: every proxy fails closed.
    S("authcheck-down-fails-closed", "GET", "/orders/1", FailsClosed(DOWN_STATUS), token="full", backend="stopped"),
    S("authcheck-too-slow-fails-closed", "GET", "/orders/1", FailsClosed(SLOW_STATUS), token="full", backend="slow"),
    S(
        "keys-unavailable-fails-closed",
        "GET",
        "/orders/1",
        FailsClosed(KEYLESS_STATUS, RELAYS_RETRY_AFTER),
        token="full",
        backend="keyless",
    ),
    S("keys-unavailable-public-route-still-served", "GET", "/public/x", Reaches(None), backend="keyless"),
]


def _params() -> Iterator[Any]:
    for kind in KINDS:
        ingress = INGRESS_SETTING.get(kind, kind)
        for scenario in SCENARIOS:
            if kind in GRPC_KINDS:  # `ingress` does not apply: once, as configured by default
                yield pytest.param(kind, "auto", scenario, id=f"{kind}-{scenario.id}")
            elif scenario.backend == "authcheck":
                yield pytest.param(kind, ingress, scenario, id=f"{kind}-{scenario.id}")
                yield pytest.param(kind, "auto", scenario, id=f"{kind}-{scenario.id}-ingress-auto")
            else:
                yield pytest.param(kind, ingress, scenario, id=f"{kind}-{scenario.id}")


# ---------------------------------------------------------------------------------------------
# The bench: one issuer, authcheck per setting, each proxy once per backend


@dataclass
class Stack:
    kind: str
    proxy: Proxy
    app: RecordingServer
    auth_log: Callable[[], str]

    def send(self, method: str, path: str, headers: list[tuple[str, str]]) -> Response:
        return http_request(self.proxy.port, method, path, headers)

    def diagnostics(self) -> str:
        return (
            f"--- {self.kind} log (tail) ---\n{self.proxy.log_text()[-1500:]}\n"
            f"--- auth log (tail) ---\n{self.auth_log()[-1500:]}"
        )


class SlowAuth(RecordingServer):
    """A stand-in auth server that answers the harness's readiness probe at once and every other
    check only once `release` is set (at the latest after `hold` seconds) - and then ALLOWS it: a
    proxy that waited instead of timing out would let the request through."""

    def __init__(self, hold: float) -> None:
        self.release = threading.Event()
        self.hold = hold
        super().__init__(self._answer)

    def _answer(self, seen: Seen) -> Answer:
        if READY_PROBE_PATH in seen.path + (seen.header("X-Forwarded-Uri") or ""):
            return 403, [], b""
        self.release.wait(self.hold)
        return 200, [("X-Auth-Subject", "late")], b""

    def checks(self) -> list[Seen]:
        return [s for s in self.requests if READY_PROBE_PATH not in s.path + (s.header("X-Forwarded-Uri") or "")]


class SlowGrpcAuth:
    """SlowAuth over gRPC: a stand-in ext_authz server that answers every Check only once
    `release` is set (at the latest after `hold` seconds), and then ALLOWS it."""

    def __init__(self, hold: float) -> None:
        self.release = threading.Event()
        self.hold = hold
        self.requests: list[Seen] = []
        stand_in = self

        class Servicer(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
            def Check(self, request: CheckRequest, context: object) -> CheckResponse:
                http = request.attributes.request.http
                stand_in.requests.append(Seen(http.method, http.path, list(http.headers.items())))
                stand_in.release.wait(stand_in.hold)
                late = HeaderValueOption(header=HeaderValue(key="x-auth-subject", value="late"))
                return CheckResponse(status=Status(code=0), ok_response=OkHttpResponse(headers=[late]))

        self.server = grpc.server(ThreadPoolExecutor(max_workers=4))
        external_auth_pb2_grpc.add_AuthorizationServicer_to_server(Servicer(), self.server)
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()

    def checks(self) -> list[Seen]:
        return self.requests

    def stop(self) -> None:
        self.release.set()
        self.server.stop(None)


def scenario_config(issuer: str, ingress: str, **issuer_options: Any) -> dict[str, Any]:
    config = service_config(issuer, **issuer_options)
    config["rules"].insert(0, STATUS_PAGE_RULE)
    config["ingress"] = ingress
    return config


@dataclass
class Bench:
    workdir: Path
    key: SigningKey
    issuer: JwksServer = field(init=False)
    tokens: dict[str, str] = field(init=False)
    _authchecks: dict[str, AuthcheckProcess] = field(default_factory=dict)
    _stacks: dict[tuple[str, str], Stack] = field(default_factory=dict)
    _slow: dict[str, SlowAuth | SlowGrpcAuth] = field(default_factory=dict)
    _servers: list[RecordingServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.issuer = JwksServer().start()
        self.issuer.keys = [self.key.public_jwk]
        iss = self.issuer.issuer
        self.tokens = {name: mint(self.key, iss, **claims) for name, claims in token_claims().items()}
        self.tokens["foreign_key"] = mint(new_key(self.key.alg, kid=self.key.kid), iss)  # same kid, other key

    def authcheck(self, variant: str) -> AuthcheckProcess:
        """`auto` or a proxy name: that `ingress` setting; `keyless`: a JWKS that never answers."""
        if variant not in self._authchecks:
            workdir = self.workdir / f"authcheck-{variant}"
            workdir.mkdir()
            if variant == "keyless":
                config = scenario_config(self.issuer.issuer, "auto", jwks_uri=f"http://127.0.0.1:{free_port()}/jwks")
            else:
                config = scenario_config(self.issuer.issuer, variant)
            process = AuthcheckProcess(workdir, config, grpc=True)  # HTTP and gRPC, for every kind
            self._authchecks[variant] = process
            process.start(wait_ready=variant != "keyless")
        return self._authchecks[variant]

    def slow_auth(self, kind: str) -> SlowAuth | SlowGrpcAuth:
        if kind not in self._slow:
            hold = SHIPPED_AUTH_TIMEOUT[kind] + 15
            self._slow[kind] = SlowGrpcAuth(hold) if kind in GRPC_KINDS else SlowAuth(hold)
        return self._slow[kind]

    def stack(self, kind: str, backend: str) -> Stack:
        """`backend`: an authcheck variant (see `authcheck`), or `slow`."""
        if (kind, backend) not in self._stacks:
            upstream = self._server(RecordingServer(app))
            if backend == "slow":
                stand_in = self.slow_auth(kind)
                auth_port, auth_log = stand_in.port, lambda: f"stand-in got {[s.path for s in stand_in.requests]}"
            else:
                service = self.authcheck(backend)
                auth_port, auth_log = auth_port_for(kind, service), service.log
            try:
                proxy = start_proxy(kind, self.workdir, auth_port=auth_port, upstream_port=upstream.port)
            except RuntimeError as error:  # a missing binary or a failed start is a failure, never a skip
                pytest.fail(str(error))
            self._stacks[kind, backend] = Stack(kind, proxy, upstream, auth_log)
        return self._stacks[kind, backend]

    def _server(self, server: RecordingServer) -> RecordingServer:
        self._servers.append(server)
        return server

    def release_slow_auth(self) -> None:
        for stand_in in self._slow.values():
            stand_in.release.set()

    def close(self) -> None:
        self.release_slow_auth()
        for stack in self._stacks.values():
            stack.proxy.stop()
        for process in self._authchecks.values():
            process.stop()
        for server in [*self._servers, *self._slow.values()]:
            server.stop()
        self.issuer.stop()


@pytest.fixture(scope="module")
def bench(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, SigningKey]) -> Iterator[Bench]:
    bench = Bench(tmp_path_factory.mktemp("scenarios"), keys["ES384"])
    yield bench
    bench.close()


SlowAnswer = tuple[Response, float]  # the client's answer, seconds it took


@pytest.fixture(scope="module")
def slow_answers(bench: Bench, request: pytest.FixtureRequest) -> Iterator[dict[str, Future[SlowAnswer]]]:
    """One request per selected proxy through a too-slow auth, all sent at once in the background.
    A proxy that cannot start fails its own slow test only."""
    scenario = next(s for s in SCENARIOS if s.backend == "slow")
    headers = scenario.request_headers(bench.tokens)

    def send(stack: Stack) -> SlowAnswer:
        started = time.monotonic()
        answer = http_request(
            stack.proxy.port, scenario.method, scenario.path, headers, timeout=SHIPPED_AUTH_TIMEOUT[stack.kind] + 20
        )
        return answer, time.monotonic() - started

    answers: dict[str, Future[SlowAnswer]] = {}
    with ThreadPoolExecutor(max_workers=len(KINDS)) as pool:
        for kind in _selected_kinds(request, "slow"):
            try:
                answers[kind] = pool.submit(send, bench.stack(kind, "slow"))
            except pytest.fail.Exception as error:  # the proxy did not start (see Bench.stack)
                answers[kind] = Future()
                answers[kind].set_exception(error)
        yield answers
        bench.release_slow_auth()


@pytest.fixture(scope="module", autouse=True)
def _slow_checks_start_with_the_module(request: pytest.FixtureRequest) -> None:
    """Traefik's auth timeout is a fixed 30 s: let it run while the other scenarios do."""
    if _selected_kinds(request, "slow"):
        request.getfixturevalue("slow_answers")


def _selected_kinds(request: pytest.FixtureRequest, backend: Backend) -> list[str]:
    """The proxies for which a `backend` scenario of this module is selected in this run."""
    kinds: list[str] = []
    for item in request.session.items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        same_module = getattr(item, "module", None) is request.module
        if same_module and "scenario" in params and params["scenario"].backend == backend:
            kinds += [] if params["kind"] in kinds else [params["kind"]]
    return kinds


# ---------------------------------------------------------------------------------------------
# The test


AFTER_THE_RELEASE = "/orders/after-the-release"  # the slow scenario's second request


@pytest.mark.parametrize(("kind", "ingress", "scenario"), list(_params()))
def test_scenario(kind: str, ingress: str, scenario: Scenario, bench: Bench, request: pytest.FixtureRequest) -> None:
    headers = scenario.request_headers(bench.tokens)
    if scenario.backend == "stopped":
        stack = _stack_with_stopped_authcheck(kind, ingress, bench, request)
        answer = stack.send(scenario.method, scenario.path, headers)
    elif scenario.backend == "slow":
        answer, seconds = request.getfixturevalue("slow_answers")[kind].result()
        stack = bench.stack(kind, "slow")
        stand_in = bench.slow_auth(kind)
        assert len(stand_in.checks()) == 1, "the proxy never asked the slow stand-in"
        limit = SHIPPED_AUTH_TIMEOUT[kind]
        assert limit - 0.5 <= seconds <= limit + 5, f"{kind} answered after {seconds:.1f}s, timeout {limit}s"
        stand_in.release.set()  # the stand-in now allows: a proxy still waiting would pass it on
        # A proxy still waiting got its allow at the release, before this request's check even
        # starts: once this one has reached the app, the first one would have too.
        after = stack.send(scenario.method, AFTER_THE_RELEASE, headers)
        assert after.status == 200, f"{kind}: the released stand-in did not let a new request through"
    else:
        stack = bench.stack(kind, "keyless" if scenario.backend == "keyless" else ingress)
        stack.app.requests.clear()
        answer = stack.send(scenario.method, scenario.path, headers)
    upstream = [seen for seen in stack.app.requests if seen.path != AFTER_THE_RELEASE]
    scenario.expect.check(Outcome(kind, bench.issuer.issuer, scenario, answer, upstream, stack.diagnostics))


def auth_port_for(kind: str, service: AuthcheckProcess) -> int:
    """Where `kind` asks authcheck: its gRPC port for the gRPC proxies, else its HTTP port."""
    if kind in GRPC_KINDS:
        assert service.grpc_port is not None, "authcheck was started without --grpc-port"
        return service.grpc_port
    return service.port


def _stack_with_stopped_authcheck(kind: str, ingress: str, bench: Bench, request: pytest.FixtureRequest) -> Stack:
    """A proxy in front of its own authcheck, shown to work, then with that authcheck stopped."""
    start_service: Callable[..., AuthcheckProcess] = request.getfixturevalue("start_service")
    proxies: StartProxy = request.getfixturevalue("proxies")
    upstream: RecordingServer = request.getfixturevalue("upstream")
    upstream.respond = app
    service = start_service(scenario_config(bench.issuer.issuer, ingress), grpc=kind in GRPC_KINDS)
    proxy = proxies(kind, auth_port=auth_port_for(kind, service), upstream_port=upstream.port)
    stack = Stack(kind, proxy, upstream, service.log)
    control = stack.send("GET", "/orders/1", [("Authorization", f"Bearer {bench.tokens['full']}")])
    assert control.status == 200 and len(upstream.requests) == 1, f"{control}\n{stack.diagnostics()}"
    service.stop()
    upstream.requests.clear()
    return stack


# ---------------------------------------------------------------------------------------------
# Controls: the smuggled headers above would open the door if they reached authcheck alone, so
# the `smuggled-*` scenarios test the proxies, not an authcheck that ignores the header anyway.


@pytest.mark.parametrize(
    ("ingress", "headers"),
    [
        ("auto", {"X-Original-Method": "GET", "X-Original-URI": "/public/x"}),
        ("auto", {"X-Original-Method": "GET", "X-Original-URL": "http://127.0.0.1/public/x"}),
        (
            "auto",
            {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1", "X-Forwarded-Host": "status.example.com"},
        ),
        ("caddy", {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/public/x"}),
        ("nginx", {"X-Original-Method": "GET", "X-Original-URI": "/public/x"}),
    ],
    ids=["original-uri", "original-url", "forwarded-host", "forwarded-uri", "nginx-original-uri"],
)
def test_control_smuggled_headers_alone_would_be_believed(ingress: str, headers: dict[str, str], bench: Bench) -> None:
    answer = bench.authcheck(ingress).verify(method=None, uri=None, headers=headers)  # type: ignore[arg-type]
    assert answer.status_code == 200, answer.text
