"""IssuerKeys and KeyStore: discovery, JWKS fetches, failures, staleness and refresh timing.

Unit tests without sockets: the issuer is an httpx.MockTransport handler and time is a
fake clock, so every branch runs in milliseconds. Only those two are mocked; the same
lifecycle against real HTTP servers and a real authcheck process is covered by the
service tests (test_service_keys.py). Coroutines run with asyncio.run inside plain
test functions.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager, suppress
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from jwt.algorithms import ECAlgorithm

from authcheck.config.model import IssuerConfig
from authcheck.core.errors import KeysUnavailable
from authcheck.service import key_store
from authcheck.service.key_store import (
    MAX_DOCUMENT_BYTES,
    MIN_REFRESH,
    RETRY_DELAYS,
    UNKNOWN_KID_COOLDOWN,
    FetchStats,
    IssuerKeys,
    KeyStore,
)
from authcheck.service.readiness import problems

ISSUER = "https://tenant.logto.app/oidc"
DISCOVERY_URL = ISSUER + "/.well-known/openid-configuration"
JWKS_URL = ISSUER + "/jwks"
AUDIENCE = "https://api.example.com"
CONFIG = IssuerConfig(issuer=ISSUER, audiences=(AUDIENCE,), refresh=600, max_stale=3600)
CONFIGURED_JWKS = IssuerConfig(issuer=ISSUER, audiences=(AUDIENCE,), jwks_uri=JWKS_URL, refresh=600, max_stale=3600)


def jwk(kid: str) -> dict[str, Any]:
    public = ec.generate_private_key(ec.SECP384R1()).public_key()
    return {**ECAlgorithm.to_jwk(public, as_dict=True), "kid": kid, "alg": "ES384", "use": "sig"}


JWK_1, JWK_2 = jwk("k1"), jwk("k2")

Handler = Callable[[httpx.Request], httpx.Response | Awaitable[httpx.Response]]


class FakeIssuer:
    """Serves a discovery document and a JWKS; any URL can be given another answer."""

    def __init__(self, issuer: str = ISSUER, jwks_url: str = JWKS_URL) -> None:
        self.calls: list[str] = []
        self.discovery_url = issuer.rstrip("/") + "/.well-known/openid-configuration"
        self.jwks_url = jwks_url
        self.discovery: object = {"issuer": issuer, "jwks_uri": jwks_url}
        self.jwks: object = {"keys": [JWK_1]}
        self.jwks_headers: dict[str, str] = {}
        self.override: dict[str, Handler] = {}
        self.gate: asyncio.Event | None = None  # when set, the JWKS answer waits for it
        self.delay = 0.0

    async def __call__(self, request: httpx.Request) -> httpx.Response:
        url = str(request.url)
        self.calls.append(url)
        if self.delay:
            await asyncio.sleep(self.delay)
        if url in self.override:
            answer = self.override[url](request)
            return answer if isinstance(answer, httpx.Response) else await answer
        if url == self.discovery_url:
            return httpx.Response(200, json=self.discovery)
        if url == self.jwks_url:
            if self.gate is not None:
                await self.gate.wait()
            return httpx.Response(200, json=self.jwks, headers=self.jwks_headers)
        return httpx.Response(404)

    def count(self, url: str) -> int:
        return self.calls.count(url)


class Clock:
    def __init__(self, now: float = 1000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@asynccontextmanager
async def issuer_keys(
    fake: FakeIssuer, config: IssuerConfig = CONFIG, clock: Clock | None = None
) -> AsyncIterator[IssuerKeys]:
    async with httpx.AsyncClient(transport=httpx.MockTransport(fake)) as client:
        yield IssuerKeys(config, client, FetchStats(), clock=clock or Clock())


def stats_of(keys: IssuerKeys) -> dict[str, int]:
    return keys._stats.by_result


def answer(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Handler:
    return lambda request: httpx.Response(status, content=body, headers=headers)


def raises(error: type[httpx.HTTPError]) -> Handler:
    def handler(request: httpx.Request) -> httpx.Response:
        raise error("simulated", request=request)

    return handler


def padded(document: object, size: int) -> bytes:
    """Valid JSON of exactly `size` bytes (trailing whitespace)."""
    body = json.dumps(document).encode()
    return body + b" " * (size - len(body))


# -- first fetch ------------------------------------------------------------------------


def test_discovery_then_jwks() -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        async with issuer_keys(fake, clock=clock) as keys:
            assert keys.keys is None and keys.age() is None
            await keys.refresh()
            assert fake.calls == [DISCOVERY_URL, JWKS_URL]
            assert keys.keys is not None and set(keys.keys.by_kid) == {"k1"}
            assert keys.fetched_at == 1000.0
            assert keys.last_error is None
            assert stats_of(keys) == {"ok": 1}
            assert keys.usable() is keys.keys
            clock.now += 5
            assert keys.age() == 5

    asyncio.run(scenario())


def test_configured_jwks_uri_skips_discovery() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            await keys.refresh()
            await keys.refresh()
            assert fake.calls == [JWKS_URL, JWKS_URL]
            assert set(keys.usable().by_kid) == {"k1"}

    asyncio.run(scenario())


def test_discovery_url_of_issuer_with_trailing_slash() -> None:
    async def scenario() -> None:
        issuer = "https://idp.example.com/"
        fake = FakeIssuer(issuer, "https://idp.example.com/keys")
        config = IssuerConfig(issuer=issuer, audiences=(AUDIENCE,))
        async with issuer_keys(fake, config) as keys:
            await keys.refresh()
            assert fake.calls == [
                "https://idp.example.com/.well-known/openid-configuration",
                "https://idp.example.com/keys",
            ]
            assert keys.last_error is None

    asyncio.run(scenario())


def test_algorithm_allow_list_applies_to_fetched_keys() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        async with issuer_keys(fake, IssuerConfig(issuer=ISSUER, audiences=(AUDIENCE,), algorithms=("RS256",))) as k:
            await k.refresh()
            assert k.keys is None
            assert "none of its algorithms is allowed" in (k.last_error or "")
            assert stats_of(k) == {"invalid": 1}

    asyncio.run(scenario())


BAD_DISCOVERY = [
    pytest.param(
        {"issuer": "https://evil.example.com/oidc", "jwks_uri": JWKS_URL},
        "names another issuer",
        id="other-issuer-not-usable",
    ),
    pytest.param(
        {"issuer": ISSUER + "/", "jwks_uri": JWKS_URL}, "names another issuer", id="issuer-compared-exactly-not-usable"
    ),
    pytest.param({"jwks_uri": JWKS_URL}, "names another issuer", id="no-issuer-not-usable"),
    pytest.param([ISSUER, JWKS_URL], "names another issuer", id="json-array-not-usable"),
    pytest.param({"issuer": ISSUER}, "has no http(s) jwks_uri", id="no-jwks-uri-not-usable"),
    pytest.param(
        {"issuer": ISSUER, "jwks_uri": "file:///etc/passwd"}, "has no http(s) jwks_uri", id="file-jwks-uri-not-usable"
    ),
    pytest.param({"issuer": ISSUER, "jwks_uri": 5}, "has no http(s) jwks_uri", id="numeric-jwks-uri-not-usable"),
]


@pytest.mark.parametrize(("document", "why"), BAD_DISCOVERY)
def test_unusable_discovery_document(document: object, why: str) -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.discovery = document
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert fake.calls == [DISCOVERY_URL], "the JWKS must not be fetched"
            assert keys.keys is None
            assert keys.last_error == f"discovery document at {DISCOVERY_URL} {why}"
            assert stats_of(keys) == {"invalid": 1}
            with pytest.raises(KeysUnavailable) as caught:
                keys.usable()
            assert caught.value.status == 503
            assert caught.value.retry_after == 5
            assert keys.last_error not in caught.value.message  # the client hears no internals

    asyncio.run(scenario())


FAILURES = [
    pytest.param(JWKS_URL, answer(500), "http_error", f"GET {JWKS_URL} answered 500", id="jwks-500-http-error"),
    pytest.param(JWKS_URL, answer(404), "http_error", f"GET {JWKS_URL} answered 404", id="jwks-404-http-error"),
    pytest.param(JWKS_URL, answer(204), "http_error", f"GET {JWKS_URL} answered 204", id="jwks-204-http-error"),
    pytest.param(
        JWKS_URL,
        answer(302, headers={"location": "https://evil.example.com/jwks"}),
        "http_error",
        f"GET {JWKS_URL} answered 302",
        id="jwks-redirect-not-followed-http-error",
    ),
    pytest.param(
        DISCOVERY_URL, answer(503), "http_error", f"GET {DISCOVERY_URL} answered 503", id="discovery-503-http-error"
    ),
    pytest.param(
        JWKS_URL, answer(200, b"<html>login</html>"), "invalid", "the JWKS is not valid JSON", id="jwks-garbage-invalid"
    ),
    pytest.param(
        JWKS_URL,
        answer(200, b'{"keys": []}'),
        "invalid",
        "the JWKS has no usable signing key (it is empty)",
        id="jwks-without-keys-invalid",
    ),
    pytest.param(
        DISCOVERY_URL,
        answer(200, b"<html>"),
        "invalid",
        f"discovery document at {DISCOVERY_URL} is not JSON",
        id="discovery-garbage-invalid",
    ),
    pytest.param(
        JWKS_URL,
        answer(200, padded({"keys": [JWK_1]}, MAX_DOCUMENT_BYTES + 1)),
        "invalid",
        f"GET {JWKS_URL} is larger than {MAX_DOCUMENT_BYTES} bytes",
        id="jwks-oversized-invalid",
    ),
    pytest.param(
        DISCOVERY_URL,
        answer(200, padded({"issuer": ISSUER, "jwks_uri": JWKS_URL}, MAX_DOCUMENT_BYTES + 1)),
        "invalid",
        f"GET {DISCOVERY_URL} is larger than {MAX_DOCUMENT_BYTES} bytes",
        id="discovery-oversized-invalid",
    ),
    pytest.param(
        JWKS_URL,
        raises(httpx.ConnectError),
        "network_error",
        f"GET {JWKS_URL} failed: ConnectError",
        id="jwks-connect-error-network-error",
    ),
    pytest.param(
        DISCOVERY_URL,
        raises(httpx.ConnectError),
        "network_error",
        f"GET {DISCOVERY_URL} failed: ConnectError",
        id="discovery-connect-error-network-error",
    ),
    pytest.param(
        JWKS_URL,
        raises(httpx.ReadTimeout),
        "network_error",
        f"GET {JWKS_URL} failed: ReadTimeout",
        id="jwks-read-timeout-network-error",
    ),
    pytest.param(
        JWKS_URL,
        raises(httpx.RemoteProtocolError),
        "network_error",
        f"GET {JWKS_URL} failed: RemoteProtocolError",
        id="jwks-protocol-error-network-error",
    ),
]


@pytest.mark.parametrize(("url", "handler", "result", "error"), FAILURES)
def test_failed_fetch_counted_and_described(url: str, handler: Handler, result: str, error: str) -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[url] = handler
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert keys.keys is None
            assert keys.last_error == error
            assert stats_of(keys) == {result: 1}
            assert fake.count(url) == 1
            with pytest.raises(KeysUnavailable) as caught:
                keys.usable()
            assert (caught.value.status, caught.value.retry_after) == (503, 5)

    asyncio.run(scenario())


def test_document_of_exactly_the_size_limit_accepted() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[JWKS_URL] = answer(200, padded({"keys": [JWK_1]}, MAX_DOCUMENT_BYTES))
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert keys.last_error is None
            assert set(keys.usable().by_kid) == {"k1"}

    asyncio.run(scenario())


def test_redirect_not_followed_by_the_key_store_client() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[JWKS_URL] = answer(302, headers={"location": ISSUER + "/moved"})
        fake.override[ISSUER + "/moved"] = lambda request: httpx.Response(200, json={"keys": [JWK_1]})
        store = KeyStore((CONFIGURED_JWKS,), transport=httpx.MockTransport(fake))
        try:
            await store.issuers[ISSUER].refresh()
            assert fake.calls == [JWKS_URL]
            assert store.stats.by_result == {"http_error": 1}
        finally:
            await store.close()

    asyncio.run(scenario())


def test_one_malformed_key_does_not_lose_the_others() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.jwks = {"keys": [JWK_1, {**JWK_2, "x": "AAAA"}]}  # k2's coordinate is truncated
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert set(keys.usable().by_kid) == {"k1"}
            assert stats_of(keys) == {"ok": 1}

    asyncio.run(scenario())


def test_deeply_nested_discovery_document_is_invalid_not_a_crash() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[DISCOVERY_URL] = answer(200, b"[" * 100_000 + b"]" * 100_000)
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert stats_of(keys) == {"invalid": 1}
            assert keys.keys is None

    asyncio.run(scenario())


def test_malformed_cache_control_max_age_is_ignored_not_a_crash() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        # "max-age=¹": a latin-1 superscript one, which str.isdigit() accepts and float() refuses.
        fake.override[JWKS_URL] = lambda request: httpx.Response(
            200,
            content=json.dumps({"keys": [JWK_1]}).encode(),
            headers=[(b"cache-control", "max-age=\xb9".encode("latin-1"))],
        )
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert set(keys.usable().by_kid) == {"k1"}
            assert keys._next_delay() == CONFIG.refresh

    asyncio.run(scenario())


# -- later failures and staleness -------------------------------------------------------


def test_keys_kept_after_later_failures() -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        async with issuer_keys(fake, clock=clock) as keys:
            await keys.refresh()
            good = keys.keys
            fake.override[JWKS_URL] = answer(500)
            clock.now += 700
            await keys.refresh()
            fake.override[JWKS_URL] = raises(httpx.ConnectError)
            await keys.refresh()
            assert keys.keys is good
            assert keys.fetched_at == 1000.0
            assert keys.usable() is good
            assert keys.last_error == f"GET {JWKS_URL} failed: ConnectError"
            assert stats_of(keys) == {"ok": 1, "http_error": 1, "network_error": 1}

    asyncio.run(scenario())


def test_discovery_repeated_after_a_failure_and_new_keys_installed() -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        async with issuer_keys(fake, clock=clock) as keys:
            await keys.refresh()
            assert fake.count(DISCOVERY_URL) == 1
            await keys.refresh()  # the discovered jwks_uri is reused while it works
            assert fake.count(DISCOVERY_URL) == 1
            fake.override[JWKS_URL] = answer(500)
            await keys.refresh()
            # The issuer moved its keys: discovery says where.
            del fake.override[JWKS_URL]
            fake.jwks_url = ISSUER + "/jwks-v2"
            fake.discovery = {"issuer": ISSUER, "jwks_uri": fake.jwks_url}
            fake.jwks = {"keys": [JWK_2]}
            clock.now = 2000.0
            await keys.refresh()
            assert fake.count(DISCOVERY_URL) == 2
            assert set(keys.usable().by_kid) == {"k2"}
            assert keys.fetched_at == 2000.0
            assert keys.last_error is None

    asyncio.run(scenario())


STALENESS = [
    pytest.param({}, 600 + 3600, True, id="no-max-age-usable-until-refresh-plus-max-stale"),
    pytest.param({}, 600 + 3600 + 1, False, id="no-max-age-503-after-refresh-plus-max-stale"),
    pytest.param({"cache-control": "max-age=120"}, 120 + 3600, True, id="max-age-usable-until-max-age-plus-max-stale"),
    pytest.param(
        {"cache-control": "max-age=120"}, 120 + 3600 + 1, False, id="max-age-503-after-max-age-plus-max-stale"
    ),
    pytest.param({"cache-control": "max-age=5"}, MIN_REFRESH + 3600, True, id="short-max-age-raised-to-min-refresh"),
    pytest.param({"cache-control": "max-age=5"}, MIN_REFRESH + 3600 + 1, False, id="short-max-age-503-after-min"),
]


@pytest.mark.parametrize(("headers", "elapsed", "usable"), STALENESS)
def test_staleness_limit(headers: dict[str, str], elapsed: float, usable: bool) -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        fake.jwks_headers = headers
        async with issuer_keys(fake, clock=clock) as keys:
            await keys.refresh()
            fake.override[JWKS_URL] = answer(503)
            clock.now += elapsed
            await keys.refresh()
            if usable:
                assert keys.usable() is keys.keys
            else:
                with pytest.raises(KeysUnavailable) as caught:
                    keys.usable()
                assert (caught.value.status, caught.value.retry_after) == (503, 30)
                assert caught.value.message == "The issuer's keys are too old: the issuer has not answered."
                assert keys.last_error == f"GET {JWKS_URL} answered 503"  # for /readyz and logs

    asyncio.run(scenario())


def test_never_fetched_message_names_the_reason() -> None:
    async def scenario() -> None:
        async with issuer_keys(FakeIssuer()) as keys:
            with pytest.raises(KeysUnavailable) as caught:
                keys.usable()
            assert caught.value.message == "The issuer's keys could not be fetched yet."
            assert keys.last_error == "keys not fetched yet"
            assert caught.value.retry_after == 5

    asyncio.run(scenario())


CACHE_CONTROL = [
    pytest.param({}, 600, id="no-header-configured-refresh"),
    pytest.param({"cache-control": "max-age=120"}, 120, id="max-age-shortens-refresh"),
    pytest.param({"cache-control": "public, max-age=300, must-revalidate"}, 300, id="max-age-among-directives"),
    pytest.param({"cache-control": 'max-age="300"'}, 300, id="quoted-max-age"),
    pytest.param({"cache-control": "MAX-AGE=300"}, 300, id="directive-name-case-insensitive"),
    pytest.param({"cache-control": "max-age=5"}, MIN_REFRESH, id="short-max-age-not-below-min-refresh"),
    pytest.param({"cache-control": "max-age=0"}, MIN_REFRESH, id="zero-max-age-not-below-min-refresh"),
    pytest.param({"cache-control": "max-age=100000"}, 600, id="long-max-age-does-not-lengthen-refresh"),
    pytest.param({"cache-control": "no-cache"}, 600, id="no-cache-configured-refresh"),
    pytest.param({"cache-control": "s-maxage=100"}, 600, id="s-maxage-ignored"),
    pytest.param({"cache-control": "max-age=-5"}, 600, id="negative-max-age-ignored"),
    pytest.param({"cache-control": "max-age=soon"}, 600, id="non-numeric-max-age-ignored"),
]


@pytest.mark.parametrize(("headers", "delay"), CACHE_CONTROL)
def test_cache_control_max_age_and_refresh_interval(headers: dict[str, str], delay: float) -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.jwks_headers = headers
        async with issuer_keys(fake) as keys:
            await keys.refresh()
            assert keys._next_delay() == delay

    asyncio.run(scenario())


# -- retry delays ------------------------------------------------------------------------

RETRIES = [
    pytest.param(1, RETRY_DELAYS[0], id="first-failure-retry-after-1s"),
    pytest.param(2, RETRY_DELAYS[1], id="second-failure-retry-after-2s"),
    pytest.param(3, RETRY_DELAYS[2], id="third-failure-retry-after-5s"),
    pytest.param(6, RETRY_DELAYS[5], id="sixth-failure-retry-after-60s"),
    pytest.param(10, RETRY_DELAYS[-1], id="many-failures-capped-at-last-delay"),
]


@pytest.mark.parametrize(("failures", "delay"), RETRIES)
def test_retry_delay_grows_with_consecutive_failures(failures: int, delay: float) -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[JWKS_URL] = answer(500)
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            delays = []
            for _ in range(failures):
                await keys.refresh()
                delays.append(keys._next_delay())
            assert delays[-1] == delay
            assert delays == sorted(delays), "delays never shrink while failures continue"
            assert max(delays) < CONFIG.refresh

    asyncio.run(scenario())


def test_retry_delays_values() -> None:
    assert RETRY_DELAYS == (1.0, 2.0, 5.0, 10.0, 30.0, 60.0)


def test_success_resets_the_retry_delay() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[JWKS_URL] = answer(500)
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            for _ in range(4):
                await keys.refresh()
            assert keys._next_delay() == RETRY_DELAYS[3]
            del fake.override[JWKS_URL]
            await keys.refresh()
            assert keys._next_delay() == CONFIG.refresh
            fake.override[JWKS_URL] = answer(500)
            await keys.refresh()
            assert keys._next_delay() == RETRY_DELAYS[0]

    asyncio.run(scenario())


# -- refresh for an unknown kid ---------------------------------------------------------


def test_unknown_kid_refresh_at_most_once_per_cooldown() -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        async with issuer_keys(fake, CONFIGURED_JWKS, clock) as keys:
            assert await keys.refresh_for_unknown_kid() is True
            assert fake.count(JWKS_URL) == 1
            assert await keys.refresh_for_unknown_kid() is False
            clock.now += UNKNOWN_KID_COOLDOWN - 0.1
            assert await keys.refresh_for_unknown_kid() is False
            assert fake.count(JWKS_URL) == 1
            clock.now += 0.1
            fake.jwks = {"keys": [JWK_1, JWK_2]}
            assert await keys.refresh_for_unknown_kid() is True
            assert fake.count(JWKS_URL) == 2
            assert set(keys.usable().by_kid) == {"k1", "k2"}

    asyncio.run(scenario())


def test_failed_unknown_kid_refresh_is_503_and_retried_after_the_backoff_not_hammered() -> None:
    async def scenario() -> None:
        fake, clock = FakeIssuer(), Clock(1000.0)
        fake.override[JWKS_URL] = answer(500)
        async with issuer_keys(fake, CONFIGURED_JWKS, clock) as keys:
            # The unknown kid may be a new key we cannot see: "retry later", not "sign in again".
            with pytest.raises(KeysUnavailable) as caught:
                await keys.refresh_for_unknown_kid()
            assert (caught.value.status, caught.value.retry_after) == (503, int(RETRY_DELAYS[0]))
            assert caught.value.message == "The issuer's keys could not be refreshed."
            assert keys.last_error == f"GET {JWKS_URL} answered 500"
            for _ in range(5):  # within the backoff: no fetch, and never "the kid was refreshed"
                with suppress(KeysUnavailable):
                    assert await keys.refresh_for_unknown_kid() is False
            assert fake.count(JWKS_URL) == 1, "a down issuer is not hammered by unknown kids"
            clock.now += RETRY_DELAYS[0]
            with pytest.raises(KeysUnavailable) as caught:
                await keys.refresh_for_unknown_kid()
            assert caught.value.retry_after == int(RETRY_DELAYS[1])
            assert fake.count(JWKS_URL) == 2
            # The issuer is back, with a rotated key: picked up after the backoff, not the full cooldown.
            del fake.override[JWKS_URL]
            fake.jwks = {"keys": [JWK_2]}
            clock.now += RETRY_DELAYS[1]
            assert await keys.refresh_for_unknown_kid() is True
            assert set(keys.usable().by_kid) == {"k2"}

    asyncio.run(scenario())


def test_concurrent_unknown_kid_callers_share_one_fetch() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.delay = 0.02
        fake.jwks = {"keys": [JWK_1, JWK_2]}
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            results = await asyncio.gather(*(keys.refresh_for_unknown_kid() for _ in range(20)))
            assert fake.count(JWKS_URL) == 1
            # Every caller waited for that fetch, so every one can now find the new kid.
            assert results == [True] * 20
            assert "k2" in keys.usable().by_kid

    asyncio.run(scenario())


def test_concurrent_callers_with_discovery_share_one_discovery_and_one_jwks_fetch() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.delay = 0.01
        async with issuer_keys(fake) as keys:
            await asyncio.gather(*(keys.refresh_for_unknown_kid() for _ in range(20)), keys.refresh(), keys.refresh())
            assert fake.calls == [DISCOVERY_URL, JWKS_URL]

    asyncio.run(scenario())


def test_unknown_kid_joins_a_scheduled_refresh_under_way() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.delay = 0.02
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            scheduled = asyncio.create_task(keys.refresh())
            await asyncio.sleep(0)  # the scheduled fetch is under way
            assert await keys.refresh_for_unknown_kid() is True
            await scheduled
            assert fake.count(JWKS_URL) == 1

    asyncio.run(scenario())


def test_slow_fetch_unknown_kid_gives_up_after_the_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(key_store, "UNKNOWN_KID_WAIT", 0.05)

    async def scenario() -> None:
        fake = FakeIssuer()
        fake.gate = asyncio.Event()
        async with issuer_keys(fake, CONFIGURED_JWKS) as keys:
            loop = asyncio.get_running_loop()
            started = loop.time()
            for _ in range(2):  # the second caller joins the same slow fetch and gives up too
                with pytest.raises(KeysUnavailable) as caught:
                    await keys.refresh_for_unknown_kid()
                assert (caught.value.status, caught.value.retry_after) == (503, 1)
            assert loop.time() - started < 1.0
            assert keys.keys is None
            # Giving up does not cancel the fetch: it completes and its keys are kept.
            fake.gate.set()
            await keys.refresh()
            assert fake.count(JWKS_URL) == 1
            assert set(keys.usable().by_kid) == {"k1"}

    asyncio.run(scenario())


# -- KeyStore ----------------------------------------------------------------------------

OTHER = "https://other.example.com"


def test_key_store_not_ready_until_each_issuer_has_keys() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        fake.override[OTHER + "/.well-known/openid-configuration"] = raises(httpx.ConnectError)
        other = IssuerConfig(issuer=OTHER, audiences=(AUDIENCE,))
        store = KeyStore((CONFIG, other), transport=httpx.MockTransport(fake))
        try:
            assert set(problems([store.status()])) == {ISSUER, OTHER}
            for keys in store.issuers.values():
                await keys.refresh()
            assert problems([store.status()]) == {
                OTHER: "The issuer's keys could not be fetched yet. Last error: "
                f"GET {OTHER}/.well-known/openid-configuration failed: ConnectError"
            }
            assert store.stats.by_result == {"ok": 1, "network_error": 1}
            assert store.issuers[ISSUER].usable() is store.issuers[ISSUER].keys
        finally:
            await store.close()

    asyncio.run(scenario())


def test_key_store_start_fetches_in_background_and_close_stops() -> None:
    async def scenario() -> None:
        fake = FakeIssuer()
        store = KeyStore((CONFIG,), transport=httpx.MockTransport(fake))
        store.start()
        try:
            for _ in range(200):
                if not problems([store.status()]):
                    break
                await asyncio.sleep(0.005)
            assert problems([store.status()]) == {}
        finally:
            await store.close()
        assert all(task.done() for task in store._tasks.values())
        assert fake.calls == [DISCOVERY_URL, JWKS_URL]

    asyncio.run(scenario())
