"""When an issuer's keys may be used, and when to fetch them again (pure: the clock is passed in).

Both key fetchers follow these rules: the service's asyncio one (service.key_store) and
library mode's thread (library.keys). Keys are refreshed every `refresh` seconds, sooner
when the JWKS answer's Cache-Control max-age says so (never below MIN_REFRESH); failed
fetches are retried after RETRY_DELAYS; the last good keys serve until they are
`max_stale` past due; a token naming an unknown kid triggers a refresh at most every
UNKNOWN_KID_COOLDOWN seconds. The documents' checks (discovery, size, JWKS) live here
too, so the two fetchers only move bytes.
"""

from __future__ import annotations

import json

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import KeysUnavailable
from authcheck.core.keys import JwksError, KeySet, parse_jwks

UNKNOWN_KID_COOLDOWN = 30.0  # seconds between kid-triggered refreshes per issuer
UNKNOWN_KID_WAIT = 2.0  # how long a request waits for that refresh
MIN_REFRESH = 60.0  # a Cache-Control max-age shorter than this is raised to it
RETRY_DELAYS = (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)  # after consecutive failed fetches
MAX_DOCUMENT_BYTES = 1024 * 1024
FETCH_TIMEOUT = 5.0  # seconds, for each discovery or JWKS request
NOT_FETCHED = "The issuer's keys could not be fetched yet."
TOO_OLD = "The issuer's keys are too old: the issuer has not answered."


class FetchError(Exception):
    """A discovery or JWKS fetch failed; `result` labels the metric."""

    def __init__(self, message: str, result: str) -> None:
        super().__init__(message)
        self.result = result


class KeyFreshness:
    """One issuer's keys and the fetch history that says whether they may still be used."""

    def __init__(self, config: IssuerConfig) -> None:
        self.config = config
        self.keys: KeySet | None = None
        self.fetched_at: float | None = None
        self.last_error: str | None = "keys not fetched yet"
        self.jwks_uri = config.jwks_uri  # None: discover it (again)
        self.max_age: float | None = None
        self.failures = 0
        self.last_kid_refresh = -UNKNOWN_KID_COOLDOWN

    def usable(self, now: float) -> KeySet:
        """The keys to verify with now; raises KeysUnavailable when there are none fresh enough."""
        keys, until = self.keys, self.usable_until()
        if keys is None or until is None:
            raise KeysUnavailable(NOT_FETCHED, 5)
        if now > until:
            raise KeysUnavailable(TOO_OLD, 30)
        return keys

    def usable_until(self) -> float | None:
        """Staleness counts from when the keys were due for refresh, not from the fetch."""
        if self.fetched_at is None:
            return None
        return self.fetched_at + self.refresh_interval() + self.config.max_stale

    def next_delay(self) -> float:
        """Seconds until the next scheduled fetch."""
        if self.failures:
            return RETRY_DELAYS[min(self.failures, len(RETRY_DELAYS)) - 1]
        return self.refresh_interval()

    def refresh_interval(self) -> float:
        """The configured `refresh`, shortened (not below MIN_REFRESH) by Cache-Control max-age."""
        if self.max_age is not None:
            return min(float(self.config.refresh), max(self.max_age, MIN_REFRESH))
        return float(self.config.refresh)

    def succeeded(self, keys: KeySet, max_age: float | None, now: float) -> None:
        self.fetched_at, self.keys, self.max_age = now, keys, max_age
        self.failures, self.last_error = 0, None

    def failed(self, error: FetchError) -> None:
        self.failures += 1
        self.last_error = str(error)
        if self.config.jwks_uri is None:
            self.jwks_uri = None  # discover again next time: the issuer may have moved its keys

    def claim_kid_refresh(self, now: float) -> bool:
        """Whether an unknown kid may start a refresh now (and note that one starts).

        False while cooling down; raises KeysUnavailable while cooling down after a failed
        fetch: the kid may be a key rotated in during the outage, so "retry", not "sign in".
        """
        if now - self.last_kid_refresh < UNKNOWN_KID_COOLDOWN:
            if self.failures:
                raise KeysUnavailable("The issuer's keys could not be refreshed.", int(self.next_delay()))
            return False
        self.last_kid_refresh = now
        return True

    def check_kid_refresh(self, now: float) -> None:
        """After the refresh an unknown kid waited for: raises KeysUnavailable when it failed."""
        if self.failures:
            # Try again after the retry backoff rather than the full cooldown, so a key
            # rotated during an outage is picked up as soon as the issuer is back.
            delay = self.next_delay()
            self.last_kid_refresh = now - UNKNOWN_KID_COOLDOWN + delay
            raise KeysUnavailable("The issuer's keys could not be refreshed.", int(delay))


def discovery_url(issuer: str) -> str:
    return issuer.rstrip("/") + "/.well-known/openid-configuration"


def jwks_uri_of(discovery: bytes, url: str, issuer: str) -> str:
    """The jwks_uri of the discovery document fetched from `url`; raises FetchError."""
    try:
        document = json.loads(discovery)
    except (ValueError, RecursionError):
        raise FetchError(f"discovery document at {url} is not JSON", "invalid") from None
    if not isinstance(document, dict) or document.get("issuer") != issuer:
        raise FetchError(f"discovery document at {url} names another issuer", "invalid")
    jwks_uri = document.get("jwks_uri")
    if not isinstance(jwks_uri, str) or not jwks_uri.startswith(("https://", "http://")):
        raise FetchError(f"discovery document at {url} has no http(s) jwks_uri", "invalid")
    if url.startswith("https://") and not jwks_uri.startswith("https://"):
        raise FetchError(f"discovery document at {url} downgrades jwks_uri to http", "invalid")
    return jwks_uri


def keys_of(jwks: bytes, config: IssuerConfig) -> KeySet:
    """The usable keys of a fetched JWKS; raises FetchError."""
    try:
        return parse_jwks(jwks, config.algorithms)
    except JwksError as exc:
        raise FetchError(str(exc), "invalid") from None


def check_answer(url: str, status: int) -> None:
    if status != 200:
        raise FetchError(f"GET {url} answered {status}", "http_error")


def check_size(url: str, received: int) -> None:
    if received > MAX_DOCUMENT_BYTES:
        raise FetchError(f"GET {url} is larger than {MAX_DOCUMENT_BYTES} bytes", "invalid")


def max_age(cache_control: str | None) -> float | None:
    """Cache-Control's max-age in seconds; None when absent or malformed."""
    for directive in (cache_control or "").split(","):
        name, _, value = directive.strip().partition("=")
        value = value.strip('"')
        if name.lower() == "max-age" and value.isascii() and value.isdigit():
            return float(value)
    return None
