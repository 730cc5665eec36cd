"""Differential path and forwarded-header testing through the REAL proxies, in front of a real authcheck.

Each proxy (nginx, Traefik, Caddy, Envoy) starts once from the shipped files (harness.py), in
front of its own `authcheck serve` with the `ingress:` its file asks for, and an app that
records the path it was routed on. The rules: `/public/**` anonymous, `/admin/**` needing the
scope `admin`, an anonymous host rule for `status.example.com`, default deny.

- `test_allowed_path_is_public_to_every_backend`: hypothesis builds request targets out of
  dot-segments, every percent-encoding class, double encoding, invalid escapes, overlong and
  fullwidth UTF-8, backslashes, `;params`, `#` and raw non-ASCII, and sends them WITHOUT a
  token. Whenever the app got one, no reading of the path it got (tests/e2e/readings.py: the
  strict RFC 3986 one and the liberal ones) may fall under `/admin`, and the RFC 3986 reading
  must be under `/public`: authcheck allowed it on the public rule and denies by default, so a
  backend that routes it elsewhere would get a request nobody vouched for.
- `test_path_class`: one target per class, through the same stacks and through a second copy of
  each proxy whose auth server allows everything, to record what the proxy itself does with the
  class (refuses, normalizes, passes raw). AUTHCHECK_DIFF_REPORT=<file> writes that table
  (docs/testing-security.md holds it).
- `test_forwarded_headers_never_change_a_decision`: any combination of client-sent forwarded
  metadata (`Forwarded`, `X-Forwarded-*`, `X-Original-*`, `X-Envoy-Original-Path`) leaves the
  status of a protected request exactly what it was without them.

Budget: AUTHCHECK_DIFF_EXAMPLES examples per proxy and property (default 200, about a minute
for the module on two cores); AUTHCHECK_DIFF_SEED picks the examples (default fixed, so CI runs
the same ones every time); every failure names both so it can be re-run.
"""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.client import HTTPException
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, seed, settings
from hypothesis import strategies as st
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint

from .harness import DATAPLANE_KINDS, PROXY_KINDS, Proxy, RecordingServer, Response, Seen, echo, start_proxy
from .harness import request as http_request
from .readings import readings, strict_readings, under, wire

EXAMPLES = int(os.environ.get("AUTHCHECK_DIFF_EXAMPLES", "200"))
SEED = int(os.environ.get("AUTHCHECK_DIFF_SEED", "20261130"))
RERUN = f"AUTHCHECK_DIFF_SEED={SEED} AUTHCHECK_DIFF_EXAMPLES={EXAMPLES}"
SETTINGS = settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,  # CI keeps no state between runs; the seed alone reproduces a run
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow],
)
# The four shipped proxies; AUTHCHECK_DIFF_KINDS=all adds the k8s/gateway/ kit's data planes.
KINDS = PROXY_KINDS + DATAPLANE_KINDS if os.environ.get("AUTHCHECK_DIFF_KINDS") == "all" else PROXY_KINDS
INGRESS_SETTING = {"envoy-gateway": "envoy", "istio": "envoy", "traefik-ingress-nginx": "traefik"}
PROTECTED = "/admin"
STATUS_HOST = "status.example.com"


def lab_config(issuer: str, ingress: str) -> dict[str, Any]:
    return {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [
            {"name": "status-page", "match": {"hosts": [STATUS_HOST], "methods": ["GET"]}, "allow": "anonymous"},
            {"name": "public", "match": {"paths": ["/public/**"], "methods": ["GET", "HEAD"]}, "allow": "anonymous"},
            {"name": "admin", "match": {"paths": [PROTECTED + "/**"]}, "scopes": ["admin"]},
        ],
        "default": "deny",
        "headers": {"X-Auth-Email": "email"},
        "ingress": ingress,
    }


# ---------------------------------------------------------------------------------------------
# The bench: per proxy, one stack in front of authcheck and one in front of an allow-all stand-in


@dataclass
class Stack:
    kind: str
    proxy: Proxy
    app: RecordingServer
    auth: RecordingServer | AuthcheckProcess
    log_mark: int = 0  # where authcheck's log stood before the last request

    def send(self, method: str, target: str, headers: list[tuple[str, str]] | None = None) -> Response | None:
        """The answer, or None when the proxy closed the connection without one."""
        self.app.requests.clear()
        if isinstance(self.auth, RecordingServer):
            self.auth.requests.clear()
        else:
            self.log_mark = len(self.auth.log())
        try:
            return http_request(self.proxy.port, method, target, headers or [])
        except (HTTPException, OSError):
            return None

    def why(self, target: str, answer: Response | None) -> str:
        status = None if answer is None else answer.status
        auth_log = self.auth.log()[-1500:] if isinstance(self.auth, AuthcheckProcess) else ""
        return (
            f"{self.kind} GET {target!r}: client got {status}, app saw {[s.path for s in self.app.requests]}\n"
            f"rerun with {RERUN}\n--- {self.kind} log ---\n{self.proxy.log_text()[-1500:]}\n--- auth ---\n{auth_log}"
        )


def allow_all(seen: Seen) -> tuple[int, list[tuple[str, str]], bytes]:
    return 200, [], b""


@dataclass
class Lab:
    workdir: Path
    key: SigningKey
    issuer: JwksServer = field(init=False)
    tokens: dict[str, str] = field(init=False)
    observed: dict[tuple[str, str], str] = field(default_factory=dict)  # (class, kind) -> behaviour
    forwarded: dict[tuple[str, str], str] = field(default_factory=dict)  # (header, kind) -> what auth got
    baselines: dict[tuple[str, int], int | None] = field(default_factory=dict)
    _stacks: dict[tuple[str, bool], Stack] = field(default_factory=dict)
    _services: list[AuthcheckProcess] = field(default_factory=list)
    _servers: list[RecordingServer] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.issuer = JwksServer().start()
        self.issuer.keys = [self.key.public_jwk]
        self.tokens = {
            "admin": mint(self.key, self.issuer.issuer, scope="admin", email="root@example.com"),
            "user": mint(self.key, self.issuer.issuer),
        }

    def stack(self, kind: str, stand_in: bool = False) -> Stack:
        """`kind` in front of authcheck (`ingress: <kind>`), or of an auth server allowing all."""
        if (kind, stand_in) not in self._stacks:
            app = self._server(RecordingServer(echo))
            auth: RecordingServer | AuthcheckProcess
            if stand_in:
                auth = self._server(RecordingServer(allow_all))
            else:
                workdir = self.workdir / f"authcheck-{kind}"
                workdir.mkdir()
                auth = AuthcheckProcess(workdir, lab_config(self.issuer.issuer, INGRESS_SETTING.get(kind, kind)))
                self._services.append(auth)
                auth.start()
            try:
                proxy = start_proxy(kind, self.workdir, auth_port=auth.port, upstream_port=app.port)
            except RuntimeError as error:  # a missing binary or a failed start fails, never skips
                pytest.fail(str(error))
            self._stacks[kind, stand_in] = Stack(kind, proxy, app, auth)
        return self._stacks[kind, stand_in]

    def _server(self, server: RecordingServer) -> RecordingServer:
        self._servers.append(server)
        return server

    def close(self) -> None:
        for stack in self._stacks.values():
            stack.proxy.stop()
        for service in self._services:
            service.stop()
        for server in self._servers:
            server.stop()
        self.issuer.stop()


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory, keys: dict[str, SigningKey]) -> Iterator[Lab]:
    lab = Lab(tmp_path_factory.mktemp("differential"), keys["ES256"])
    yield lab
    lab.close()
    report = os.environ.get("AUTHCHECK_DIFF_REPORT")
    if report:
        tables = [
            report_table(lab.observed) if lab.observed else "",
            forwarded_table(lab.forwarded) if lab.forwarded else "",
        ]
        Path(report).write_text("\n".join(filter(None, tables)))


# ---------------------------------------------------------------------------------------------
# Request targets


def _bytes(text: str, form: str) -> str:
    """Each UTF-8 byte of `text` written as `form` (`%{:02X}`: percent-encoded)."""
    return "".join(form.format(b) for b in text.encode())


def _overlong(text: str, size: int) -> str:
    """ASCII in an overlong UTF-8 form, percent-encoded: `.` is C0 AE (2 bytes) or E0 80 AE (3)."""
    lead = (0xC0,) if size == 2 else (0xE0, 0x80)
    return "".join(
        "".join(f"%{b:02x}" for b in (*lead[:-1], lead[-1] | ord(c) >> 6, 0x80 | ord(c) & 0x3F)) for c in text
    )


def _wide(text: str) -> str:
    """The fullwidth forms (U+FF01-U+FF5E), which NFKC turns back into ASCII."""
    return "".join(chr(ord(c) + 0xFEE0) if "!" <= c <= "~" else c for c in text)


# How a whole segment may be spelled. Lone surrogates are raw bytes that are not UTF-8.
SEGMENT_SPELLINGS: list[Callable[[str], str]] = [
    lambda s: s,
    lambda s: _bytes(s, "%{:02X}"),
    lambda s: _bytes(s, "%{:02x}"),
    lambda s: s[:1] + _bytes(s[1:], "%{:02x}"),  # half encoded: .%2e
    lambda s: _bytes(s, "%25{:02X}"),  # double encoding
    lambda s: _bytes(s, "%25{:02x}"),
    lambda s: _bytes(s, "%2525{:02X}"),  # triple encoding
    lambda s: _overlong(s, 2),
    lambda s: _overlong(s, 3),
    lambda s: "".join("\udcc0" + chr(0xDC80 | ord(c) & 0x3F) if c == "." else c for c in s),  # raw C0 AE
    _wide,
    lambda s: _bytes(_wide(s), "%{:02x}"),
    lambda s: s.replace(".", "%e2%80%a4"),  # U+2024 ONE DOT LEADER
    lambda s: s.replace(".", "%ef%b9%92"),  # U+FE52 SMALL FULL STOP
    lambda s: s.replace(".", "\u2024"),
]
SEPARATORS = [
    "/",
    "/",  # twice: a plain slash is the most useful separator to draw
    "//",
    "\\",
    "%2F",
    "%2f",
    "%5C",
    "%5c",
    "%252F",
    "%255C",
    "%25252F",
    "%c0%af",
    "%e0%80%af",
    "%c1%9c",
    "%ef%bc%8f",
    "\uff0f",
    "%ef%bc%bc",
    "/./",
    "/%2e/",
    ";/",
]
EXTRAS = [";", ";x", "#", "?", "%00", "%zz", "%4", "%", "%3B", "%23", "%3F", "%25", "%2525", "%7e", "\u00fc", "\udcff"]


def spell(draw: st.DrawFn, segments: list[str]) -> str:
    """`segments` joined by drawn separators, each spelled in a drawn way, with a few extras."""
    parts = [draw(st.sampled_from(SEGMENT_SPELLINGS))(segments[0])]
    for segment in segments[1:]:
        parts += [draw(st.sampled_from(SEPARATORS)), draw(st.sampled_from(SEGMENT_SPELLINGS))(segment)]
    for _ in range(draw(st.integers(0, 2))):
        parts.insert(draw(st.integers(0, len(parts))), draw(st.sampled_from(EXTRAS)))
    return "/" + "".join(parts)


@st.composite
def walk_target(draw: st.DrawFn) -> str:
    """From /public up to the root and down into /admin: `/public/x/../../admin/x`, spelled."""
    inside = draw(st.lists(st.sampled_from(["x", "."]), max_size=2))
    climbs = [".."] * (sum(s == "x" for s in inside) + 1)
    return spell(draw, ["public", *inside, *climbs, "admin", "x"])


@st.composite
def any_target(draw: st.DrawFn) -> str:
    """Any sequence of those segments, spelled."""
    return spell(draw, draw(st.lists(st.sampled_from(["public", "..", "admin", ".", "x", ""]), min_size=1, max_size=6)))


_FUZZ = st.sampled_from([*"/.%;#?\\aA0~!$&'()*+,=:@[]{}|^`\"<>", "%2e", "%2f", "%5c", "%25", "admin", "public"])
_RAW_UNICODE = st.characters(min_codepoint=0xA0, max_codepoint=0x10FFFF, exclude_categories=("Cs", "Cc"))


def targets() -> st.SearchStrategy[str]:
    fuzz = st.lists(st.one_of(_FUZZ, _RAW_UNICODE), max_size=12).map(lambda parts: "/public/" + "".join(parts))
    return st.one_of(walk_target(), any_target(), any_target().map(lambda t: "/public" + t), fuzz)


# ---------------------------------------------------------------------------------------------
# The property


def assert_public(stack: Stack, target: str, answer: Response | None) -> None:
    """Sent without a token: no reading of what reached the app is protected, the RFC 3986 one is public."""
    seen = list(stack.app.requests)
    if answer is not None and 200 <= answer.status < 300:
        assert len(seen) == 1, stack.why(target, answer)
    for request in seen:
        assert request.header("X-Auth-Subject") is None, stack.why(target, answer)
        received = request.path.encode("latin-1")
        found = readings(received)
        protected = sorted(r for r in found if under(r, PROTECTED))
        assert not protected, f"allowed, and a backend routes it to {protected}\n{stack.why(target, answer)}"
        strict = strict_readings(received)
        assert all(under(r, "/public") for r in strict), (
            f"allowed; RFC 3986 reads {strict}\n{stack.why(target, answer)}"
        )


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@seed(SEED)
@given(target=targets())
# Regression cases hypothesis found; each fails on an authcheck that misses its class.
@example(target="/public/%252e%252e/admin")  # double encoding: %25 + hex reads as `..` decoded twice
@example(target="/public/%25%32%65%25%32%65/admin")  # double encoding, the inner escape itself escaped
@example(target="/public/.%252e/admin")  # double encoding, half of a dot-segment
@example(target="/public/..%252Fadmin")  # double encoding of `/`
@example(target="/public/..%255Cadmin")  # double encoding of `\`
@example(target="/public/%ef%bc%8e%ef%bc%8e/admin")  # NFKC: fullwidth full stops read as `..`
@example(target="/public/..%ef%bc%8fadmin")  # NFKC: fullwidth solidus read as `/`
@example(target="/public/..%ef%bc%bcadmin")  # NFKC: fullwidth reverse solidus read as `\`
@example(target="/public/%e2%80%a4%e2%80%a4/admin")  # NFKC: one dot leader read as `.`
@example(target="/public/%ef%b9%92%ef%b9%92/admin")  # NFKC: small full stop read as `.`
@example(target="/public/..\uff0fadmin")  # NFKC: a raw fullwidth solidus
@example(target="/public/\uff0e\uff0e/admin")  # NFKC: raw fullwidth full stops
@example(target="/public/%e0%80%ae%e0%80%ae/admin")  # invalid UTF-8: 3-byte overlong `.`
@example(target="/public/..%e0%80%afadmin")  # invalid UTF-8: 3-byte overlong `/`
@example(target="/public/\udcc0\udcae\udcc0\udcae/admin")  # invalid UTF-8, raw: overlong `.` bytes on the wire
@example(target="/public/x#/../../admin")  # raw `#`: cut by some servers, not by others
def test_allowed_path_is_public_to_every_backend(kind: str, target: str, lab: Lab) -> None:
    stack = lab.stack(kind)
    assert_public(stack, target, stack.send("GET", target))


# ---------------------------------------------------------------------------------------------
# One target per class: the property, and what each proxy does with the class

PATH_CLASSES: list[tuple[str, str]] = [
    ("plain public path", "/public/x"),
    ("plain protected path", "/admin/x"),
    ("dot-segment", "/public/../admin/x"),
    ("single dot", "/public/./x"),
    ("dot-segment above the root", "/../admin/x"),
    ("encoded unreserved", "/public/%78"),
    ("encoded unreserved to a protected name", "/%61dmin/x"),
    ("encoded reserved", "/public/%40x"),
    ("encoded dot-segment", "/public/%2e%2e/admin/x"),
    ("encoded slash", "/public/..%2Fadmin/x"),
    ("encoded backslash", "/public/..%5Cadmin/x"),
    ("raw backslash", "/public/..\\admin/x"),
    ("encoded NUL", "/public/x%00/x"),
    ("double encoding of `.`", "/public/%252e%252e/admin/x"),
    ("double encoding of `/`", "/public/..%252Fadmin/x"),
    ("double encoding of an unreserved letter", "/public/%2578"),
    ("invalid escape `%zz`", "/public/%zz/x"),
    ("truncated escape `%4`", "/public/x%4"),
    ("overlong UTF-8 `%c0%ae`", "/public/%c0%ae%c0%ae/admin/x"),
    ("overlong UTF-8, 3 bytes", "/public/%e0%80%ae%e0%80%ae/admin/x"),
    ("fullwidth solidus `%ef%bc%8f`", "/public/..%ef%bc%8fadmin/x"),
    ("fullwidth full stops", "/public/%ef%bc%8e%ef%bc%8e/admin/x"),
    ("encoded non-ASCII", "/public/%c3%bc"),
    ("raw non-ASCII", "/public/ü"),
    ("raw fullwidth full stops", "/public/\uff0e\uff0e/admin/x"),
    ("raw invalid UTF-8", "/public/\udcc0\udcae"),
    ("repeated slashes", "//admin/x"),
    ("dot-segment after `//`", "/public//../admin/x"),
    ("`;` parameter on a segment", "/public;x/../admin/x"),
    ("`..;` segment", "/public/..;/admin/x"),
    ("raw `#`", "/public/x#/../../admin/x"),
]


def describe(answer: Response | None, stack: Stack, target: str, asked: bool) -> str:
    """What happened, for a table cell: the path the app got (`raw`: the client's, byte for byte),
    the proxy's own refusal, or authcheck's denial with its reason (or the path it matched)."""
    if answer is None:
        return "closed"
    if stack.app.requests:
        path = stack.app.requests[0].path
        return "raw" if path.encode("latin-1") == wire(target) else f"`{path}`"
    if not asked:
        return f"{answer.status} (proxy)"
    assert isinstance(stack.auth, AuthcheckProcess)
    decision = last_decision(stack.auth, stack.log_mark)
    refused = decision["code"] == "auth.request_rejected"  # the reason; else the path it matched
    return f"{answer.status} `{decision['reason'] if refused else decision['path']}`"


def last_decision(service: AuthcheckProcess, mark: int, timeout: float = 5.0) -> dict[str, Any]:
    """The decision authcheck logged after `mark` (it logs once the answer is sent)."""
    deadline = time.monotonic() + timeout
    while True:
        lines = service.log()[mark:].splitlines()
        decisions = [json.loads(line) for line in lines if line.startswith("{") and '"decision"' in line]
        if decisions:
            return decisions[-1]
        assert time.monotonic() < deadline, f"authcheck logged no decision:\n{service.log()[-1500:]}"
        time.sleep(0.02)


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(("name", "target"), PATH_CLASSES, ids=[name for name, _ in PATH_CLASSES])
def test_path_class(kind: str, name: str, target: str, lab: Lab) -> None:
    probe = lab.stack(kind, stand_in=True)
    answer = probe.send("GET", target)
    asked = isinstance(probe.auth, RecordingServer) and bool(probe.auth.requests)
    lab.observed[name, kind] = describe(answer, probe, target, asked)
    stack = lab.stack(kind)
    answer = stack.send("GET", target)
    lab.observed[name, f"{kind} + authcheck"] = describe(answer, stack, target, asked)
    assert_public(stack, target, answer)


def report_table(observed: dict[tuple[str, str], str]) -> str:
    """Markdown: a row per class, per proxy what it did alone (allow-all auth) and with authcheck."""
    columns = [c for kind in KINDS for c in (kind, f"{kind} + authcheck") if any(k[1] == c for k in observed)]
    lines = ["| class | target | " + " | ".join(columns) + " |", "|---" * (len(columns) + 2) + "|"]
    for name, target in PATH_CLASSES:
        if any((name, c) in observed for c in columns):
            shown = wire(target).decode("utf-8", "backslashreplace").replace("|", "\\|")
            cells = [observed.get((name, c), "") for c in columns]
            lines.append(f"| {name} | `{shown}` | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


# ---------------------------------------------------------------------------------------------
# Forwarded metadata a client sends never changes a decision

FORWARDED_HEADERS = (
    "Forwarded",
    "X-Forwarded-Prefix",
    "X-Forwarded-Uri",
    "X-Original-URI",
    "X-Original-URL",
    "X-Forwarded-Method",
    "X-Forwarded-Host",
    "X-Envoy-Original-Path",
)
# (method, path, token): denied without the headers, except the last, which is allowed.
DECISIONS: list[tuple[str, str, str | None]] = [
    ("GET", "/admin/x", None),  # 401: no token
    ("GET", "/admin/x", "user"),  # 403: no admin scope
    ("DELETE", "/public/x", None),  # public is GET and HEAD only
    ("GET", "/other", None),  # default deny
    ("GET", "/admin/x", "admin"),  # allowed: the headers must not turn it into a refusal either
]
_VALUES = st.one_of(
    st.sampled_from(
        [
            "/public/x",
            "/public/../admin/x",
            "/",
            "/admin",
            "/public",
            f"http://{STATUS_HOST}/public/x",
            f"http://{STATUS_HOST}/admin/x",
            STATUS_HOST,
            f"{STATUS_HOST}:80",
            "GET",
            "HEAD",
            "OPTIONS",
            f"for=192.0.2.1;host={STATUS_HOST};proto=https",
            'for="[2001:db8::1]";host=status.example.com, for=192.0.2.2',
        ]
    ),
    st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=30),
)
_FORWARDED = st.lists(st.tuples(st.sampled_from(FORWARDED_HEADERS), _VALUES), min_size=1, max_size=8)


def baseline(lab: Lab, kind: str, index: int) -> int | None:
    """The status of DECISIONS[index] through `kind` without any forwarded header."""
    if (kind, index) not in lab.baselines:
        method, path, token = DECISIONS[index]
        answer = lab.stack(kind).send(method, path, _auth(lab, token))
        lab.baselines[kind, index] = None if answer is None else answer.status
    return lab.baselines[kind, index]


def _auth(lab: Lab, token: str | None) -> list[tuple[str, str]]:
    return [("Authorization", f"Bearer {lab.tokens[token]}")] if token else []


@pytest.mark.parametrize("kind", KINDS)
@SETTINGS
@seed(SEED)
@given(index=st.integers(0, len(DECISIONS) - 1), forwarded=_FORWARDED)
@example(index=0, forwarded=[("X-Original-URL", f"http://{STATUS_HOST}/public/x"), ("X-Original-URI", "/public/x")])
@example(index=3, forwarded=[("X-Forwarded-Host", STATUS_HOST), ("Forwarded", f"host={STATUS_HOST}")])
@example(index=2, forwarded=[("X-Forwarded-Method", "GET"), ("X-Envoy-Original-Path", "/public/x")])
@example(index=0, forwarded=[("X-Forwarded-Prefix", "/public"), ("X-Forwarded-Uri", "/public/x")])
def test_forwarded_headers_never_change_a_decision(
    kind: str, index: int, forwarded: list[tuple[str, str]], lab: Lab
) -> None:
    method, path, token = DECISIONS[index]
    expected = baseline(lab, kind, index)
    assert expected is not None and (expected == 200) == (token == "admin"), f"baseline {expected} for {path}"
    stack = lab.stack(kind)
    answer = stack.send(method, path, _auth(lab, token) + forwarded)
    status = None if answer is None else answer.status
    assert status == expected, f"{forwarded}: status {status}, {expected} without them\n{stack.why(path, answer)}"
    if expected == 200:
        assert [(s.method, s.path) for s in stack.app.requests] == [(method, path)], stack.why(path, answer)
    else:
        assert stack.app.requests == [], stack.why(path, answer)


# The headers authcheck reads with `ingress` pinned to each proxy (authcheck/core/original_request.py):
# the proxy must set or drop each of them, never pass the client's value on.
READ_WHEN_PINNED = {
    "nginx": {"x-forwarded-method", "x-original-method", "x-forwarded-uri", "x-original-uri", "x-forwarded-host"},
    "traefik": {"x-forwarded-method", "x-forwarded-uri", "x-forwarded-host"},
    "caddy": {"x-forwarded-method", "x-forwarded-uri", "x-forwarded-host"},
    "envoy": {"x-forwarded-uri"},  # and Host, which is the request's own
}
SMUGGLED = {
    "Forwarded": "for=192.0.2.1;host=smuggled.example.com",
    "X-Forwarded-Prefix": "/smuggled-prefix",
    "X-Forwarded-Uri": "/smuggled-uri",
    "X-Original-URI": "/smuggled-original-uri",
    "X-Original-URL": "http://smuggled.example.com/smuggled-url",
    "X-Forwarded-Method": "PATCH",
    "X-Forwarded-Host": "smuggled.example.com",
    "X-Envoy-Original-Path": "/smuggled-envoy-path",
}


@pytest.mark.parametrize("kind", KINDS)
def test_proxy_never_relays_what_authcheck_reads(kind: str, lab: Lab) -> None:
    """Through the allow-all stand-in: which client headers reach the auth server, for the docs;
    none that authcheck reads for this proxy may carry the client's value."""
    probe = lab.stack(kind, stand_in=True)
    answer = probe.send("GET", "/public/x", list(SMUGGLED.items()))
    assert answer is not None and answer.status == 200 and isinstance(probe.auth, RecordingServer)
    [check] = probe.auth.requests
    for name, value in SMUGGLED.items():
        got = check.all(name)
        own = re.sub(r":\d+$", ":<port>", got[0]) if got else ""
        lab.forwarded[name, kind] = "client's" if value in got else f"proxy's: `{own}`" if got else "dropped"
        if name.lower() in READ_WHEN_PINNED[INGRESS_SETTING.get(kind, kind)]:
            assert value not in got, f"{kind} relays the client's {name} to authcheck: {check.headers}"


def forwarded_table(forwarded: dict[tuple[str, str], str]) -> str:
    """Markdown: per header, what each proxy sent the auth server when the client set it."""
    kinds = [kind for kind in KINDS if any(k[1] == kind for k in forwarded)]
    lines = ["| client header | " + " | ".join(kinds) + " |", "|---" * (len(kinds) + 1) + "|"]
    for name in SMUGGLED:
        lines.append(f"| `{name}` | " + " | ".join(forwarded.get((name, kind), "") for kind in kinds) + " |")
    return "\n".join(lines) + "\n"
