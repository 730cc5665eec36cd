"""The service's middle, in-process: `create_app` driven through httpx's ASGITransport with
its lifespan running, keys served by an httpx.MockTransport (no socket), and one injected
clock for token caching and key ages, so time moves by assignment instead of by sleeping.

The real-process tests (test_service_answers.py, test_service_keys.py) cover the same
service over HTTP; these reach what they cannot: the clock, an internal error, the log.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from asgi_lifespan import LifespanManager
from support.configs import service_config
from support.log_lines import capture_json_lines
from support.metrics import value
from support.service import DECISION_FIELDS
from support.tokens import SigningKey, mint, new_key

from authcheck.config.file import parse_config
from authcheck.service.app import DecisionLog, VerifyRouter, create_app

ISSUER = "https://issuer.example.com/oidc"
KEY_A, KEY_B, KEY_C = new_key("ES256", kid="k1"), new_key("ES256", kid="k1"), new_key("ES256", kid="k2")


class Clock:
    """The one clock the app reads: starts at the real time, moves only when told."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class KeyServer:
    """Discovery and JWKS, answered in-process through httpx.MockTransport."""

    def __init__(self, issuer: str, keys: list[SigningKey]) -> None:
        self.issuer, self.keys = issuer, keys

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path.endswith("/.well-known/openid-configuration"):
            return httpx.Response(200, json={"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"})
        if request.url.path.endswith("/jwks"):
            return httpx.Response(200, json={"keys": [key.public_jwk for key in self.keys]})
        return httpx.Response(404)


class Harness:
    def __init__(self, app: VerifyRouter, client: httpx.AsyncClient, clock: Clock, keys: KeyServer) -> None:
        self.app, self.client, self.clock, self.keys = app, client, clock, keys

    async def verify(self, token: str | None = None, uri: str = "/orders/1") -> httpx.Response:
        headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": uri, "X-Request-Id": "req-1"}
        if token is not None:
            headers["Authorization"] = f"Bearer {token}"
        return await self.client.get("/verify", headers=headers)

    async def refresh_keys(self) -> None:
        """What the schedule or an unknown kid would do, now."""
        await self.app.service.key_store.issuers[self.keys.issuer].refresh()


@pytest.fixture
def log() -> Callable[[], list[dict[str, Any]]]:
    """Every JSON line the service logged during the test, parsed."""
    return capture_json_lines()


@asynccontextmanager
async def running(decision_log: DecisionLog = "all", issuer: str = ISSUER, **config: Any) -> AsyncIterator[Harness]:
    clock, keys = Clock(), KeyServer(issuer, [KEY_A])
    app = create_app(
        parse_config({**service_config(issuer), **config}),
        transport=httpx.MockTransport(keys),
        decision_log=decision_log,
        clock=clock,
    )
    async with (
        LifespanManager(app) as manager,
        httpx.AsyncClient(transport=httpx.ASGITransport(app=manager.app), base_url="http://authcheck") as client,
    ):
        harness = Harness(app, client, clock, keys)
        await until(lambda: _ready(client))
        yield harness


async def _ready(client: httpx.AsyncClient) -> bool:
    return (await client.get("/readyz")).status_code == 200


async def until(condition: Callable[[], Awaitable[bool]], timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        assert time.monotonic() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


def run(scenario: Callable[[], Coroutine[Any, Any, None]]) -> None:
    asyncio.run(scenario())


def test_refused_token_is_remembered_for_30_seconds() -> None:
    async def scenario() -> None:
        async with running() as service:
            token = mint(KEY_B, ISSUER)  # kid k1, but the issuer publishes another key as k1
            assert (await service.verify(token)).status_code == 401
            service.keys.keys = [KEY_B, KEY_C]  # the issuer now publishes the key that signed it
            await service.refresh_keys()
            service.clock.now += 29
            assert (await service.verify(token)).status_code == 401  # the refusal, remembered
            service.clock.now += 2
            assert (await service.verify(token)).status_code == 200  # forgotten: checked again

    run(scenario)


def test_verified_token_is_cached_no_longer_than_max_ttl() -> None:
    async def scenario() -> None:
        async with running(cache={"max_ttl": 60}) as service:
            token = mint(KEY_A, ISSUER)  # valid for 10 minutes
            assert (await service.verify(token)).status_code == 200
            service.keys.keys = [KEY_B]  # same kid k1, other key: checking it again would fail
            await service.refresh_keys()
            service.clock.now += 59
            assert (await service.verify(token)).status_code == 200  # from the cache
            service.clock.now += 2
            answer = await service.verify(token)
            assert answer.status_code == 401  # max_ttl passed: checked again, against the new key
            assert "signature" in answer.headers["www-authenticate"]

    run(scenario)


def test_internal_error_is_503_and_logged(log: Callable[[], list[dict[str, Any]]]) -> None:
    class Broken:
        """Whatever the service asks of the decision fails: a bug, injected."""

        def __getattr__(self, name: str) -> Any:
            def fail(*_: object) -> Any:
                raise RuntimeError("injected bug")

            return fail

    async def scenario() -> None:
        async with running() as service:
            service.app.service.gate = Broken()  # type: ignore[assignment]
            answer = await service.verify(mint(KEY_A, ISSUER))
            assert answer.status_code == 503
            assert answer.json()["code"] == "auth.internal_error"
            assert int(answer.headers["retry-after"]) > 0
            assert "injected" not in answer.text

    run(scenario)
    error = next(line for line in log() if line["event"] == "internal_error")
    assert "RuntimeError: injected bug" in error["exception"]
    decision = next(line for line in log() if line["event"] == "decision")
    assert decision["status"] == 503 and decision["code"] == "auth.internal_error"


@pytest.mark.parametrize(
    ("mode", "logged"),
    [("all", ["allow", "deny"]), ("denials", ["deny"]), ("off", [])],
)
def test_decision_log_modes_and_exact_fields(
    log: Callable[[], list[dict[str, Any]]], mode: DecisionLog, logged: list[str]
) -> None:
    token = mint(KEY_A, ISSUER, sub="alice")

    async def scenario() -> None:
        async with running(mode) as service:
            assert (await service.verify(token)).status_code == 200
            assert (await service.verify()).status_code == 401

    run(scenario)
    decisions = [line for line in log() if line["event"] == "decision"]
    assert [line["decision"] for line in decisions] == logged
    for line in decisions:
        assert set(line) == DECISION_FIELDS
        assert line["request_id"] == "req-1" and line["path"] == "/orders/1" and 0 <= line["latency"] < 1
        assert token not in json.dumps(line)
    if mode == "all":
        assert (
            decisions[0]["sub"] == "alice" and decisions[0]["iss"] == ISSUER and decisions[0]["rule"] == "orders-read"
        )


def test_metrics_count_decisions_fetches_and_key_age() -> None:
    async def scenario() -> None:
        async with running() as service:
            token = mint(KEY_A, ISSUER)
            for _ in range(3):
                assert (await service.verify(token)).status_code == 200
            for _ in range(2):
                assert (await service.verify()).status_code == 401
            service.clock.now += 100
            metrics = (await service.client.get("/metrics")).text
            assert value(metrics, "authcheck_decisions_total", status="200", code="ok") == 3
            code = "auth.authorization_header_missing"
            assert value(metrics, "authcheck_decisions_total", status="401", code=code) == 2
            assert value(metrics, "authcheck_decision_seconds_count") == 5
            assert value(metrics, "authcheck_jwks_fetches_total", result="ok") == 1
            age = value(metrics, "authcheck_jwks_age_seconds", issuer=ISSUER)
            assert age is not None and 100 <= age < 101

    run(scenario)


def test_readyz_turns_503_once_keys_are_too_old() -> None:
    async def scenario() -> None:
        async with running(issuers=[{"issuer": ISSUER, "audiences": ["x"], "refresh": 600, "max_stale": 3600}]) as s:
            s.clock.now += 600 + 3600 - 1  # due for refresh after 600 s, then usable for 3600 s more
            assert (await s.client.get("/readyz")).status_code == 200
            s.clock.now += 2
            answer = await s.client.get("/readyz")
            assert answer.status_code == 503
            assert "too old" in answer.json()["issuers"][ISSUER]

    run(scenario)


def test_insecure_issuer_warning_reads_the_host(log: Callable[[], list[dict[str, Any]]]) -> None:
    issuers = [
        "http://localhost.evil.example/oidc",
        "http://10.0.0.1/oidc",
        "http://localhost:8080/oidc",
        "http://127.3.2.1/oidc",
        "http://[::1]:9000/oidc",
        "https://tenant.logto.app/oidc",
    ]

    async def scenario() -> None:
        config = parse_config(
            {**service_config(ISSUER), "issuers": [{"issuer": i, "audiences": ["x"]} for i in issuers]}
        )
        app = create_app(config, transport=httpx.MockTransport(lambda _: httpx.Response(503)))
        async with LifespanManager(app):
            pass

    run(scenario)
    warned = [line["iss"] for line in log() if line["event"] == "insecure_issuer"]
    assert warned == ["http://localhost.evil.example/oidc", "http://10.0.0.1/oidc"]
