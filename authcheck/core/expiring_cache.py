"""Bounded LRU maps: the verified-token cache (`LRU`, whose entries know their own expiry)
and the bad-token cache (`ExpiringLRU`, which keeps an expiry per entry)."""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class LRU(Generic[K, V]):
    """At most `max_entries`; the least recently used goes first. 0 keeps nothing."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._entries.get(key)
        if value is not None:
            self._entries.move_to_end(key)
        return value

    def put(self, key: K, value: V) -> None:
        if self.max_entries <= 0:
            return
        self._entries[key] = value
        self._entries.move_to_end(key)
        if len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    def discard(self, key: K) -> None:
        self._entries.pop(key, None)

    def items(self) -> list[tuple[K, V]]:
        """Every entry, least recently used first (putting them in this order keeps the order)."""
        return list(self._entries.items())

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)


class ExpiringLRU(Generic[K, V]):
    """An LRU whose entries also expire, each at its own time."""

    def __init__(self, max_entries: int) -> None:
        self.max_entries = max_entries
        self._entries: LRU[K, tuple[float, V]] = LRU(max_entries)

    def get(self, key: K, now: float) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if entry[0] <= now:
            self._entries.discard(key)
            return None
        return entry[1]

    def put(self, key: K, value: V, expires_at: float) -> None:
        self._entries.put(key, (expires_at, value))

    def discard(self, key: K) -> None:
        self._entries.discard(key)

    def clear(self) -> None:
        self._entries.clear()

    def __len__(self) -> int:
        return len(self._entries)
