"""Tracing (`serve --tracing otlp`): one span per decision, sent to a real OTLP/HTTP receiver.

The receiver is a stdlib HTTP server in the test that decodes what the OpenTelemetry
exporter posts to /v1/traces with the OTLP protobuf definitions; authcheck is the real
`authcheck serve` process, configured by the standard OTEL_* variables.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.auth.v3.attribute_context_pb2 import AttributeContext
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"


class OtlpReceiver:
    """Collects the spans an OTLP/HTTP exporter posts, as {attribute: value} dicts."""

    def __init__(self) -> None:
        self.spans: list[dict[str, Any]] = []
        self._arrived = threading.Condition()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                request = ExportTraceServiceRequest.FromString(body)
                with receiver._arrived:
                    for resource in request.resource_spans:
                        service = {a.key: a.value.string_value for a in resource.resource.attributes}
                        for scope in resource.scope_spans:
                            for span in scope.spans:
                                receiver.spans.append(receiver._read(span, service))
                    receiver._arrived.notify_all()
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, format: str, *args: object) -> None:
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.endpoint = f"http://127.0.0.1:{self._server.server_address[1]}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()

    @staticmethod
    def _read(span: Any, service: dict[str, str]) -> dict[str, Any]:
        attributes = {a.key: a.value.string_value or a.value.int_value for a in span.attributes}
        return {
            "name": span.name,
            "trace_id": span.trace_id.hex(),
            "parent_id": span.parent_span_id.hex(),
            "duration_ns": span.end_time_unix_nano - span.start_time_unix_nano,
            "service": service.get("service.name"),
            **attributes,
        }

    def wait_for(self, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._arrived:
            while len(self.spans) < count:
                left = deadline - time.monotonic()
                assert left > 0, f"{len(self.spans)} of {count} spans arrived: {self.spans}"
                self._arrived.wait(left)
            return list(self.spans)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[OtlpReceiver]:
    server = OtlpReceiver()
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_ENDPOINT", server.endpoint)
    monkeypatch.setenv("OTEL_BSP_SCHEDULE_DELAY", "50")  # export within 50 ms, not 5 s
    monkeypatch.setenv("OTEL_SERVICE_NAME", "authcheck-test")
    yield server
    server.stop()


def config(issuer: str) -> dict[str, object]:
    return {
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [{"name": "orders-read", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]}],
    }


def test_each_decision_is_one_span_in_the_proxys_trace(
    receiver: OtlpReceiver,
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    start_service: Callable[..., AuthcheckProcess],
) -> None:
    service = start_service(config(jwks.issuer), extra_args=("--tracing", "otlp"))
    traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
    allowed = service.verify(token=mint(keys["ES384"], jwks.issuer), headers={"traceparent": traceparent})
    denied = service.verify(uri="/nowhere")
    assert (allowed.status_code, denied.status_code) == (200, 403)
    first, second = receiver.wait_for(2)
    assert first["name"] == second["name"] == "authcheck.decision"
    assert first["service"] == "authcheck-test"
    assert (first["trace_id"], first["parent_id"]) == (TRACE_ID, PARENT_ID)
    assert first["authcheck.rule"] == "orders-read"
    assert (first["authcheck.decision"], first["authcheck.code"], first["authcheck.status"]) == ("allow", "ok", 200)
    assert (first["http.request.method"], first["url.path"]) == ("GET", "/orders/1")
    assert first["duration_ns"] > 0
    # No traceparent: a trace of its own.
    assert second["trace_id"] != TRACE_ID and second["parent_id"] == ""
    assert (second["authcheck.decision"], second["authcheck.code"]) == ("deny", "auth.route_denied")
    assert second["authcheck.reason"] == "route_denied"


def test_grpc_checks_are_traced_with_the_calls_trace_context(
    receiver: OtlpReceiver,
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    start_service: Callable[..., AuthcheckProcess],
) -> None:
    service = start_service(config(jwks.issuer), extra_args=("--tracing", "otlp"), grpc=True)
    http = AttributeContext.HttpRequest(
        method="GET", path="/orders/7", headers={"authorization": f"Bearer {mint(keys['ES384'], jwks.issuer)}"}
    )
    request = CheckRequest(attributes=AttributeContext(request=AttributeContext.Request(http=http)))
    with grpc.insecure_channel(f"127.0.0.1:{service.grpc_port}") as channel:
        metadata = (("traceparent", f"00-{TRACE_ID}-{PARENT_ID}-01"),)
        answer = external_auth_pb2_grpc.AuthorizationStub(channel).Check(request, metadata=metadata, timeout=10)
    assert answer.status.code == 0
    [span] = receiver.wait_for(1)
    assert (span["trace_id"], span["parent_id"]) == (TRACE_ID, PARENT_ID)
    assert (span["authcheck.decision"], span["authcheck.rule"], span["url.path"]) == (
        "allow",
        "orders-read",
        "/orders/7",
    )


def test_tracing_is_off_by_default_and_then_opentelemetry_is_not_even_imported() -> None:
    script = (
        "import sys\n"
        "from authcheck.config.model import Config, IssuerConfig\n"
        "from authcheck.service.server import tracer_from_environment\n"
        "from authcheck.service.app import create_app\n"
        "assert tracer_from_environment() is None\n"
        "create_app(Config(issuers=(IssuerConfig(issuer='https://i.example', audiences=('a',)),), rules=()))\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'opentelemetry'}))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "AUTHCHECK_TRACING"}
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"


def test_tracing_without_the_extra_is_a_one_line_error(tmp_path: Path) -> None:
    # A stand-in `opentelemetry` package that fails to import, first on the path: as if the
    # `otel` extra were not installed.
    fake = tmp_path / "site" / "opentelemetry"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('not installed')\n")
    config_path = tmp_path / "authcheck.yaml"
    config_path.write_text("issuers: [{issuer: 'https://i.example', audiences: [a]}]\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path / "site"), os.environ["PYTHONPATH"]])}
    result = subprocess.run(
        [sys.executable, "-m", "authcheck", "serve", "--config", str(config_path), "--port", "0", "--tracing", "otlp"],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )
    assert result.returncode == 2
    assert result.stderr.strip() == (
        "authcheck: AUTHCHECK_TRACING=otlp needs the OpenTelemetry packages: pip install 'authcheck[otel]'"
    )
