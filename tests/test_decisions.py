"""decide_with_refresh: the gate's one I/O step, an unknown kid's key refresh, done at the edge.

In-process: the issuer is an httpx.MockTransport (the only mock; the same lifecycle over
real HTTP is in test_service_keys.py), the KeyStore and the gate are the real ones.
"""

from __future__ import annotations

import asyncio

import httpx
from support.tokens import AUDIENCE, SigningKey, mint, new_key

from authcheck.config.model import Access, Config, IssuerConfig, Match, Rule
from authcheck.core.gate import Decision
from authcheck.core.original_request import OriginalRequest
from authcheck.service.app import Service
from authcheck.service.decisions import decide_with_refresh

ISSUER = "https://issuer.example.test/oidc"
JWKS_URL = ISSUER + "/jwks"
RULES = (
    Rule(name="public", match=Match(paths=("/public/**",)), access=Access.ANONYMOUS),
    Rule(name="orders", match=Match(paths=("/orders/**",)), access=Access.AUTHENTICATED),
)


class Issuer:
    """Serves `first` keys on the first JWKS fetch, then `later` keys (or 500 when None)."""

    def __init__(self, first: list[SigningKey], later: list[SigningKey] | None) -> None:
        self.first, self.later = first, later
        self.fetches = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.fetches += 1
        keys = self.first if self.fetches == 1 else self.later
        if keys is None:
            return httpx.Response(500)
        return httpx.Response(200, json={"keys": [key.public_jwk for key in keys]})


def decide(issuer: Issuer, path: str, token: str) -> tuple[Decision, Decision]:
    """(the gate's first answer, the answer after decide_with_refresh), keys fetched first."""
    config = Config(issuers=(IssuerConfig(issuer=ISSUER, audiences=(AUDIENCE,), jwks_uri=JWKS_URL),), rules=RULES)

    async def run() -> tuple[Decision, Decision]:
        service = Service(config, httpx.MockTransport(issuer))
        try:
            await service.key_store.issuers[ISSUER].refresh()
            request = OriginalRequest("GET", None, path)
            authorization = [f"Bearer {token}"]
            first = service.gate.decide_for(request, authorization)
            return first, await decide_with_refresh(
                lambda: service.gate.decide_for(request, authorization), service.key_store
            )
        finally:
            await service.key_store.close()

    return asyncio.run(run())


FIRST, ROTATED = new_key("ES384", kid="first"), new_key("ES384", kid="rotated")


def test_unknown_kid_names_its_issuer_then_a_refresh_lets_it_in() -> None:
    first, final = decide(Issuer([FIRST], [FIRST, ROTATED]), "/orders/1", mint(ROTATED, ISSUER))
    assert first.status == 401 and first.refresh_issuer == ISSUER
    assert first.denial is not None and first.denial.reason == "token_kid_unknown"
    assert (final.status, final.refresh_issuer) == (200, None)
    assert final.identity is not None and final.identity.subject == "user-1"


def test_a_kid_the_issuer_never_publishes_stays_401() -> None:
    issuer = Issuer([FIRST], [FIRST])
    _, final = decide(issuer, "/orders/1", mint(ROTATED, ISSUER))
    assert final.status == 401
    assert final.denial is not None and final.denial.reason == "token_kid_unknown"
    assert issuer.fetches == 2  # the start-up fetch and one refresh for the unknown kid


def test_failed_refresh_is_503_on_a_protected_rule() -> None:
    _, final = decide(Issuer([FIRST], None), "/orders/1", mint(ROTATED, ISSUER))
    assert final.status == 503
    assert final.denial is not None and final.denial.reason == "keys_unavailable"


def test_failed_refresh_keeps_an_anonymous_rule_open_without_identity() -> None:
    first, final = decide(Issuer([FIRST], None), "/public/x", mint(ROTATED, ISSUER))
    assert first.refresh_issuer == ISSUER
    assert (final.status, final.denial, final.identity) == (200, None, None)


def test_a_refreshed_key_gives_an_anonymous_rule_the_identity() -> None:
    first, final = decide(Issuer([FIRST], [FIRST, ROTATED]), "/public/x", mint(ROTATED, ISSUER))
    assert (first.status, first.identity) == (200, None)
    assert final.identity is not None and final.identity.subject == "user-1"
