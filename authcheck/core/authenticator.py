"""Bearer token -> verified Identity, with the verified-token cache in front.

The cache holds *verification* only (who the token is, until its `exp`, never longer
than `cache.max_ttl`); rules and scopes are evaluated on every request, so a cached
token can never widen access. An entry is only used while its signing key is still in
the issuer's current key set (and while that key set is fresh enough to use at all).

Tokens refused after a signature check for a reason that cannot change (bad signature,
expired, wrong audience...) are remembered briefly, so a flood of one bad token costs
one signature check, not thousands. Refusals found before the signature (not a JWT,
unknown issuer, forbidden header...) cost less to find again than to remember, and are
not remembered: a stream of distinct garbage cannot push the expensive ones out.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from hashlib import sha256
from typing import Protocol

from authcheck.config.model import Config, IssuerConfig
from authcheck.core.errors import InvalidToken, UnknownKeyId
from authcheck.core.expiring_cache import LRU, ExpiringLRU
from authcheck.core.identity import HeaderDropped, Identity, Personal, read_personal
from authcheck.core.keys import KeySet
from authcheck.core.tokens import check_header, peek, verify_signed

BAD_TOKEN_TTL = 30.0
BAD_TOKEN_ENTRIES = 10_000
# Refusals that depend on time or on keys we may not have yet are never remembered.
_TRANSIENT_REASONS = frozenset({"token_kid_unknown", "token_not_yet_valid"})
_SHA256 = sha256()  # copied for each token: cheaper than setting up a new hash each time


class IssuerKeySource(Protocol):
    """One issuer's keys as the decision sees them (service.key_store.IssuerKeys is one)."""

    config: IssuerConfig

    def usable(self) -> KeySet:
        """The keys to verify with now; raises KeysUnavailable when there are none fresh enough."""
        ...


def token_digest(token: bytes) -> bytes:
    """The verified-token cache key: the token's SHA-256."""
    digest = _SHA256.copy()
    digest.update(token)
    return digest.digest()


class _Verified(Personal):
    """One verified-token cache entry: the token's own identity part (its profile shared), and
    until when, by which key, it stays valid. With its key and LRU slot: ~390 bytes
    (docs/keys-and-caching.md, "The verified-token cache")."""

    __slots__ = ("expires_at", "key_id", "keys")

    expires_at: float
    keys: IssuerKeySource  # the issuer's keys: shared by its tokens
    key_id: str  # the signing key's id: the KeySet's own string, shared by its tokens


class Authenticator:
    def __init__(
        self,
        config: Config,
        issuers: Mapping[str, IssuerKeySource],
        on_header_dropped: HeaderDropped,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._claim_headers = config.headers
        self._claim_paths = frozenset(req.path for rule in config.rules for req in rule.claims)
        self._issuers = issuers
        self._on_header_dropped = on_header_dropped
        self._clock = clock
        self._max_ttl = config.cache.max_ttl
        self.verified: LRU[bytes, _Verified] = LRU(config.cache.max_entries)
        self.refused: ExpiringLRU[bytes, InvalidToken] = ExpiringLRU(min(BAD_TOKEN_ENTRIES, config.cache.max_entries))

    def authenticate(self, token: str) -> Identity:
        """The token's identity; raises InvalidToken (UnknownKeyId: see `verify`) or KeysUnavailable."""
        digest, identity = self.recall(token)
        if identity is None:
            identity = self.verify(token, digest)
        return identity

    def recall(self, token: str) -> tuple[bytes, Identity | None]:
        """(the token's cache key, its cached identity or None); raises a remembered refusal.

        The synchronous half of `authenticate`: what needs no await.
        """
        digest = token_digest(token.encode("latin-1"))
        identity = self.recall_verified(digest)
        if identity is None and self.refused:
            refusal = self.refused.get(digest, self._clock())
            if refusal is not None:
                raise _fresh(refusal)
        return digest, identity

    def recall_verified(self, digest: bytes) -> Identity | None:
        """The identity of a cached token (its sha256 digest) while it and its key are valid."""
        cached = self.verified.get(digest)
        if cached is None:
            return None
        if cached.expires_at <= self._clock():
            self.verified.discard(digest)
            return None
        if cached.key_id not in cached.keys.usable().key_ids:
            self.verified.discard(digest)  # its key left the issuer's key set
            return None
        return cached.identity()

    def verify(self, token: str, digest: bytes) -> Identity:
        """Verify a token `recall` did not know, and remember the outcome.

        An UnknownKeyId names its issuer: the caller (which may do I/O) can refresh that
        issuer's keys once and ask again.
        """
        unverified = peek(token)
        issuer = self._issuers.get(unverified.issuer)
        if issuer is None:
            raise InvalidToken("The token's issuer is not trusted.", "token_issuer_unknown")
        config = issuer.config
        try:
            key = check_header(unverified, config, issuer.usable())
        except UnknownKeyId as unknown:
            unknown.issuer = config.issuer
            raise
        now = self._clock()
        try:
            claims = verify_signed(token, unverified, config, key, now)
        except InvalidToken as exc:
            if exc.reason not in _TRANSIENT_REASONS:
                self.refused.put(digest, _fresh(exc), now + BAD_TOKEN_TTL)
            raise
        entry = _Verified(
            *read_personal(claims, config.scope_claim, self._claim_headers, self._claim_paths, self._on_header_dropped)
        )
        entry.expires_at = min(float(claims["exp"]), now + self._max_ttl)
        entry.keys, entry.key_id = issuer, key.key_id
        self.verified.put(digest, entry)
        return entry.identity()

    def inherit(self, previous: Authenticator) -> int:
        """Take over `previous`'s verified tokens whose issuer keys this one still uses (a config
        reload keeps the IssuerKeys of every issuer whose settings did not change); returns how
        many. Identities are built from the `headers` mapping and the claims rules read, so when
        those changed nothing is kept."""
        if (previous._claim_headers, previous._claim_paths) != (self._claim_headers, self._claim_paths):
            return 0
        kept_sources = set(self._issuers.values())
        kept = [(digest, entry) for digest, entry in previous.verified.items() if entry.keys in kept_sources]
        for digest, entry in kept:
            self.verified.put(digest, entry)
        return len(kept)

    def forget_all(self) -> None:
        self.verified.clear()
        self.refused.clear()


def _fresh(refusal: InvalidToken) -> InvalidToken:
    """A copy without traceback: re-raising one stored instance would grow its traceback forever."""
    copy = refusal.__class__.__new__(refusal.__class__, *refusal.args)
    copy.__dict__.update(refusal.__dict__)
    return copy
