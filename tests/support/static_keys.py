"""An issuer's keys as the core sees them, without a key server: for in-process core tests.

A real KeySet (parse_jwks over the keys' public JWKs) behind the IssuerKeySource protocol;
the test may swap it (a rotation) and set the clock the authenticator reads.
"""

from __future__ import annotations

import json

from authcheck.config.model import IssuerConfig
from authcheck.core.keys import KeySet, parse_jwks
from support.tokens import AUDIENCE, SigningKey


class StaticKeys:
    def __init__(self, issuer: str, *keys: SigningKey, audiences: tuple[str, ...] = (AUDIENCE,)) -> None:
        self.config = IssuerConfig(issuer=issuer, audiences=audiences)
        self.keys = self.key_set(*keys)

    def key_set(self, *keys: SigningKey) -> KeySet:
        return parse_jwks(json.dumps({"keys": [key.public_jwk for key in keys]}), self.config.algorithms)

    def usable(self) -> KeySet:
        return self.keys


class Clock:
    """Seconds since the epoch, wherever the test sets them."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now
