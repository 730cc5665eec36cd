"""What authcheck's own code costs per request, without HTTP: the numbers behind
docs/performance.md's "Why the numbers are what they are".

    .venv/bin/python bench/inprocess.py            # ~1 min, on core 1

- The /verify handler (`VerifyRouter` over a real `Service`; keys from an in-memory JWKS
  transport; `send` does nothing) called 20,000 times per case: a cached token with the
  decision log off and on (stdout a pipe to a reader, as under a container runtime) and a
  garbage token. CPU of every thread of this process per call, so the log writer counts.
- A new token's decision against its signature check alone, per algorithm: what authcheck
  adds to each token it has not seen.

No uvicorn, kernel or load generator: this is the part of a request that is authcheck's
code, and it varies less on a shared machine than the server rows do.
"""

from __future__ import annotations

import asyncio
import os
import secrets
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from authcheck.config.file import parse_config
from authcheck.service.app import DecisionLog, Service, VerifyRouter
from authcheck.service.logs import configure_logging, flush_logs

ISSUER = "https://issuer.example/oidc"
AUDIENCE = "https://api.example.com"
CALLS = 20_000
NEW_TOKENS = {"ES384": 400, "ES256": 1500, "RS256": 1500}


def config() -> Any:
    return parse_config(
        {
            "issuers": [{"issuer": ISSUER, "audiences": [AUDIENCE], "jwks_uri": ISSUER + "/jwks"}],
            "rules": [{"name": "orders-read", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]}],
            "ingress": "nginx",
            "cache": {"max_entries": 1000},
        },
        "bench",
    )


def new_key(alg: str) -> Any:
    if alg == "RS256":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return ec.generate_private_key(ec.SECP384R1() if alg == "ES384" else ec.SECP256R1())


def mint(key: Any, alg: str, count: int) -> list[str]:
    now = int(time.time())
    claims = {"iss": ISSUER, "aud": AUDIENCE, "client_id": "bench", "scope": "read:orders", "iat": now}
    return [
        jwt.encode({**claims, "sub": f"user-{i}", "exp": now + 3600}, key, algorithm=alg, headers={"kid": "k"})
        for i in range(count)
    ]


def jwks(key: Any, alg: str) -> dict[str, Any]:
    codec = RSAAlgorithm if alg == "RS256" else ECAlgorithm
    return {"keys": [{**codec.to_jwk(key.public_key(), as_dict=True), "kid": "k", "alg": alg, "use": "sig"}]}


def scope(token: str) -> dict[str, Any]:
    """The /verify request nginx sends for GET shop.example.com/orders/42."""
    headers = [
        (b"host", b"127.0.0.1:8080"),
        (b"authorization", f"Bearer {token}".encode()),
        (b"x-forwarded-method", b"GET"),
        (b"x-forwarded-uri", b"/orders/42"),
        (b"x-forwarded-host", b"shop.example.com"),
    ]
    return {"type": "http", "method": "GET", "path": "/verify", "raw_path": b"/verify", "headers": headers}


async def handler_cpu(decision_log: DecisionLog, tokens: list[str], key_set: dict[str, Any]) -> float:
    """CPU µs per /verify call, every thread of this process counted."""
    service = Service(config(), httpx.MockTransport(lambda _: httpx.Response(200, json=key_set)), decision_log)
    await service.key_store.issuers[ISSUER].refresh()

    async def elsewhere(*_: Any) -> None:
        raise AssertionError("every request here is /verify")

    async def receive() -> dict[str, Any]:
        raise AssertionError("/verify never reads the body")

    async def send(_: Any) -> None:
        pass

    router = VerifyRouter(elsewhere, service)

    scopes = [scope(token) for token in tokens]
    for request in scopes[:100]:
        await router(request, receive, send)  # warm: the memo of the original request, the cache
    started = time.process_time()
    for i in range(CALLS):
        await router(scopes[i % len(scopes)], receive, send)
        if i % 16 == 0:
            await asyncio.sleep(0)  # let go of the GIL now and then, as an event loop does between requests
    flush_logs()
    used = time.process_time() - started
    await service.key_store.close()
    return used / CALLS * 1e6


def garbage_like(token: str, count: int) -> list[str]:
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    parts = [len(part) for part in token.split(".")]
    return [".".join("".join(secrets.choice(alphabet) for _ in range(n)) for n in parts) for _ in range(count)]


def new_token_cost(alg: str) -> tuple[float, float]:
    """(µs per decision on a token not seen before, µs for its signature check alone)."""
    key = new_key(alg)
    count = NEW_TOKENS[alg]
    tokens = mint(key, alg, count)
    service = Service(config(), httpx.MockTransport(lambda _: httpx.Response(200, json=jwks(key, alg))), "off")
    asyncio.run(service.key_store.issuers[ISSUER].refresh())
    forwarded = {"x-forwarded-method": ["GET"], "x-forwarded-uri": ["/orders/42"], "x-forwarded-host": ["shop.test"]}
    raw = ("GET", b"/verify", *(value for values in forwarded.values() for value in values))
    headers = [{"authorization": [f"Bearer {t}"], **forwarded} for t in tokens]
    started = time.process_time()
    for sent in headers:
        assert service.gate.decide(sent, "GET", None, raw_headers=raw).status == 200
    decision = (time.process_time() - started) / count
    algorithm = jwt.get_algorithm_by_name(alg)
    public = algorithm.prepare_key(key.public_key())
    parts = [t.encode().rpartition(b".") for t in tokens]
    signatures = [(signing_input, jwt.utils.base64url_decode(sig)) for signing_input, _, sig in parts]
    started = time.process_time()
    for signing_input, signature in signatures:
        algorithm.verify(signing_input, public, signature)
    return decision * 1e6, (time.process_time() - started) / count * 1e6


def main() -> int:
    os.sched_setaffinity(0, {1})  # the server core of bench/run; the log reader below runs elsewhere
    reader = subprocess.Popen(["taskset", "-c", "0", "cat"], stdin=subprocess.PIPE, stdout=subprocess.DEVNULL)
    assert reader.stdin is not None
    configure_logging("info", "json", reader.stdin)  # type: ignore[arg-type]  # a BufferedWriter
    key = new_key("ES384")
    [token] = mint(key, "ES384", 1)
    key_set = jwks(key, "ES384")
    print("/verify handler, CPU per call (median of 3):")
    cases: tuple[tuple[str, DecisionLog, list[str]], ...] = (
        ("cached token, --decision-log off", "off", [token]),
        ("cached token, --decision-log all", "all", [token]),
        ("garbage token (401), --decision-log off", "off", garbage_like(token, 10_000)),
    )
    for label, log, tokens in cases:
        runs = [asyncio.run(handler_cpu(log, tokens, key_set)) for _ in range(3)]
        print(f"  {label:42} {statistics.median(runs):6.1f} µs")
    print("a token not seen before: its decision, its signature check alone, the rest (authcheck's own):")
    for alg in NEW_TOKENS:
        decision, signature = new_token_cost(alg)
        print(f"  {alg}: {decision:6.0f} µs, {signature:6.0f} µs, {decision - signature:5.1f} µs")
    reader.stdin.close()
    reader.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
