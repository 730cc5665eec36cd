"""Soak: mixed traffic from 64 keep-alive connections for a set time, every answer checked.

    .venv/bin/python bench/soak.py --seconds 600      # the documented 10-minute run
    .venv/bin/python bench/soak.py --seconds 10       # the CI slice (tests/test_soak.py)

Starts a JWKS issuer and `authcheck serve` (default settings: every decision logged) on
loopback, then sends, round-robin, a repeated valid token, distinct valid tokens from a
fixed pool (so the verified-token cache fills, then holds), no token, a token without the
scope, an expired token, garbage, and an anonymous path, each with the one status it must
get. Prints one JSON document: throughput, p50/p99, wrong answers, 5xx, and the server's
RSS and open file descriptors at each quarter of the run. Exits 1 when an answer was wrong,
any 5xx came back, or file descriptors or memory kept growing after the first half.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import jwt

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench import AUDIENCE, Issuer, Server, _rss_kb, free_port

CONNECTIONS = 64
DISTINCT = 2000
RSS_GROWTH_LIMIT = 1.10  # end vs half-way, once the caches are full


def tokens(issuer: Issuer) -> list[tuple[bytes, int]]:
    """(request bytes, expected status), one round of the mix."""
    key, now = issuer.keys["ES256"], int(time.time())
    base = {"iss": issuer.issuer, "aud": AUDIENCE, "iat": now, "exp": now + 7200, "scope": "read:orders"}

    def token(i: int, **claims: object) -> str:
        return jwt.encode({**base, "sub": f"user-{i}", **claims}, key, algorithm="ES256", headers={"kid": "es256"})

    def request(path: str, authorization: str | None) -> bytes:
        lines = ["GET /verify HTTP/1.1", "Host: authcheck", "X-Forwarded-Method: GET", f"X-Forwarded-Uri: {path}"]
        if authorization:
            lines.append(f"Authorization: {authorization}")
        return ("\r\n".join(lines) + "\r\n\r\n").encode()

    repeated = token(0)
    distinct = [token(i) for i in range(1, DISTINCT + 1)]
    mix = [
        (request("/orders/1", f"Bearer {repeated}"), 200),
        (request("/orders/1", None), 401),
        (request("/orders/1", f"Bearer {token(0, scope='profile')}"), 403),
        (request("/orders/1", f"Bearer {token(0, iat=now - 7200, exp=now - 3600)}"), 401),
        (request("/orders/1", "Bearer not.a.jwt"), 401),
        (request("/public/x", None), 200),
    ]
    rounds = []
    for i, valid in enumerate(distinct):
        rounds.append((request("/orders/1", f"Bearer {valid}"), 200))
        rounds.append(mix[i % len(mix)])
    return rounds


async def connection(
    port: int, requests: list[tuple[bytes, int]], offset: int, deadline: float, out: dict[str, Any]
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    i = offset
    try:
        while time.monotonic() < deadline:
            payload, expected = requests[i % len(requests)]
            i += 1
            started = time.perf_counter()
            writer.write(payload)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.partition(b":")
                if name.lower() == b"content-length":
                    length = int(value)
            if length:
                await reader.readexactly(length)
            out["latencies"].append(time.perf_counter() - started)
            status = int(status_line.split()[1])
            out["count"] += 1
            if status >= 500:
                out["5xx"] += 1
            elif status != expected:
                out["wrong"] += 1
    finally:
        writer.close()


def open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


async def drive(server: Server, port: int, requests: list[tuple[bytes, int]], seconds: float) -> dict[str, Any]:
    out: dict[str, Any] = {"count": 0, "wrong": 0, "5xx": 0, "latencies": []}
    started = time.monotonic()
    deadline = started + seconds
    step = len(requests) // CONNECTIONS
    load = [asyncio.create_task(connection(port, requests, n * step, deadline, out)) for n in range(CONNECTIONS)]
    samples = []
    for quarter in (1, 2, 3, 4):
        await asyncio.sleep(max(0.0, started + seconds * quarter / 4 - time.monotonic() - 0.05))
        pid = server.process.pid
        samples.append(
            {
                "at_s": round(time.monotonic() - started, 1),
                "rss_mb": round(_rss_kb(pid) / 1024, 1),
                "open_fds": open_fds(pid),
            }
        )
    await asyncio.gather(*load)
    out["samples"] = samples
    out["elapsed"] = time.monotonic() - started
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()
    issuer = Issuer()
    requests = tokens(issuer)
    with tempfile.TemporaryDirectory() as workdir:
        config = Path(workdir) / "authcheck.yaml"
        config.write_text(
            json.dumps(
                {
                    "issuers": [{"issuer": issuer.issuer, "audiences": [AUDIENCE]}],
                    "rules": [
                        {"name": "public", "match": {"paths": ["/public/**"]}, "allow": "anonymous"},
                        {"name": "orders", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]},
                    ],
                    "ingress": "nginx",
                }
            )
        )
        port = free_port()
        command = [sys.executable, "-m", "authcheck", "serve", "--config", str(config), "--port", str(port)]
        server = Server("authcheck", command, Path(workdir) / "authcheck.log", f"http://127.0.0.1:{port}/readyz", "0-1")
        try:
            result = asyncio.run(drive(server, port, requests, args.seconds))
        finally:
            server.stop()
    latencies = sorted(result.pop("latencies"))
    samples = result["samples"]
    report = {
        "seconds": round(result["elapsed"], 1),
        "connections": CONNECTIONS,
        "requests": result["count"],
        "requests_per_second": round(result["count"] / result["elapsed"]),
        "p50_ms": round(statistics.median(latencies) * 1000, 2),
        "p99_ms": round(latencies[int(len(latencies) * 0.99)] * 1000, 2),
        "wrong_answers": result["wrong"],
        "5xx": result["5xx"],
        "samples": samples,
    }
    half, end = samples[1], samples[-1]
    report["fds_flat"] = end["open_fds"] <= half["open_fds"]
    report["rss_flat"] = end["rss_mb"] <= half["rss_mb"] * RSS_GROWTH_LIMIT
    print(json.dumps(report, indent=2))
    ok = not result["wrong"] and not result["5xx"] and report["fds_flat"] and report["rss_flat"]
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
