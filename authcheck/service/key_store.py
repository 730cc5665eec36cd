"""Fetching and refreshing each issuer's signing keys over HTTP (the only I/O behind /verify).

Keys are fetched in the background from start-up on, refreshed on a schedule, and once
more (at most every 30 s, shared by concurrent requests) when a token names an unknown
kid. When fetches fail, the last good keys serve until they are `max_stale` old; after
that, and before the first success, every check that needs keys fails closed with 503.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import httpx
import structlog

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import KeysUnavailable
from authcheck.core.keys import JwksError, KeySet, parse_jwks

UNKNOWN_KID_COOLDOWN = 30.0  # seconds between kid-triggered refreshes per issuer
UNKNOWN_KID_WAIT = 2.0  # how long a request waits for that refresh
MIN_REFRESH = 60.0  # a Cache-Control max-age shorter than this is raised to it
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # after consecutive failed fetches
MAX_DOCUMENT_BYTES = 1024 * 1024
FETCH_TIMEOUT = httpx.Timeout(5.0)

log = structlog.get_logger("authcheck.core.keys")


class FetchError(Exception):
    """A discovery or JWKS fetch failed; `result` labels the metric."""

    def __init__(self, message: str, result: str) -> None:
        super().__init__(message)
        self.result = result


@dataclass
class FetchStats:
    """Counts by result ("ok", "http_error", "network_error", "invalid"), for /metrics."""

    by_result: dict[str, int] = field(default_factory=dict)

    def add(self, result: str) -> None:
        self.by_result[result] = self.by_result.get(result, 0) + 1


class IssuerKeys:
    def __init__(
        self,
        config: IssuerConfig,
        client: httpx.AsyncClient,
        stats: FetchStats,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.config = config
        self.keys: KeySet | None = None
        self.fetched_at: float | None = None
        self.last_error: str | None = "keys not fetched yet"
        self._client = client
        self._stats = stats
        self._clock = clock
        self._jwks_uri = config.jwks_uri
        self._max_age: float | None = None
        self._failures = 0
        self._inflight: asyncio.Task[None] | None = None
        self._last_kid_refresh = -UNKNOWN_KID_COOLDOWN

    def usable(self) -> KeySet:
        """The keys to verify with now; raises KeysUnavailable when there are none fresh enough."""
        if self.keys is None or self.fetched_at is None:
            raise KeysUnavailable("The issuer's keys could not be fetched yet.", 5)
        # Staleness counts from when the keys were due for refresh, not from the fetch.
        if self._clock() - self.fetched_at - self._refresh_interval() > self.config.max_stale:
            raise KeysUnavailable("The issuer's keys are too old: the issuer has not answered.", 30)
        return self.keys

    def age(self) -> float | None:
        return None if self.fetched_at is None else self._clock() - self.fetched_at

    async def refresh(self) -> None:
        """Fetch now, or join the fetch already under way."""
        await asyncio.shield(self._refresh_task())

    def _refresh_task(self) -> asyncio.Task[None]:
        if self._inflight is None:
            self._inflight = asyncio.create_task(self._fetch())
            self._inflight.add_done_callback(lambda _: setattr(self, "_inflight", None))
        return self._inflight

    async def refresh_for_unknown_kid(self) -> bool:
        """Refresh once for a token whose kid we do not know; False while cooling down.

        Raises KeysUnavailable when the refresh fails or is too slow: the kid may well be
        a new key we cannot see yet, so the answer is "retry", not "sign in again".
        """
        if self._inflight is None:
            now = self._clock()
            if now - self._last_kid_refresh < UNKNOWN_KID_COOLDOWN:
                if self._failures:
                    raise KeysUnavailable("The issuer's keys could not be refreshed.", int(self._next_delay()))
                return False
            self._last_kid_refresh = now
        # Take the task now, synchronously: joining later could start a second fetch.
        task = self._refresh_task()
        try:
            await asyncio.wait_for(asyncio.shield(task), UNKNOWN_KID_WAIT)
        except TimeoutError:
            raise KeysUnavailable("The issuer's keys are being fetched.", 1) from None
        if self._failures:
            # Try again after the retry backoff rather than the full cooldown, so a key
            # rotated during an outage is picked up as soon as the issuer is back.
            delay = self._next_delay()
            self._last_kid_refresh = self._clock() - UNKNOWN_KID_COOLDOWN + delay
            raise KeysUnavailable("The issuer's keys could not be refreshed.", int(delay))
        return True

    async def run_schedule(self) -> None:
        """Keep the keys fresh for the life of the process."""
        while True:
            await self.refresh()
            await asyncio.sleep(self._next_delay())

    def _next_delay(self) -> float:
        if self._failures:
            return RETRY_DELAYS[min(self._failures, len(RETRY_DELAYS)) - 1]
        return self._refresh_interval()

    def _refresh_interval(self) -> float:
        """The configured `refresh`, shortened (not below MIN_REFRESH) by Cache-Control max-age."""
        if self._max_age is not None:
            return min(float(self.config.refresh), max(self._max_age, MIN_REFRESH))
        return float(self.config.refresh)

    async def _fetch(self) -> None:
        """One discovery + JWKS round; never raises, so the schedule never dies."""
        try:
            if self._jwks_uri is None:
                self._jwks_uri = await self._discover()
            body, max_age = await self._get(self._jwks_uri)
            try:
                keys = parse_jwks(body, self.config.algorithms)
            except JwksError as exc:
                raise FetchError(str(exc), "invalid") from None
        except FetchError as exc:
            self._failed(exc)
            return
        except Exception as exc:  # any surprise is a failed fetch too
            log.exception("jwks_fetch_error", iss=self.config.issuer)
            self._failed(FetchError(f"unexpected {type(exc).__name__}", "invalid"))
            return
        self.keys, self.fetched_at, self._max_age = keys, self._clock(), max_age
        self._failures, self.last_error = 0, None
        self._stats.add("ok")
        log.info("jwks_fetched", iss=self.config.issuer, kids=sorted(keys.by_kid), skipped=list(keys.skipped))

    def _failed(self, error: FetchError) -> None:
        self._failures += 1
        self.last_error = str(error)
        self._stats.add(error.result)
        if self.config.jwks_uri is None:
            self._jwks_uri = None  # discover again next time: the issuer may have moved its keys
        log.warning("jwks_fetch_failed", iss=self.config.issuer, error=str(error), result=error.result)

    async def _discover(self) -> str:
        url = self.config.issuer.rstrip("/") + "/.well-known/openid-configuration"
        body, _ = await self._get(url)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            raise FetchError(f"discovery document at {url} is not JSON", "invalid") from None
        if not isinstance(document, dict) or document.get("issuer") != self.config.issuer:
            raise FetchError(f"discovery document at {url} names another issuer", "invalid")
        jwks_uri = document.get("jwks_uri")
        if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
            raise FetchError(f"discovery document at {url} has no http(s) jwks_uri", "invalid")
        if url.startswith("https://") and not jwks_uri.startswith("https://"):
            raise FetchError(f"discovery document at {url} downgrades jwks_uri to http", "invalid")
        return jwks_uri

    async def _get(self, url: str) -> tuple[bytes, float | None]:
        try:
            async with self._client.stream("GET", url, timeout=FETCH_TIMEOUT) as response:
                if response.status_code != 200:
                    raise FetchError(f"GET {url} answered {response.status_code}", "http_error")
                body = bytearray()
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > MAX_DOCUMENT_BYTES:
                        raise FetchError(f"GET {url} is larger than {MAX_DOCUMENT_BYTES} bytes", "invalid")
                return bytes(body), _max_age(response.headers.get("cache-control"))
        except httpx.HTTPError as exc:
            raise FetchError(f"GET {url} failed: {type(exc).__name__}", "network_error") from None


def _max_age(cache_control: str | None) -> float | None:
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        value = value.strip('"')
        if name.lower() == "max-age" and value.isascii() and value.isdigit():
            return float(value)
    return None


class KeyStore:
    """Every configured issuer's keys, by issuer identifier."""

    def __init__(self, issuers: tuple[IssuerConfig, ...], transport: httpx.AsyncBaseTransport | None = None) -> None:
        self.stats = FetchStats()
        self._client = httpx.AsyncClient(transport=transport, follow_redirects=False)
        self.issuers = {c.issuer: IssuerKeys(c, self._client, self.stats) for c in issuers}
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
        return {c.issuer: current.get(c) or IssuerKeys(c, self._client, self.stats) for c in issuers}

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

    def not_ready(self) -> dict[str, str]:
        """Issuers without usable keys, with the reason."""
        problems = {}
        for issuer, keys in self.issuers.items():
            try:
                keys.usable()
            except KeysUnavailable as exc:
                problems[issuer] = f"{exc.message} Last error: {keys.last_error}"
        return problems
