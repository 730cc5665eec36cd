"""`authcheck serve --grpc-port` as users run it: real processes, HTTP and gRPC side by side."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.auth.v3.attribute_context_pb2 import AttributeContext
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.configs import service_config
from support.jwks_server import JwksServer, free_port
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint

Start = Callable[..., AuthcheckProcess]


def check(port: int, token: str, connection: int) -> int:
    """One Check over a connection of its own (a separate subchannel pool per call), once the
    worker behind that connection has its keys (a worker that has just started may not yet)."""
    options = [("grpc.use_local_subchannel_pool", 1), ("grpc.primary_user_agent", f"test-{connection}")]
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=options) as channel:
        deadline = time.monotonic() + 15
        while health_of(channel) != health_pb2.HealthCheckResponse.SERVING:
            assert time.monotonic() < deadline, "the worker never had its keys"
            time.sleep(0.05)
        http = AttributeContext.HttpRequest(
            method="GET", path="/orders/1", headers={"authorization": f"Bearer {token}"}
        )
        request = CheckRequest(attributes=AttributeContext(request=AttributeContext.Request(http=http)))
        return int(external_auth_pb2_grpc.AuthorizationStub(channel).Check(request, timeout=10).status.code)


def health_of(channel: grpc.Channel) -> int:
    answer = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    return int(answer.status)


def health(port: int) -> int:
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        return health_of(channel)


def listeners(port: int) -> int:
    """How many sockets listen on 127.0.0.1:`port` (state 0A); gRPC binds IPv6 sockets with the
    IPv4-mapped address (::ffff:127.0.0.1), so /proc/net/tcp6 counts too."""
    wanted = f"0100007F:{port:04X}"
    lines = [
        line.split() for table in ("tcp", "tcp6") for line in Path(f"/proc/net/{table}").read_text().splitlines()[1:]
    ]
    return sum(1 for fields in lines if fields[1].endswith(wanted) and fields[3] == "0A")


@pytest.mark.parametrize("workers", [1, 2])
def test_http_and_grpc_answer_from_every_worker(
    start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey], workers: int
) -> None:
    grpc_port = free_port()
    args = ("--grpc-port", str(grpc_port), "--workers", str(workers))
    service = start_service(service_config(jwks.issuer), extra_args=args)
    deadline = time.monotonic() + 20  # /readyz answered from one worker; the other may still be starting
    while listeners(grpc_port) < workers:  # grpc.so_reuseport: each worker binds the port
        assert time.monotonic() < deadline, f"{listeners(grpc_port)} of {workers} workers listen on the gRPC port"
        time.sleep(0.05)
    assert listeners(grpc_port) == workers
    token = mint(keys["ES384"], jwks.issuer)
    assert service.verify(token=token).status_code == 200
    assert health(grpc_port) == health_pb2.HealthCheckResponse.SERVING
    assert all(check(grpc_port, token, n) == 0 for n in range(8))


def test_grpc_port_from_the_environment(start_service: Start, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    grpc_port = free_port()
    os.environ["AUTHCHECK_GRPC_PORT"] = str(grpc_port)
    try:
        service = start_service(service_config(jwks.issuer))
    finally:
        del os.environ["AUTHCHECK_GRPC_PORT"]
    assert check(grpc_port, mint(keys["ES384"], jwks.issuer), 0) == 0
    assert service.verify().status_code == 401


def serve(
    tmp_path: Path, *args: str, env: dict[str, str] | None = None, python: tuple[str, ...] = ("-m", "authcheck")
) -> subprocess.CompletedProcess[str]:
    config = tmp_path / "authcheck.yaml"
    config.write_text("issuers: [{issuer: 'https://tenant.example/oidc', audiences: [x]}]\nrules: []\n")
    return subprocess.run(
        [sys.executable, *python, "serve", "--config", str(config), "--port", str(free_port()), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env={**os.environ, **(env or {})},
    )


@pytest.mark.parametrize(
    ("args", "env", "words"),
    [
        ((), {"AUTHCHECK_GRPC_PORT": "ninety"}, "AUTHCHECK_GRPC_PORT='ninety' is not valid: it must be a port number"),
        (("--grpc-port", "x"), {}, "--grpc-port: 'x' is not valid: it must be a port number"),
        (("--grpc-port", "70000"), {}, "a port number from 0 to 65535"),
    ],
    ids=["env-not-a-number", "flag-not-a-number", "port-out-of-range"],
)
def test_bad_grpc_port_is_one_line(tmp_path: Path, args: tuple[str, ...], env: dict[str, str], words: str) -> None:
    result = serve(tmp_path, *args, env=env)
    assert result.returncode == 2
    assert words in result.stderr and len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_grpc_port_in_use_is_one_line(tmp_path: Path) -> None:
    with grpc_listener() as port:
        result = serve(tmp_path, "--grpc-port", str(port))
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_without_the_grpc_extra_the_error_names_the_install(tmp_path: Path) -> None:
    """The extra is installed here, so the run hides it: `import grpc` fails as when it is absent."""
    hide_grpc = ("-c", "import sys; sys.modules['grpc'] = None; from authcheck.cli.main import main; sys.exit(main())")
    result = serve(tmp_path, "--grpc-port", str(free_port()), python=hide_grpc)
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "authcheck: --grpc-port needs the gRPC extra (grpc is missing): pip install 'authcheck[grpc]'"
    )


class grpc_listener:
    """A foreign gRPC server holding a port (with SO_REUSEPORT, as gRPC binds by default)."""

    def __enter__(self) -> int:
        self.server = grpc.server(thread_pool=None, options=[("grpc.so_reuseport", 1)])  # type: ignore[arg-type]
        self.port = self.server.add_insecure_port("127.0.0.1:0")
        self.server.start()
        return self.port

    def __exit__(self, *_: object) -> None:
        self.server.stop(None)
