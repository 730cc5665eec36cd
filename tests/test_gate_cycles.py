"""No decision leaves reference cycles behind.

A refusal is an exception, and an exception kept past its `except` block holds its
traceback, whose frames hold the locals that hold the exception. Such a cycle is freed
only by the cyclic garbage collector: under a stream of refused tokens that means a
collection every few hundred requests and, now and then, a full one over every cached
token (a latency spike of tens of milliseconds: the profile of bench row (3) in
docs/performance.md). Each decision here must be freed by reference counting alone.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator

import pytest
from support.static_keys import Clock, StaticKeys
from support.tokens import AUDIENCE, b64, forge, mint, new_key

from authcheck.config.model import Access, ClaimRequirement, Config, Match, Rule
from authcheck.core.authenticator import Authenticator
from authcheck.core.gate import Gate

ISSUER = "https://issuer.example.test/oidc"
NOW = 1_600_000_000
KEY = new_key("ES256", kid="k1")
RULES = (
    Rule(
        name="shadow", match=Match(paths=("/orders/**",)), access=Access.ALL_SCOPES, scopes=("admin",), report_only=True
    ),
    Rule(name="public", match=Match(paths=("/public/**",)), access=Access.ANONYMOUS),
    Rule(name="orders", match=Match(paths=("/orders/**",)), access=Access.ALL_SCOPES, scopes=("read:orders",)),
    Rule(
        name="org",
        match=Match(paths=("/orgs/{org}/**",)),
        access=Access.AUTHENTICATED,
        claims=(ClaimRequirement("organization_id", ("{org}",)),),
    ),
)


def token(**claims: object) -> str:
    return mint(KEY, ISSUER, **{"iat": NOW, "exp": NOW + 600, "scope": "read:orders", **claims})


CASES = {
    "valid": ("/orders/1", [f"Bearer {token()}"]),
    "scope missing": ("/orders/1", [f"Bearer {token(scope='profile')}"]),
    "claim differs": ("/orgs/acme/x", [f"Bearer {token(organization_id='other')}"]),
    "no token": ("/orders/1", []),
    "two tokens": ("/orders/1", [f"Bearer {token()}", f"Bearer {token()}"]),
    "another scheme": ("/orders/1", ["Basic dXNlcjpwYXNz"]),
    "garbage": ("/orders/1", ["Bearer 8fJ2kQ.zz9.Xy"]),
    "header not JSON": ("/orders/1", [f"Bearer {b64(b'not json')}.{b64(b'{}')}.c2ln"]),
    "header not an object": ("/orders/1", [f"Bearer {b64(b'[1]')}.{b64(b'{}')}.c2ln"]),
    "expired": ("/orders/1", [f"Bearer {token(exp=NOW - 100)}"]),
    "wrong audience": ("/orders/1", [f"Bearer {token(aud='https://elsewhere')}"]),
    "bad signature": ("/orders/1", [f"Bearer {mint(new_key('ES256', kid='k1'), ISSUER, iat=NOW, exp=NOW + 600)}"]),
    "unknown kid": ("/orders/1", [f"Bearer {mint(new_key('ES256', kid='k9'), ISSUER, iat=NOW, exp=NOW + 600)}"]),
    "alg none": ("/orders/1", [f"Bearer {forge({'alg': 'none'}, {'iss': ISSUER, 'aud': AUDIENCE})}"]),
    "untrusted issuer": ("/orders/1", [f"Bearer {mint(KEY, 'https://evil.example', iat=NOW, exp=NOW + 600)}"]),
    "anonymous rule, garbage token": ("/public/x", ["Bearer 8fJ2kQ.zz9.Xy"]),
    "no rule": ("/elsewhere", [f"Bearer {token()}"]),
    "refused path": ("/orders/a%2Fb", [f"Bearer {token()}"]),
}


@pytest.fixture
def gate() -> Gate:
    keys = StaticKeys(ISSUER, KEY)
    config = Config(issuers=(keys.config,), rules=RULES, ingress="nginx")
    return Gate(config, Authenticator(config, {ISSUER: keys}, lambda header, why: None, Clock(NOW + 1)))


@pytest.fixture
def collector_off() -> Iterator[None]:
    gc.disable()
    try:
        yield
    finally:
        gc.enable()


@pytest.mark.parametrize("case", CASES)
def test_a_decision_is_freed_without_the_cycle_collector(gate: Gate, collector_off: None, case: str) -> None:
    path, authorization = CASES[case]
    sent = {"x-forwarded-method": ["GET"], "x-forwarded-uri": [path], "authorization": authorization}
    raw_headers = ("GET", b"/verify", path)
    gc.collect()  # whatever the test's set-up left
    for _ in range(2):  # the first time, and again with memo and caches warm
        decision = gate.decide(sent, "GET", None, raw_headers=raw_headers)
        if len(authorization) == 1:
            gate.decide_known(raw_headers, authorization[0].encode())
    assert decision.status in (200, 401, 403)
    del decision
    assert gc.collect() == 0, "the decision left objects only the cycle collector can free"
