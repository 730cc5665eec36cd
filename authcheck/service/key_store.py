"""Fetching and refreshing each issuer's signing keys over HTTP (the only I/O behind /verify).

Keys are fetched in the background from start-up on, refreshed on a schedule, and once
more (at most every 30 s, shared by concurrent requests) when a token names an unknown
kid. When fetches fail, the last good keys serve until they are `max_stale` old; after
that, and before the first success, every check that needs keys fails closed with 503.
The rules (when, how stale, which documents) are core.key_freshness; this is the asyncio I/O.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import structlog

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import KeysUnavailable
from authcheck.core.key_freshness import (
    FETCH_TIMEOUT,
    MAX_DOCUMENT_BYTES,
    MIN_REFRESH,
    RETRY_DELAYS,
    UNKNOWN_KID_COOLDOWN,
    UNKNOWN_KID_WAIT,
    FetchError,
    KeyFreshness,
    check_answer,
    check_size,
    discovery_url,
    jwks_uri_of,
    keys_of,
    max_age,
)
from authcheck.core.keys import KeySet

__all__ = [
    "MAX_DOCUMENT_BYTES",
    "MIN_REFRESH",
    "RETRY_DELAYS",
    "UNKNOWN_KID_COOLDOWN",
    "UNKNOWN_KID_WAIT",
    "FetchStats",
    "IssuerKeys",
    "KeyStore",
    "KeysStatus",
]

log = structlog.get_logger("authcheck.core.keys")


@dataclass
class FetchStats:
    """Counts by result ("ok", "http_error", "network_error", "invalid"); `listener` hears each
    one once the keys reflect it (it feeds /metrics and what this worker tells the others)."""

    by_result: dict[str, int] = field(default_factory=dict)
    listener: Callable[[str], None] | None = None

    def add(self, result: str) -> None:
        self.by_result[result] = self.by_result.get(result, 0) + 1
        if self.listener is not None:
            self.listener(result)


@dataclass(frozen=True)
class KeysStatus:
    """One issuer's key set as /readyz and the key-age gauge see it, in Unix time (comparable
    across worker processes)."""

    fetched_at: float | None
    usable_until: float | None
    last_error: str | None


class IssuerKeys:
    def __init__(
        self,
        config: IssuerConfig,
        client: httpx.AsyncClient,
        stats: FetchStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.state = KeyFreshness(config)
        self._client = client
        self._stats = stats
        self._clock = clock
        self._inflight: asyncio.Task[None] | None = None

    @property
    def keys(self) -> KeySet | None:
        return self.state.keys

    @property
    def fetched_at(self) -> float | None:
        return self.state.fetched_at

    @property
    def last_error(self) -> str | None:
        return self.state.last_error

    def usable(self) -> KeySet:
        """The keys to verify with now; raises KeysUnavailable when there are none fresh enough."""
        return self.state.usable(self._clock())

    def status(self, to_unix: float) -> KeysStatus:
        """`to_unix`: what to add to this store's clock to get Unix time."""
        fetched_at, until = self.state.fetched_at, self.state.usable_until()
        return KeysStatus(
            None if fetched_at is None else fetched_at + to_unix,
            None if until is None else until + to_unix,
            self.last_error,
        )

    def age(self) -> float | None:
        return None if self.state.fetched_at is None else self._clock() - self.state.fetched_at

    async def refresh(self) -> None:
        """Fetch now, or join the fetch already under way."""
        await asyncio.shield(self._refresh_task())

    def _refresh_task(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch_once())
        return self._inflight

    async def _fetch_once(self) -> None:
        try:
            await self._fetch()
        finally:
            # Cleared by the fetch itself, not by a done callback (which runs a loop turn later):
            # a refresh asked for in between would join the finished fetch instead of starting one.
            self._inflight = None

    async def refresh_for_unknown_kid(self) -> bool:
        """Refresh once for a token whose kid we do not know; False while cooling down.

        Raises KeysUnavailable when the refresh fails or is too slow: the kid may well be
        a new key we cannot see yet, so the answer is "retry", not "sign in again".
        """
        if self._inflight is None and not self.state.claim_kid_refresh(self._clock()):
            return False
        # Take the task now, synchronously: joining later could start a second fetch.
        task = self._refresh_task()
        try:
            await asyncio.wait_for(asyncio.shield(task), UNKNOWN_KID_WAIT)
        except TimeoutError:
            raise KeysUnavailable("The issuer's keys are being fetched.", 1) from None
        self.state.check_kid_refresh(self._clock())
        return True

    async def run_schedule(self) -> None:
        """Keep the keys fresh for the life of the process."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        return self.state.next_delay()

    async def _fetch(self) -> None:
        """One discovery + JWKS round; never raises, so the schedule never dies."""
        state = self.state
        try:
            if state.jwks_uri is None:
                url = discovery_url(self.config.issuer)
                body, _ = await self._get(url)
                state.jwks_uri = jwks_uri_of(body, url, self.config.issuer)
            body, cache_max_age = await self._get(state.jwks_uri)
            keys = keys_of(body, self.config)
        except FetchError as exc:
            self._failed(exc)
            return
        except Exception as exc:  # any surprise is a failed fetch too
            log.exception("jwks_fetch_error", iss=self.config.issuer)
            self._failed(FetchError(f"unexpected {type(exc).__name__}", "invalid"))
            return
        state.succeeded(keys, cache_max_age, self._clock())
        self._stats.add("ok")
        log.info("jwks_fetched", iss=self.config.issuer, kids=sorted(keys.by_kid), skipped=list(keys.skipped))

    def _failed(self, error: FetchError) -> None:
        self.state.failed(error)
        self._stats.add(error.result)
        log.warning("jwks_fetch_failed", iss=self.config.issuer, error=str(error), result=error.result)

    async def _get(self, url: str) -> tuple[bytes, float | None]:
        try:
            async with self._client.stream("GET", url, timeout=httpx.Timeout(FETCH_TIMEOUT)) as response:
                check_answer(url, response.status_code)
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    check_size(url, len(body))
                return bytes(body), max_age(response.headers.get("cache-control"))
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url} failed: {type(exc).__name__}", "network_error") from None


class KeyStore:
    """Every configured issuer's keys, by issuer identifier."""

    def __init__(
        self,
        issuers: tuple[IssuerConfig, ...],
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Callable[[], float] = time.monotonic,
        on_fetch: Callable[[str], None] | None = None,
    ) -> None:
        self.stats = FetchStats(listener=on_fetch)
        self._clock = clock
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self.issuers = {c.issuer: IssuerKeys(c, self._client, self.stats, clock) for c in issuers}
        self._tasks: dict[str, asyncio.Task[None]] = {}
        self._started = False

    def start(self) -> None:
        self._started = True
        for issuer, keys in self.issuers.items():
            self._tasks[issuer] = asyncio.create_task(keys.run_schedule())

    def replace(self, issuers: tuple[IssuerConfig, ...]) -> dict[str, IssuerKeys]:
        """The key sets for a reloaded config: an issuer whose settings did not change keeps its
        IssuerKeys (keys, schedule, and the verified tokens that point at it); the others start
        afresh. Returns the new mapping without installing it: `install` does, with the rest
        of the new config, in one step."""
        current = {keys.config: keys for keys in self.issuers.values()}
        return {c.issuer: current.get(c) or IssuerKeys(c, self._client, self.stats, self._clock) for c in issuers}

    def install(self, issuers: dict[str, IssuerKeys]) -> None:
        """Serve `issuers` from now on: schedules start for new ones, stop for those left out."""
        kept = {id(keys) for keys in issuers.values()}
        for issuer, keys in self.issuers.items():
            if id(keys) not in kept and (task := self._tasks.pop(issuer, None)) is not None:
                task.cancel()
        self.issuers = issuers
        if self._started:
            for issuer, keys in issuers.items():
                if issuer not in self._tasks:
                    self._tasks[issuer] = asyncio.create_task(keys.run_schedule())

    async def close(self) -> None:
        tasks = list(self._tasks.values())
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await self._client.aclose()

    def status(self) -> dict[str, KeysStatus]:
        to_unix = time.time() - self._clock()
        return {issuer: keys.status(to_unix) for issuer, keys in self.issuers.items()}
