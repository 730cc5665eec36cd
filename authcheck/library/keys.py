"""Each issuer's signing keys for library mode, fetched and refreshed by threads.

A WSGI app has no event loop of ours, so keys are fetched with a blocking client: once
when the store is made (in the caller's thread, waiting at most FIRST_FETCH_TIMEOUT),
then by a daemon thread on the schedule core.key_freshness sets, started on first use.
A request never waits for a scheduled fetch. A token naming an unknown kid starts one
refresh (at most every 30 s per issuer), which every thread asking meanwhile joins, and
waits for it at most UNKNOWN_KID_WAIT seconds.

Threads do not survive fork (gunicorn's workers, `--preload`): in the child the store
forgets its threads, locks and connections and starts afresh on first use, keeping the
keys it inherited. No thread runs before first use, so a fork right after start-up
(gunicorn's master) never catches one half-way through an import or a lock.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import httpx

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import KeysUnavailable
from authcheck.core.key_freshness import (
    FETCH_TIMEOUT,
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
from authcheck.library.forks import reset_after_fork

FIRST_FETCH_TIMEOUT = 2.0  # seconds, for each request of the fetch made at start

log = logging.getLogger("authcheck")


class IssuerKeys:
    """One issuer's keys (a core.authenticator.IssuerKeySource)."""

    def __init__(self, config: IssuerConfig, client: Callable[[], httpx.Client], clock: Callable[[], float]) -> None:
        self.config = config
        self.state = KeyFreshness(config)
        self._client = client
        self._clock = clock
        self._last_attempt: float | None = None  # when the last fetch began
        self._forked()

    def _forked(self) -> None:
        """Fresh thread state (at start, and in a forked child: the parent's may be mid-use)."""
        self._lock = threading.Lock()  # guards _inflight and the kid-refresh bookkeeping
        self._inflight: threading.Event | None = None  # set when the fetch under way ends
        self.attempted = threading.Event()  # set once a fetch has ended, either way
        if self.state.fetched_at is not None:
            self.attempted.set()

    def usable(self) -> KeySet:
        """The keys to verify with now; raises KeysUnavailable when there are none fresh enough."""
        return self.state.usable(self._clock())

    def refresh(self) -> threading.Event:
        """Start a fetch, or join the one under way; the event is set when it ends."""
        with self._lock:
            return self._refresh_locked()

    def _refresh_locked(self) -> threading.Event:
        if self._inflight is None:
            done = self._inflight = threading.Event()
            name = f"authcheck-keys-fetch {self.config.issuer}"
            threading.Thread(target=self._fetch_then_signal, args=(done,), name=name, daemon=True).start()
        return self._inflight

    def refresh_for_unknown_kid(self) -> bool:
        """Refresh once for a token whose kid we do not know; False while cooling down.

        Raises KeysUnavailable when the refresh fails or takes longer than UNKNOWN_KID_WAIT.
        """
        with self._lock:
            if self._inflight is None and not self.state.claim_kid_refresh(self._clock()):
                return False
            done = self._refresh_locked()
        if not done.wait(UNKNOWN_KID_WAIT):
            raise KeysUnavailable("The issuer's keys are being fetched.", 1)
        with self._lock:
            self.state.check_kid_refresh(self._clock())
        return True

    def run_schedule(self, stop: threading.Event) -> None:
        """Keep the keys fresh until `stop` is set."""
        while not stop.wait(self._next_due()):
            self.refresh().wait()

    def _next_due(self) -> float:
        """Seconds until the next scheduled fetch: now if none was tried in this process's memory."""
        if self._last_attempt is None:
            return 0.0
        return max(0.0, self._last_attempt + self.state.next_delay() - self._clock())

    def fetch_now(self) -> None:
        """The fetch at start, in the caller's thread."""
        self._fetch(FIRST_FETCH_TIMEOUT)
        self.attempted.set()

    def _fetch_then_signal(self, done: threading.Event) -> None:
        try:
            self._fetch(FETCH_TIMEOUT)
        finally:
            with self._lock:
                self._inflight = None
            self.attempted.set()
            done.set()

    def _fetch(self, timeout: float) -> None:
        """One discovery + JWKS round; never raises, so the schedule never dies."""
        state, issuer = self.state, self.config.issuer
        self._last_attempt = self._clock()
        try:
            client = self._client()
            if state.jwks_uri is None:
                url = discovery_url(issuer)
                body, _ = _get(client, url, timeout)
                state.jwks_uri = jwks_uri_of(body, url, issuer)
            body, cache_max_age = _get(client, state.jwks_uri, timeout)
            keys = keys_of(body, self.config)
        except FetchError as exc:
            self._failed(exc)
            return
        except Exception as exc:  # any surprise is a failed fetch too
            log.exception("authcheck: unexpected error fetching the keys of %s", issuer)
            self._failed(FetchError(f"unexpected {type(exc).__name__}", "invalid"))
            return
        with self._lock:
            state.succeeded(keys, cache_max_age, self._clock())
        log.info("authcheck: fetched the keys of %s: %s", issuer, sorted(keys.by_kid))

    def _failed(self, error: FetchError) -> None:
        with self._lock:
            self.state.failed(error)
        log.warning("authcheck: could not fetch the keys of %s: %s", self.config.issuer, error)


def _get(client: httpx.Client, url: str, timeout: float) -> tuple[bytes, float | None]:
    try:
        with client.stream("GET", url, timeout=httpx.Timeout(timeout)) as response:
            check_answer(url, response.status_code)
            body = bytearray()
            for chunk in response.iter_bytes():
                body += chunk
                check_size(url, len(body))
            return bytes(body), max_age(response.headers.get("cache-control"))
    except httpx.HTTPError as exc:
        raise FetchError(f"GET {url} failed: {type(exc).__name__}", "network_error") from None


class KeyStore:
    """Every configured issuer's keys, by issuer identifier; `start` is called on every use."""

    def __init__(self, issuers: tuple[IssuerConfig, ...], clock: Callable[[], float] = time.monotonic) -> None:
        self.issuers = {c.issuer: IssuerKeys(c, self._http, clock) for c in issuers}
        self._closed = False
        self._forked()
        reset_after_fork(self)
        for keys in self.issuers.values():
            keys.fetch_now()

    def _forked(self) -> None:
        self._started = False
        self._fetched_once = False
        self._start_lock = threading.Lock()
        self._stop = threading.Event()
        self._client: httpx.Client | None = None  # a forked child must not share the parent's sockets
        for keys in self.issuers.values():
            keys._forked()

    def _http(self) -> httpx.Client:
        client = self._client
        if client is None:
            with self._start_lock:
                if self._closed:
                    raise FetchError("the guard is closed", "network_error")
                if self._client is None:
                    self._client = httpx.Client(follow_redirects=False, trust_env=False)
                client = self._client
        return client

    @property
    def ready(self) -> bool:
        """Started in this process, and every issuer's first fetch has ended."""
        if self._started and self._fetched_once:
            return True
        self._fetched_once = all(keys.attempted.is_set() for keys in self.issuers.values())
        return self._started and self._fetched_once

    def start(self) -> None:
        """Start the refresh threads in this process (again after a fork)."""
        with self._start_lock:
            if self._started or self._closed:
                return
            self._started = True
            for keys in self.issuers.values():
                name = f"authcheck-keys {keys.config.issuer}"
                threading.Thread(target=keys.run_schedule, args=(self._stop,), name=name, daemon=True).start()

    def wait_first_fetch(self, timeout: float = UNKNOWN_KID_WAIT) -> None:
        """Wait (at most `timeout` in all) until every issuer's first fetch has ended."""
        deadline = time.monotonic() + timeout
        for keys in self.issuers.values():
            keys.attempted.wait(max(0.0, deadline - time.monotonic()))

    def not_ready(self) -> dict[str, str]:
        """Issuers without usable keys, with the reason (for an app's readiness check)."""
        problems = {}
        for issuer, keys in self.issuers.items():
            try:
                keys.usable()
            except KeysUnavailable as exc:
                problems[issuer] = f"{exc.message} Last error: {keys.state.last_error}"
        return problems

    def close(self) -> None:
        with self._start_lock:
            self._closed = True
            self._stop.set()
            client, self._client = self._client, None
        if client is not None:
            client.close()
