"""atheris fuzz target: the whole decision pipeline, from the proxy's header lines to the answer.

Each input is read as one /verify request: the method, the original URI and host in any
proxy's convention, a query, extra forwarded headers, and an Authorization header that is
absent, one of the tokens minted at start (valid, expired, wrong audience, wrong issuer,
scope-less), such a token with bytes changed, or raw bytes. Invariants checked on every input:

- the decision never raises, and its status is 200, 401, 403 or 503 (never a 5xx other than 503);
- an allow on a rule that needs a token names a subject only a valid token carries;
- the short road for a request read before (`decide_known`) decides as the full road did;
- a refusal's answer renders (JSON body, challenge header) without error.

Run: `python fuzz/decide.py fuzz/corpus` (forever), or `-runs=N` / `-max_total_time=S`
(tests/test_fuzz.py runs a bounded slice in CI; docs/fuzzing.md has the long run).
"""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import atheris

with atheris.instrument_imports(include=["authcheck"]):
    from authcheck.config.file import parse_config
    from authcheck.config.model import Access
    from authcheck.core.answers import denial_answer
    from authcheck.core.authenticator import Authenticator
    from authcheck.core.errors import Denial
    from authcheck.core.gate import Gate
    from authcheck.core.keys import KeySet, parse_jwks

import jwt
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

ISSUER = "https://issuer.fuzz.example/oidc"
AUDIENCE = "https://api.fuzz.example"
VALID_SUBJECTS = frozenset({"alice", "bob"})
STATUSES = frozenset({200, 401, 403, 503})
CONFIG = {
    "issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE], "token_type": "at+jwt"}],
    "rules": [
        {"name": "public", "match": {"paths": ["/public/**"], "methods": ["GET", "HEAD"]}, "allow": "anonymous"},
        {"name": "orders", "match": {"paths": ["/orders/*"]}, "scopes": ["read:orders"]},
        {"name": "admin", "match": {"hosts": ["admin.fuzz.example"]}, "any_scopes": ["admin", "root"]},
        {"name": "org", "match": {"paths": ["/org/**"]}, "allow": "authenticated", "claims": {"org": "o1"}},
        {"name": "me", "match": {"paths": ["/me", "/me/**"]}, "allow": "authenticated"},
    ],
    "default": "deny",
    "headers": {"X-Auth-Email": "email"},
}
METHODS = ("GET", "HEAD", "POST", "DELETE", "OPTIONS", "get", "G\x00T", "")
URI_HEADERS = ("x-forwarded-uri", "x-original-uri", "x-original-url")
OTHER_HEADERS = ("x-forwarded-method", "x-original-method", "x-forwarded-host", "host")


class StaticKeys:
    """The issuer's keys, fixed: what an IssuerKeySource serves once fetched."""

    def __init__(self, config: Any, keys: KeySet) -> None:
        self.config = config
        self._keys = keys

    def usable(self) -> KeySet:
        return self._keys


def _mint() -> tuple[Gate, list[str]]:
    config = parse_config(CONFIG, "fuzz")
    private = ec.generate_private_key(ec.SECP384R1())
    jwk = {**ECAlgorithm.to_jwk(private.public_key(), as_dict=True), "kid": "k1", "alg": "ES384", "use": "sig"}
    keys = parse_jwks(json.dumps({"keys": [jwk]}), config.issuers[0].algorithms)
    now = int(time.time())
    base = {"iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 86400, "client_id": "c1"}
    claims = [
        {**base, "sub": "alice", "scope": "read:orders admin", "email": "a@x", "org": "o1"},
        {**base, "sub": "bob", "scope": "profile"},
        {**base, "sub": "expired-user", "scope": "read:orders admin", "iat": now - 7200, "exp": now - 3600},
        {**base, "sub": "wrong-audience", "scope": "read:orders admin", "aud": "https://other"},
        {**base, "sub": "wrong-issuer", "scope": "read:orders admin", "iss": "https://evil.example"},
        {**base, "sub": "future-user", "scope": "read:orders admin", "nbf": now + 3600},
    ]
    tokens = [jwt.encode(c, private, algorithm="ES384", headers={"kid": "k1", "typ": "at+jwt"}) for c in claims]
    tokens.append(jwt.encode(claims[0], private, algorithm="ES384", headers={"kid": "k1"}))  # no typ
    stranger = ec.generate_private_key(ec.SECP384R1())
    tokens.append(jwt.encode(claims[0], stranger, algorithm="ES384", headers={"kid": "k1", "typ": "at+jwt"}))
    sources = {ISSUER: StaticKeys(config.issuers[0], keys)}
    authenticator = Authenticator(config, sources, lambda header, why: None)
    return Gate(config, authenticator), tokens


GATE, TOKENS = _mint()


def _wire(text: str) -> str:
    """A header value as it arrives: bytes read as latin-1 (so never a character above U+00FF)."""
    return text.encode("utf-8", "replace").decode("latin-1")


def _authorization(data: atheris.FuzzedDataProvider) -> list[str]:
    choice = data.ConsumeIntInRange(0, 5)
    if choice == 0:
        return []
    token = TOKENS[data.ConsumeIntInRange(0, len(TOKENS) - 1)]
    if choice == 2 and token:  # the token with a byte changed
        at = data.ConsumeIntInRange(0, len(token) - 1)
        token = token[:at] + chr(data.ConsumeIntInRange(32, 126)) + token[at + 1 :]
    elif choice == 3:
        token = _wire(data.ConsumeUnicodeNoSurrogates(200))
    elif choice == 4:  # two headers, or a comma-joined one
        return [f"Bearer {token}", f"Bearer {TOKENS[0]}"]
    scheme = "Bearer" if data.ConsumeBool() else _wire(data.ConsumeUnicodeNoSurrogates(8))
    return [f"{scheme} {token}"]


def test_one_input(raw: bytes) -> None:
    data = atheris.FuzzedDataProvider(raw)
    method = METHODS[data.ConsumeIntInRange(0, len(METHODS) - 1)]
    headers: dict[str, list[str]] = {}
    headers[URI_HEADERS[data.ConsumeIntInRange(0, 2)]] = [_wire(data.ConsumeUnicodeNoSurrogates(120))]
    for name in OTHER_HEADERS:
        if data.ConsumeBool():
            headers[name] = [_wire(data.ConsumeUnicodeNoSurrogates(40))]
    authorization = _authorization(data)
    if authorization:
        headers["authorization"] = authorization
    envoy_subpath = _wire(data.ConsumeUnicodeNoSurrogates(60)) if data.ConsumeBool() else None
    # The memo key, as the app builds it: everything the original request is read from.
    raw_headers = (method, envoy_subpath, *((k, *v) for k, v in sorted(headers.items()) if k != "authorization"))
    decision = GATE.decide(headers, method or "GET", envoy_subpath, raw_headers=raw_headers)
    if decision.status not in STATUSES:
        raise AssertionError(f"status {decision.status}")
    needs_token = decision.rule is not None and decision.rule.access is not Access.ANONYMOUS
    if (
        decision.denial is None
        and needs_token
        and (decision.identity is None or decision.identity.subject not in VALID_SUBJECTS)
    ):
        raise AssertionError(f"allowed {decision.identity} on rule {decision.rule.name}")
    if decision.denial is not None:
        assert isinstance(decision.denial, Denial)
        denial_answer(decision.denial, method == "HEAD")
    if len(authorization) == 1:
        known = GATE.decide_known(raw_headers, authorization[0].encode("latin-1"))
        if known is not None and (known.status, known.denial and known.denial.code) != (
            decision.status,
            decision.denial and decision.denial.code,
        ):
            raise AssertionError(f"cache road {known} != full road {decision}")


def main() -> None:
    atheris.Setup(sys.argv, test_one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
