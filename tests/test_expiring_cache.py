"""ExpiringLRU: entries expire at their own time and the least recently used goes first (pure).

Time is passed in explicitly, so no clock is faked.
"""

from __future__ import annotations

import pytest

from authcheck.core.expiring_cache import ExpiringLRU

EXPIRY = [
    pytest.param(99.0, "v", id="before-expiry-hit"),
    pytest.param(99.999, "v", id="just-before-expiry-hit"),
    pytest.param(100.0, None, id="at-expiry-miss"),
    pytest.param(150.0, None, id="after-expiry-miss"),
]


@pytest.mark.parametrize(("now", "expected"), EXPIRY)
def test_expiry(now: float, expected: str | None) -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    cache.put("k", "v", expires_at=100.0)
    assert cache.get("k", now) == expected
    assert len(cache) == (1 if expected is not None else 0), "an expired entry is dropped when seen"


def test_expired_entry_stays_gone_when_time_goes_back() -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    cache.put("k", "v", expires_at=100.0)
    assert cache.get("k", 100.0) is None
    assert cache.get("k", 50.0) is None


def test_missing_key_misses() -> None:
    assert ExpiringLRU[str, str](10).get("nope", 0.0) is None


def test_entries_expire_independently() -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    cache.put("short", "s", expires_at=10.0)
    cache.put("long", "l", expires_at=1000.0)
    assert cache.get("short", 20.0) is None
    assert cache.get("long", 20.0) == "l"


def test_put_again_replaces_value_and_expiry() -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    cache.put("k", "old", expires_at=10.0)
    cache.put("k", "new", expires_at=100.0)
    assert len(cache) == 1
    assert cache.get("k", 50.0) == "new"


# Each op: ("put", key) with a far expiry, or ("get", key). Capacity 3.
LRU = [
    pytest.param([("put", "a"), ("put", "b"), ("put", "c"), ("put", "d")], {"b", "c", "d"}, id="oldest-evicted-first"),
    pytest.param(
        [("put", "a"), ("put", "b"), ("put", "c"), ("get", "a"), ("put", "d")],
        {"a", "c", "d"},
        id="get-refreshes-recency",
    ),
    pytest.param(
        [("put", "a"), ("put", "b"), ("put", "c"), ("put", "a"), ("put", "d")],
        {"a", "c", "d"},
        id="put-again-refreshes-recency",
    ),
    pytest.param(
        [("put", "a"), ("put", "b"), ("put", "c"), ("get", "a"), ("get", "b"), ("put", "d")],
        {"a", "b", "d"},
        id="least-recently-got-evicted",
    ),
    pytest.param(
        [("put", "a"), ("put", "b"), ("put", "c"), ("get", "zzz"), ("put", "d")],
        {"b", "c", "d"},
        id="miss-changes-nothing",
    ),
    pytest.param([("put", k) for k in "abcdefg"], {"e", "f", "g"}, id="never-over-capacity"),
    pytest.param([("put", "a"), ("put", "b")], {"a", "b"}, id="under-capacity-keeps-all"),
]


@pytest.mark.parametrize(("ops", "kept"), LRU)
def test_lru_eviction(ops: list[tuple[str, str]], kept: set[str]) -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(3)
    for op, key in ops:
        if op == "put":
            cache.put(key, key.upper(), expires_at=1e9)
        else:
            cache.get(key, 0.0)
    assert len(cache) == len(kept)
    for key in "abcdefg":
        assert cache.get(key, 0.0) == (key.upper() if key in kept else None), key


@pytest.mark.parametrize("max_entries", [0, -1], ids=["zero-disables", "negative-disables"])
def test_max_entries_zero_or_less_disables(max_entries: int) -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(max_entries)
    cache.put("k", "v", expires_at=1e9)
    assert len(cache) == 0
    assert cache.get("k", 0.0) is None


def test_capacity_one_keeps_the_latest() -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(1)
    cache.put("a", "A", expires_at=1e9)
    cache.put("b", "B", expires_at=1e9)
    assert cache.get("a", 0.0) is None
    assert cache.get("b", 0.0) == "B"


DISCARD = [
    pytest.param("a", {"b"}, id="discard-present-key"),
    pytest.param("zzz", {"a", "b"}, id="discard-missing-key-is-harmless"),
]


@pytest.mark.parametrize(("key", "kept"), DISCARD)
def test_discard(key: str, kept: set[str]) -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    cache.put("a", "A", expires_at=1e9)
    cache.put("b", "B", expires_at=1e9)
    cache.discard(key)
    assert len(cache) == len(kept)
    assert {k for k in "ab" if cache.get(k, 0.0) is not None} == kept


def test_clear_empties_and_cache_stays_usable() -> None:
    cache: ExpiringLRU[str, str] = ExpiringLRU(10)
    for key in "abc":
        cache.put(key, key, expires_at=1e9)
    cache.clear()
    assert len(cache) == 0
    assert all(cache.get(key, 0.0) is None for key in "abc")
    cache.put("d", "D", expires_at=1e9)
    assert cache.get("d", 0.0) == "D"
