"""The verified-token cache (Authenticator.verified): lifetime, revocation, what is per token
and what is shared, bounds. A real KeySet behind a swappable key source (support.static_keys),
and a clock set years from the wall clock, so expiry can only follow the injected clock.
"""

from __future__ import annotations

from typing import Any

import pytest
from support.static_keys import Clock, StaticKeys
from support.tokens import AUDIENCE, mint, new_key

from authcheck.config.model import CacheConfig, Config
from authcheck.core.authenticator import Authenticator, token_digest
from authcheck.core.errors import InvalidToken
from authcheck.core.identity import PROFILES, shared_profile

ISSUER = "https://issuer.example.test/oidc"
NOW = 1_600_000_000.0  # years before the wall clock: a token valid only by the fake clock
KEY, OTHER = new_key("ES256", kid="k1"), new_key("ES256", kid="k2")
EMAIL = (("X-Auth-Email", "email"),)


def issuer_keys(*keys: Any) -> StaticKeys:
    return StaticKeys(ISSUER, *keys)


def authenticator(
    keys: StaticKeys,
    clock: Clock,
    max_entries: int = 100,
    max_ttl: int = 3600,
    headers: tuple[tuple[str, str], ...] = (),
) -> Authenticator:
    config = Config(
        issuers=(keys.config,), rules=(), headers=headers, cache=CacheConfig(max_entries=max_entries, max_ttl=max_ttl)
    )
    return Authenticator(config, {ISSUER: keys}, lambda header, why: None, clock)


def token(sub: str = "user-1", exp_in: int = 600, **claims: Any) -> str:
    return mint(KEY, ISSUER, sub=sub, iat=int(NOW), exp=int(NOW) + exp_in, **claims)


def cached(auth: Authenticator, raw: str) -> bool:
    return auth.recall_verified(token_digest(raw.encode())) is not None


def test_the_fake_clock_decides_token_expiry_on_both_roads() -> None:
    """Valid by the injected clock though long expired by the wall clock; refused once the clock passes exp."""
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock)
    assert auth.authenticate(token()).subject == "user-1"
    clock.now = NOW + 600 + 30 + 1  # past exp and the 30 s leeway
    auth.forget_all()
    with pytest.raises(InvalidToken) as refused:
        auth.authenticate(token())
    assert refused.value.reason == "token_expired"


def test_an_entry_expires_at_the_tokens_exp() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock)
    raw = token(exp_in=100)
    auth.authenticate(raw)
    clock.now = NOW + 99
    assert cached(auth, raw)
    clock.now = NOW + 100
    assert not cached(auth, raw)
    assert len(auth.verified) == 0  # dropped, not only skipped


def test_an_entry_expires_at_max_ttl() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, max_ttl=60)
    raw = token(exp_in=600)
    auth.authenticate(raw)
    clock.now = NOW + 59
    assert cached(auth, raw)
    clock.now = NOW + 60
    assert not cached(auth, raw)
    assert auth.authenticate(raw).subject == "user-1"  # verified again, cached again
    assert cached(auth, raw)


def test_an_entry_is_dropped_when_its_key_leaves_the_key_set() -> None:
    keys, clock = issuer_keys(KEY, OTHER), Clock(NOW)
    auth = authenticator(keys, clock)
    raw = token()
    auth.authenticate(raw)
    keys.keys = keys.key_set(OTHER)  # the issuer rotated k1 out
    assert not cached(auth, raw)
    assert len(auth.verified) == 0


def test_per_user_header_values_are_each_tokens_own() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, headers=EMAIL)
    first, second = token("alice", email="alice@example.com"), token("bob", email="bob@example.com")
    for _ in range(2):  # verified, then from the cache
        a, b = auth.authenticate(first), auth.authenticate(second)
        assert (dict(a.headers)[b"x-auth-email"], a.subject) == (b"alice@example.com", "alice")
        assert (dict(b.headers)[b"x-auth-email"], b.subject) == (b"bob@example.com", "bob")
        assert dict(a.headers)[b"x-auth-subject"] == b"alice"


def test_a_cache_hit_gives_the_identity_verification_gave() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, headers=EMAIL)
    for raw in (token(email="e@example.com"), token(sub="x\ny", email="e@example.com"), token(email=None, sub=None)):
        verified = auth.authenticate(raw)
        assert auth.recall_verified(token_digest(raw.encode())) == verified


def test_tokens_of_one_client_and_scope_set_share_one_profile() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, headers=EMAIL)
    tokens = [token(f"user-{i}", email=f"u{i}@example.com") for i in range(3)]
    identities = [auth.authenticate(raw) for raw in tokens]
    entries = [auth.verified.get(token_digest(raw.encode())) for raw in tokens]
    assert entries[0] is not None and all(entry is not None for entry in entries)
    assert entries[0].profile is entries[1].profile is entries[2].profile  # type: ignore[union-attr]
    assert identities[0].scopes is identities[1].scopes and identities[0].issuer is identities[2].issuer
    other = auth.authenticate(token("user-9", scope="admin", email="u9@example.com"))
    assert other.scopes != identities[0].scopes  # another scope set: another profile


def test_the_cache_is_bounded_least_recently_used_first() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, max_entries=3)
    tokens = [token(f"user-{i}") for i in range(5)]
    for raw in tokens[:3]:
        auth.authenticate(raw)
    assert cached(auth, tokens[0])  # used: the least recently used is now tokens[1]
    for raw in tokens[3:]:
        auth.authenticate(raw)
    assert len(auth.verified) == 3
    assert [cached(auth, raw) for raw in tokens] == [True, False, False, True, True]


def test_profiles_are_bounded() -> None:
    keys, clock = issuer_keys(KEY), Clock(NOW)
    auth = authenticator(keys, clock, max_entries=0)  # the token cache off: only profiles are built
    assert shared_profile.cache_info().maxsize == PROFILES
    for i in range(PROFILES + 50):
        shared_profile(ISSUER, (AUDIENCE,), frozenset({f"scope-{i}"}), "client", None, True, (b"x-auth-subject",), ())
    assert shared_profile.cache_info().currsize == PROFILES
    assert auth.authenticate(token()).subject == "user-1"  # a profile let go is simply built again
