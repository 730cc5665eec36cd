"""`authcheck test`: golden decision cases against a config, offline.

Every configured issuer gets a throw-away key that is trusted in place of its real keys
(an in-memory IssuerKeySource: nothing is fetched), and a case's `token` claims are signed
with it; the request then goes through the same Gate the service decides with.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Mapping
from dataclasses import replace
from typing import Any, NamedTuple

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from jwt.algorithms import ECAlgorithm, OKPAlgorithm, RSAAlgorithm

from authcheck.config.cases import Case
from authcheck.config.model import Config, IssuerConfig
from authcheck.core.authenticator import Authenticator
from authcheck.core.gate import Decision, Gate
from authcheck.core.keys import KeySet, parse_jwks

TOKEN_LIFETIME = 3600  # `exp` of a case token that names none: valid for the run
_PREFERRED_ALGORITHM = "ES384"  # Logto's default, and quick to generate


class Outcome(NamedTuple):
    status: int
    code: str  # "ok" when allowed
    rule: str | None

    @classmethod
    def of(cls, decision: Decision) -> Outcome:
        code = decision.denial.code if decision.denial else "ok"
        return cls(decision.status, code, decision.rule.name if decision.rule else None)


class CaseResult(NamedTuple):
    case: Case
    outcome: Outcome
    mismatch: str | None  # None: passed

    def line(self) -> str:
        if self.mismatch is None:
            return f"PASS {self.case.name}"
        return f"FAIL {self.case.name}: {self.mismatch}"


class OfflineIssuer:
    """One issuer's throw-away signing key, and the IssuerKeySource that trusts only it."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.algorithm = _PREFERRED_ALGORITHM if _PREFERRED_ALGORITHM in config.algorithms else config.algorithms[0]
        self._private = _private_key(self.algorithm)
        self.kid = f"authcheck-test-{self.algorithm.lower()}"
        jwk = {**_public_jwk(self.algorithm, self._private), "kid": self.kid, "alg": self.algorithm, "use": "sig"}
        self._keys = parse_jwks(json.dumps({"keys": [jwk]}), config.algorithms)

    def usable(self) -> KeySet:
        return self._keys

    def mint(self, claims: Mapping[str, Any], now: int) -> str:
        headers = {"kid": self.kid, **({"typ": self.config.token_type} if self.config.token_type else {})}
        return jwt.encode(_complete(claims, now), self._private, algorithm=self.algorithm, headers=headers)


def _complete(claims: Mapping[str, Any], now: int) -> dict[str, Any]:
    return {"iat": now, "exp": now + TOKEN_LIFETIME, **claims}


class PolicyTest:
    """The config's gate with offline issuers; `run` decides one case."""

    def __init__(self, config: Config, clock: Callable[[], float] = time.time) -> None:
        self.issuers = {issuer.issuer: OfflineIssuer(issuer) for issuer in config.issuers}
        self._clock = clock
        # Cases name the original request the way Traefik and Caddy forward it, whatever proxy
        # the config is for: the rules are under test, not the proxy convention.
        config = replace(config, ingress="traefik")
        self.gate = Gate(config, Authenticator(config, self.issuers, _ignore_dropped_header, clock))
        self._untrusted: OfflineIssuer | None = None

    def run(self, case: Case) -> CaseResult:
        headers = {"x-forwarded-method": [case.request.method], "x-forwarded-uri": [case.request.uri]}
        if case.request.host is not None:
            headers["x-forwarded-host"] = [case.request.host]
        if case.authorization is not None:
            headers["authorization"] = [case.authorization]
        elif case.token is not None:
            headers["authorization"] = [f"Bearer {self._mint(case.token)}"]
        outcome = Outcome.of(self.gate.decide(headers, "GET", None))
        return CaseResult(case, outcome, _mismatch(case, outcome))

    def _mint(self, claims: dict[str, Any]) -> str:
        iss = claims.get("iss")
        issuer = self.issuers.get(iss) if isinstance(iss, str) else None
        if issuer is None:  # an issuer the config does not trust: signed, but by nobody it knows
            if self._untrusted is None:
                self._untrusted = OfflineIssuer(IssuerConfig(str(iss), ()))
            issuer = self._untrusted
        return issuer.mint(claims, int(self._clock()))


def _mismatch(case: Case, outcome: Outcome) -> str | None:
    expect = case.expect
    wrong = (
        (expect.status is not None and expect.status != outcome.status)
        or (expect.code is not None and expect.code != outcome.code)
        or (expect.rule is not None and expect.rule != outcome.rule)
    )
    if not wrong:
        return None
    got = f"status {outcome.status}, code {outcome.code}, rule {outcome.rule or '(none)'}"
    return f"expected {expect.describe()}, got {got}"


def run_cases(config: Config, cases: list[Case]) -> list[CaseResult]:
    policy = PolicyTest(config)
    return [policy.run(case) for case in cases]


def report(results: list[CaseResult], write: Callable[[str], None] = print) -> int:
    """One line per case, then the totals; the exit code: 0 all passed, 1 a case failed."""
    for result in results:
        write(result.line())
    failed = sum(result.mismatch is not None for result in results)
    write(f"{len(results) - failed} passed, {failed} failed")
    return 1 if failed else 0


def _ignore_dropped_header(header: str, why: str) -> None:
    """A claim too odd to become a header is the service's log line, not a case's outcome."""


def _private_key(algorithm: str) -> Any:
    if algorithm.startswith(("RS", "PS")):
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    if algorithm == "EdDSA":
        return ed25519.Ed25519PrivateKey.generate()
    curves: dict[str, ec.EllipticCurve] = {
        "ES256": ec.SECP256R1(),
        "ES256K": ec.SECP256K1(),
        "ES384": ec.SECP384R1(),
        "ES512": ec.SECP521R1(),
    }
    return ec.generate_private_key(curves[algorithm])


def _public_jwk(algorithm: str, private: Any) -> dict[str, Any]:
    public = private.public_key()
    if algorithm.startswith("ES"):
        jwk: dict[str, Any] = ECAlgorithm.to_jwk(public, as_dict=True)
    elif algorithm == "EdDSA":
        jwk = OKPAlgorithm.to_jwk(public, as_dict=True)
    else:
        jwk = RSAAlgorithm.to_jwk(public, as_dict=True)
    jwk.pop("key_ops", None)
    return jwk
