"""Bearer token -> verified Identity, with the verified-token cache in front.

The cache holds *verification* only (who the token is, until its `exp`); rules and
scopes are evaluated on every request, so a cached token can never widen access. An
entry is only used while its signing key is still in the issuer's current key set.
Tokens refused for a reason that cannot change (bad signature, expired, wrong
audience...) are remembered briefly, so a flood of one bad token costs one signature
check, not thousands.
"""

from __future__ import annotations

import hashlib
import time
from collections.abc import Callable
from dataclasses import dataclass

from authcheck.config import Config
from authcheck.errors import InvalidToken, UnknownKeyId
from authcheck.expiring_cache import ExpiringLRU
from authcheck.identity import HeaderDropped, Identity, build_identity
from authcheck.key_store import IssuerKeys, KeyStore
from authcheck.tokens import peek, verify

BAD_TOKEN_TTL = 30.0
BAD_TOKEN_ENTRIES = 10_000
# Refusals that depend on time or on keys we may not have yet are never remembered.
_TRANSIENT_REASONS = frozenset({"token_kid_unknown", "token_not_yet_valid"})


@dataclass(frozen=True, slots=True)
class _Verified:
    issuer: IssuerKeys
    key_id: str
    identity: Identity


class Authenticator:
    def __init__(
        self,
        config: Config,
        key_store: KeyStore,
        on_header_dropped: HeaderDropped,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._claim_headers = config.headers
        self._claim_paths = frozenset(req.path for rule in config.rules for req in rule.claims)
        self._keys = key_store
        self._on_header_dropped = on_header_dropped
        self._clock = clock
        self._max_ttl = config.cache.max_ttl
        self.verified: ExpiringLRU[bytes, _Verified] = ExpiringLRU(config.cache.max_entries)
        self.refused: ExpiringLRU[bytes, InvalidToken] = ExpiringLRU(
            min(BAD_TOKEN_ENTRIES, config.cache.max_entries)
        )

    async def authenticate(self, token: str) -> Identity:
        """The token's identity; raises InvalidToken or KeysUnavailable."""
        digest = hashlib.sha256(token.encode("latin-1")).digest()
        now = self._clock()
        cached = self.verified.get(digest, now)
        if cached is not None:
            if cached.key_id in cached.issuer.usable().key_ids:
                return cached.identity
            self.verified.discard(digest)  # its key left the issuer's key set
        refusal = self.refused.get(digest, now)
        if refusal is not None:
            raise refusal
        try:
            verified, expires_at = await self._verify(token)
        except InvalidToken as exc:
            if exc.reason not in _TRANSIENT_REASONS:
                self.refused.put(digest, exc, now + BAD_TOKEN_TTL)
            raise
        self.verified.put(digest, verified, min(expires_at, now + self._max_ttl))
        return verified.identity

    def forget_all(self) -> None:
        self.verified.clear()
        self.refused.clear()

    async def _verify(self, token: str) -> tuple[_Verified, float]:
        unverified = peek(token)
        issuer = self._keys.issuers.get(unverified.issuer)
        if issuer is None:
            raise InvalidToken("The token's issuer is not trusted.", "token_issuer_unknown")
        config = issuer.config
        try:
            claims, key = verify(token, unverified, config, issuer.usable())
        except UnknownKeyId:
            if not await issuer.refresh_for_unknown_kid():
                raise
            claims, key = verify(token, unverified, config, issuer.usable())
        identity = build_identity(
            claims, config.scope_claim, self._claim_headers, self._claim_paths, self._on_header_dropped)
        return _Verified(issuer, key.key_id, identity), float(claims["exp"])
