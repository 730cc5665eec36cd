"""SIGHUP reloads against real `authcheck serve --workers 2` processes and a real JWKS server."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import yaml
from support.configs import service_config
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint
from support.wait import wait_until

from authcheck.config.file import load_config
from authcheck.service.app import VerifyRouter, create_app
from authcheck.service.reload import hold_sighup_until_running

Start = Callable[..., AuthcheckProcess]
WORKERS = ("--workers", "2")


def start_workers(start_service: Start, config: dict[str, Any]) -> AuthcheckProcess:
    """`serve --workers 2`, once both workers run (each logs its first key fetch): /readyz
    reaches only one of them."""
    service = start_service(config, extra_args=WORKERS)
    wait_until(lambda: len(service.events("jwks_fetched")) >= 2)
    return service


def every_worker_answers(service: AuthcheckProcess, status: int, token: str) -> bool:
    """40 fresh connections in a row get `status`: the kernel spreads them over both workers."""
    headers = {"X-Forwarded-Method": "GET", "X-Forwarded-Uri": "/orders/1", "Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=service.url, limits=httpx.Limits(max_keepalive_connections=0), timeout=10) as client:
        return all(client.get("/verify", headers=headers).status_code == status for _ in range(40))


def reloads_counted(service: AuthcheckProcess, result: str) -> float:
    """authcheck_config_reloads_total{result=...} as /metrics reports it (0 when absent)."""
    prefix = f'authcheck_config_reloads_total{{result="{result}"}} '
    lines = [line for line in httpx.get(service.url + "/metrics").text.splitlines() if line.startswith(prefix)]
    return float(lines[0].removeprefix(prefix)) if lines else 0.0


def with_orders_scope(config: dict[str, Any], scope: str) -> dict[str, Any]:
    for rule in config["rules"]:
        if rule["name"] == "orders-read":
            rule["scopes"] = [scope]
    return config


def test_changed_rule_reaches_every_worker(start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    service = start_workers(start_service, service_config(jwks.issuer))
    reader = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    assert every_worker_answers(service, 200, reader)
    service.reload(with_orders_scope(service_config(jwks.issuer), "write:orders"))
    wait_until(lambda: len(service.events("config_reloaded")) == 2)  # one line per worker
    assert every_worker_answers(service, 403, reader)
    writer = mint(keys["ES384"], jwks.issuer, scope="write:orders")
    assert every_worker_answers(service, 200, writer)


def test_bad_file_keeps_the_running_config_and_counts_a_failure(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    service = start_workers(start_service, service_config(jwks.issuer))
    reader = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    broken = service_config(jwks.issuer)
    broken["rules"][2]["scopes"] = "read:orders write"  # a string, and with a space
    broken["defualt"] = "deny"
    service.reload(broken)
    wait_until(lambda: len(service.events("config_reload_failed")) == 2)
    failure = service.events("config_reload_failed")[0]
    assert any("defualt" in problem and 'did you mean "default"' in problem for problem in failure["problems"])
    assert every_worker_answers(service, 200, reader)
    assert reloads_counted(service, "failure") == 2  # /metrics sums both workers
    assert reloads_counted(service, "success") == 0
    # A good file after a bad one applies.
    service.reload(with_orders_scope(service_config(jwks.issuer), "write:orders"))
    wait_until(lambda: len(service.events("config_reloaded")) == 2)
    assert every_worker_answers(service, 403, reader)
    assert reloads_counted(service, "success") == 2


def test_verified_tokens_of_unchanged_issuers_stay_cached(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    service = start_workers(start_service, service_config(jwks.issuer))
    tokens = [mint(keys["ES384"], jwks.issuer, sub=f"user-{n}") for n in range(5)]
    for token in tokens:
        assert service.verify(token=token).status_code == 200  # each verified (and cached) by one worker
    jwks.mode = "error"  # from now on no key can be fetched
    fetches = jwks.jwks_fetches
    service.reload(with_orders_scope(service_config(jwks.issuer), "profile"))
    wait_until(lambda: len(service.events("config_reloaded")) == 2)
    reloaded = service.events("config_reloaded")
    assert sum(line["verified_tokens_kept"] for line in reloaded) == len(tokens)
    assert all(line["issuers_kept"] == [jwks.issuer] for line in reloaded)
    assert all(service.verify(token=token).status_code == 200 for token in tokens for _ in range(4))
    assert jwks.jwks_fetches == fetches  # the kept issuer's keys were not fetched again

    # Changing the issuer's settings drops its tokens, and its keys must be fetched anew.
    service.reload(service_config(jwks.issuer, leeway=10))
    wait_until(lambda: len(service.events("config_reloaded")) == 4)
    changed = service.events("config_reloaded")[2:]
    assert all(line["verified_tokens_kept"] == 0 and line["issuers_changed"] == [jwks.issuer] for line in changed)
    assert service.verify(token=tokens[0]).status_code == 503  # no keys for the new settings yet
    jwks.mode = "ok"
    wait_until(lambda: every_worker_answers(service, 200, tokens[0]), timeout=30)


def test_reload_drops_no_connection(start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    service = start_workers(start_service, service_config(jwks.issuer))
    reader = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    with socket.create_connection(("127.0.0.1", service.port), timeout=10) as connection:
        assert keep_alive_request(connection, reader).startswith(b"HTTP/1.1 200")
        service.reload(with_orders_scope(service_config(jwks.issuer), "write:orders"))
        wait_until(lambda: len(service.events("config_reloaded")) == 2)
        assert keep_alive_request(connection, reader).startswith(b"HTTP/1.1 403")  # same connection, new rules


def keep_alive_request(connection: socket.socket, token: str) -> bytes:
    connection.sendall(
        b"GET /verify HTTP/1.1\r\nHost: authcheck\r\nX-Forwarded-Method: GET\r\nX-Forwarded-Uri: /orders/1\r\n"
        + f"Authorization: Bearer {token}\r\n\r\n".encode()
    )
    answer = b""
    while b"\r\n\r\n" not in answer:
        chunk = connection.recv(65536)
        assert chunk, "the connection was closed"
        answer += chunk
    head, _, body = answer.partition(b"\r\n\r\n")
    length = next(
        int(line.split(b":")[1]) for line in head.split(b"\r\n") if line.lower().startswith(b"content-length")
    )
    while len(body) < length:
        body += connection.recv(65536)
    return head


def test_single_worker_reloads_too(start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    service = start_service(service_config(jwks.issuer))
    reader = mint(keys["ES384"], jwks.issuer, scope="read:orders")
    assert service.verify(token=reader).status_code == 200
    service.reload(with_orders_scope(service_config(jwks.issuer), "write:orders"))
    wait_until(lambda: len(service.events("config_reloaded")) == 1)
    assert service.verify(token=reader).status_code == 403


def test_sighup_while_a_worker_starts_is_applied_once_it_runs(tmp_path: Path) -> None:
    """A worker that gets SIGHUP before its app runs (the supervisor forwards it to every
    worker, started or not) neither dies nor loses it: it reloads as soon as it runs."""
    path = tmp_path / "authcheck.yaml"
    issuer = "http://127.0.0.1:9/oidc"  # nothing listens: key fetches fail, which is fine here
    path.write_text(yaml.safe_dump(service_config(issuer)))
    previous = signal.getsignal(signal.SIGHUP)
    try:
        hold_sighup_until_running()
        app = create_app(load_config(path), config_path=str(path))
        path.write_text(yaml.safe_dump(with_orders_scope(service_config(issuer), "write:orders")))
        os.kill(os.getpid(), signal.SIGHUP)  # remembered, not fatal
        assert isinstance(app, VerifyRouter)
        assert app.service.config.rules[2].scopes == ("read:orders",)
        asyncio.run(run_lifespan(app))
        assert app.service.config.rules[2].scopes == ("write:orders",)
    finally:
        signal.signal(signal.SIGHUP, previous)


async def run_lifespan(app: VerifyRouter) -> None:
    """Start the app as uvicorn does (ASGI lifespan), then stop it."""
    inbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    outbox: asyncio.Queue[dict[str, str]] = asyncio.Queue()
    await inbox.put({"type": "lifespan.startup"})
    task = asyncio.create_task(app({"type": "lifespan", "asgi": {"version": "3.0"}}, inbox.get, outbox.put))  # type: ignore[arg-type]
    assert (await outbox.get())["type"] == "lifespan.startup.complete"
    await inbox.put({"type": "lifespan.shutdown"})
    assert (await outbox.get())["type"] == "lifespan.shutdown.complete"
    await task
