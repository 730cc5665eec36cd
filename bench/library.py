"""Library mode's cost inside a web app (issue 9, speed): each row against its baseline,
same server, same request, one repeated ES384 token.

  Flask + @requires_auth (authcheck.flask)      vs the same Flask app without it   (gunicorn)
  Starlette + AuthcheckMiddleware               vs the same Starlette app without it (uvicorn)
  Flask + authcheck's decorator                 vs the Logto guide's python-jose decorator
                                                   (the JWKS fetched on every request, as the guide does)

Servers run on core 1, wrk on core 0; `--rounds` interleaved runs of `--seconds` each,
medians shown. The server's CPU time per request is shown too: on a shared machine it
moves far less than requests/s. Needs wrk and the `bench` extra (pip install -e '.[bench]').
Usage: .venv/bin/python bench/library.py [--seconds 3] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
from pathlib import Path

from bench import AUDIENCE, REPO, SERVER_CORE, Issuer, Run, Server, _cpu_seconds, _descendants, free_port, wrk

# name -> (BENCH_APP, server)
APPS = {
    "flask-bare": "gunicorn",
    "flask-authcheck": "gunicorn",
    "flask-guide": "gunicorn",
    "starlette-bare": "uvicorn",
    "starlette-authcheck": "uvicorn",
}
RATIOS = (
    ("Flask: @requires_auth / no check", "flask-authcheck", "flask-bare"),
    ("Starlette: AuthcheckMiddleware / no check", "starlette-authcheck", "starlette-bare"),
    ("Flask: authcheck's decorator / the guide's python-jose decorator", "flask-authcheck", "flask-guide"),
)


def start(kind: str, workdir: Path, issuer: Issuer, config: Path) -> tuple[Server, int]:
    port = free_port()
    if APPS[kind] == "gunicorn":  # one worker process, threads as Flask apps usually run
        command = [sys.executable, "-m", "gunicorn", "--bind", f"127.0.0.1:{port}", "--workers", "1"]
        command += ["--worker-class", "gthread", "--threads", "8", "--chdir", str(REPO / "bench"), "library_apps:app"]
    else:
        command = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), "--no-access-log"]
        command += ["--loop", "uvloop", "--http", "httptools", "--app-dir", str(REPO / "bench"), "library_apps:app"]
    env = f"BENCH_APP={kind} AUTHCHECK_CONFIG={config} BENCH_ISSUER={issuer.issuer} BENCH_AUDIENCE={AUDIENCE}"
    command = ["env", *env.split(), f"PYTHONPATH={REPO}", *command]
    return Server(kind, command, workdir / f"{kind}.log", f"http://127.0.0.1:{port}/healthz", SERVER_CORE), port


def server_cpu(server: Server) -> float:
    """CPU seconds used so far by the server and its worker processes."""
    pid = server.process.pid
    return sum(_cpu_seconds(p) for p in [pid, *_descendants(pid)])


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--connections", type=int, default=16)
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="authcheck-library-bench-"))
    issuer = Issuer()
    config = workdir / "authcheck.yaml"
    config.write_text(
        json.dumps(
            {
                "issuers": [{"issuer": issuer.issuer, "audiences": [AUDIENCE]}],
                "rules": [
                    {"name": "health", "match": {"paths": ["/healthz"]}, "allow": "anonymous"},
                    {
                        "name": "orders",
                        "match": {"paths": ["/orders/**"], "methods": ["GET"]},
                        "scopes": ["read:orders"],
                    },
                ],
            }
        )
    )
    tokens = workdir / "token.txt"
    tokens.write_text(issuer.mint("ES384", 1)[0] + "\n")
    runs: dict[str, list[Run]] = {kind: [] for kind in APPS}
    cpu: dict[str, list[float]] = {kind: [] for kind in APPS}  # server CPU microseconds per request
    for round_number in range(args.rounds):
        order = list(APPS) if round_number % 2 == 0 else list(reversed(APPS))  # no app always goes first
        for kind in order:
            server, port = start(kind, workdir, issuer, config)
            try:
                wrk(port, tokens, 1, "/orders/42", verify_headers=False, connections=args.connections)  # warm-up
                before = server_cpu(server)
                run = wrk(port, tokens, args.seconds, "/orders/42", verify_headers=False, connections=args.connections)
                cpu[kind].append((server_cpu(server) - before) / run.requests * 1e6)
            finally:
                server.stop()
            if run.non_2xx or run.errors:
                raise RuntimeError(f"{kind}: {run.non_2xx} non-2xx answers, {run.errors} errors; see {workdir}")
            runs[kind].append(run)
    print(f"{'app':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'CPU us/req':>12}")
    rps = {kind: statistics.median(r.rps for r in found) for kind, found in runs.items()}
    cpu_per_request = {kind: statistics.median(found) for kind, found in cpu.items()}
    for kind, found in runs.items():
        p50 = statistics.median(r.p50_ms for r in found)
        p99 = statistics.median(r.p99_ms for r in found)
        print(f"{kind:<22}{rps[kind]:>10.0f}{p50:>10.2f}{p99:>10.2f}{cpu_per_request[kind]:>12.0f}")
    print()
    for label, kind, baseline in RATIOS:
        extra = cpu_per_request[kind] - cpu_per_request[baseline]
        print(f"{label}: {rps[kind] / rps[baseline]:.2f}x the requests/s, {extra:+.0f} us CPU per request")
    print(f"load average at the end: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores (other load skews ratios)")
    print(f"\n(JWKS fetches by the guide's decorator and authcheck together: {issuer.jwks_fetches}; logs in {workdir})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
