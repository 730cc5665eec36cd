"""The gRPC edge: Envoy's `envoy.service.auth.v3.Authorization/Check` and `grpc.health.v1`.

It runs inside the HTTP service's lifespan, on the same event loop and over the same
Service (keys, caches, gate, metrics, decision log), so a gRPC check and a /verify check
are one decision with one answer. A denial is an ordinary CheckResponse, and so is a
failure to decide (a 503-style denial): never an RPC error, which Envoy would turn into
its own status, and never an allow.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import grpc
import structlog
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest, CheckResponse, DeniedHttpResponse, OkHttpResponse
from envoy.type.v3.http_status_pb2 import HttpStatus
from google.protobuf.struct_pb2 import Struct
from google.rpc.status_pb2 import Status
from grpc_health.v1 import health_pb2, health_pb2_grpc

from authcheck.core.answers import denial_answer
from authcheck.core.errors import DecisionFailed, Denial
from authcheck.core.gate import Decision, Gate
from authcheck.core.identity import ENVOY_REMOVE_HEADER
from authcheck.core.original_request import named_request
from authcheck.service.app import Service
from authcheck.service.decisions import decide_with_refresh
from authcheck.service.readiness import problems

log = structlog.get_logger("authcheck")

# Every worker process binds the same port; the kernel spreads new connections across them.
SERVER_OPTIONS = (("grpc.so_reuseport", 1),)
AUTHORIZATION_SERVICE = "envoy.service.auth.v3.Authorization"
WATCH_INTERVAL_SECONDS = 1.0  # how often a Health/Watch stream looks at readiness
_GRPC_CODE = {401: grpc.StatusCode.UNAUTHENTICATED, 403: grpc.StatusCode.PERMISSION_DENIED}
_OVERWRITE = HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD
_SKIPPED_DENIAL_HEADERS = frozenset({b"content-length"})  # Envoy sizes the body it sends itself


@contextlib.asynccontextmanager
async def serving_grpc(service: Service, host: str, port: int) -> AsyncIterator[grpc.aio.Server]:
    server = grpc.aio.server(options=SERVER_OPTIONS)
    external_auth_pb2_grpc.add_AuthorizationServicer_to_server(Authorization(service), server)
    health_pb2_grpc.add_HealthServicer_to_server(Health(service), server)
    server.add_insecure_port(f"[{host}]:{port}" if ":" in host else f"{host}:{port}")
    await server.start()
    try:
        yield server
    finally:
        await server.stop(grace=5)


class Authorization(external_auth_pb2_grpc.AuthorizationServicer):  # type: ignore[misc]
    def __init__(self, service: Service) -> None:
        self._service = service

    async def Check(self, request: CheckRequest, context: Any) -> CheckResponse:
        started = time.perf_counter()
        http = request.attributes.request.http
        headers = _headers(http)
        request_ids = headers.get("x-request-id")
        service = self._service
        gate = service.gate  # one gate for the whole decision, even if a reload swaps it meanwhile
        try:
            decision = await decide_with_refresh(lambda: _decide(gate, http, headers), service.key_store)
            answer = _allowed(decision) if decision.denial is None else _denied(decision.denial, http.method == "HEAD")
        except Exception:  # a bug must never become an RPC error (Envoy's own status) or an allow
            log.exception("internal_error")
            failed = DecisionFailed()
            decision, answer = Decision(failed.status, denial=failed), _denied(failed, False)
        traceparent = _traceparent(context) if service.tracer is not None else None
        service.record(decision, request_ids[0] if request_ids else None, time.perf_counter() - started, traceparent)
        return answer


class Health(health_pb2_grpc.HealthServicer):
    """SERVING when every issuer has usable keys in every worker (as /readyz answers 200)."""

    def __init__(self, service: Service) -> None:
        self._service = service

    async def Check(self, request: health_pb2.HealthCheckRequest, context: Any) -> health_pb2.HealthCheckResponse:
        status = self._status(request.service)
        if status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN:
            await context.abort(grpc.StatusCode.NOT_FOUND, f"unknown service {request.service!r}")
        return health_pb2.HealthCheckResponse(status=status)

    async def Watch(
        self, request: health_pb2.HealthCheckRequest, context: Any
    ) -> AsyncIterator[health_pb2.HealthCheckResponse]:
        """The status now, then each change, until the caller hangs up. Readiness has no event
        to wait on (keys go stale with time), so it is looked at every WATCH_INTERVAL_SECONDS.
        An unknown service is SERVICE_UNKNOWN on the stream, not an error (the protocol's rule)."""
        sent = None
        while True:
            status = self._status(request.service)
            if status != sent:
                yield health_pb2.HealthCheckResponse(status=status)
                sent = status
            await asyncio.sleep(WATCH_INTERVAL_SECONDS)

    def _status(self, service: str) -> int:
        if service not in ("", AUTHORIZATION_SERVICE):
            return int(health_pb2.HealthCheckResponse.SERVICE_UNKNOWN)
        if problems(*self._service.workers()):
            return int(health_pb2.HealthCheckResponse.NOT_SERVING)
        return int(health_pb2.HealthCheckResponse.SERVING)


def _headers(http: Any) -> Mapping[str, Sequence[str]]:
    """The two request headers read, by lower-case name. Envoy sends `headers` (a repeated
    header joined with commas), or `header_map` (each line apart) with encode_raw_headers."""
    if not http.header_map.headers:
        return {name: [http.headers[name]] for name in ("authorization", "x-request-id") if name in http.headers}
    found: dict[str, list[str]] = {}
    for header in http.header_map.headers:
        name = header.key.lower()
        if name in ("authorization", "x-request-id"):
            found.setdefault(name, []).append(header.raw_value.decode("latin-1") or header.value)
    return found


def _traceparent(context: Any) -> bytes | None:
    """The W3C trace context of the call itself: Envoy's tracer puts it in the call's metadata,
    as it puts it on the /verify request."""
    for key, value in context.invocation_metadata() or ():
        if key == "traceparent":
            return value.encode("latin-1") if isinstance(value, str) else bytes(value)
    return None


def _decide(gate: Gate, http: Any, headers: Mapping[str, Sequence[str]]) -> Decision:
    try:
        request = named_request(http.method, http.path, http.host)
    except Denial as denial:
        return Decision(denial.status, denial=denial)
    return gate.decide_for(request, headers.get("authorization", ()))


def _allowed(decision: Decision) -> CheckResponse:
    identity, rule = decision.identity, decision.rule
    if identity is None:
        return _allowed_answer(decision.headers, None, None, None, rule.name if rule else None)
    return _allowed_answer(
        decision.headers, identity.subject, identity.client_id, identity.issuer, rule.name if rule else None
    )


@functools.lru_cache(maxsize=1024)  # a client repeats its token: building the answer cost more than the decision
def _allowed_answer(
    identity_headers: tuple[tuple[bytes, bytes], ...],
    sub: str | None,
    client_id: str | None,
    iss: str | None,
    rule: str | None,
) -> CheckResponse:
    """Identity headers overwrite any client copy; those not set are removed instead."""
    headers: list[HeaderValueOption] = []
    remove: list[str] = []
    for name, value in identity_headers:
        if name == ENVOY_REMOVE_HEADER:
            remove += value.decode("latin-1").split(",")
        else:
            headers.append(_header(name, value))
    found = {"sub": sub, "client_id": client_id, "iss": iss, "rule": rule}
    metadata = Struct()
    metadata.update({key: value for key, value in found.items() if value is not None})
    return CheckResponse(
        status=Status(code=grpc.StatusCode.OK.value[0]),
        ok_response=OkHttpResponse(headers=headers, headers_to_remove=remove),
        dynamic_metadata=metadata,
    )


def _denied(denial: Denial, head: bool) -> CheckResponse:
    """The HTTP answer /verify gives, as Envoy's denied_response."""
    status, answer_headers, body = denial_answer(denial, head)
    headers = [_header(name, value) for name, value in answer_headers if name not in _SKIPPED_DENIAL_HEADERS]
    return CheckResponse(
        status=Status(code=_GRPC_CODE.get(status, grpc.StatusCode.UNAVAILABLE).value[0], message=denial.code),
        denied_response=DeniedHttpResponse(status=HttpStatus(code=status), headers=headers, body=body.decode()),
    )


def _header(name: bytes, value: bytes) -> HeaderValueOption:
    """Set, replacing any copy the client sent (never appended). The values are the claim's
    text (identity headers are latin-1 encoded from it); protobuf carries them as UTF-8."""
    return HeaderValueOption(
        header=HeaderValue(key=name.decode("latin-1"), value=value.decode("latin-1")), append_action=_OVERWRITE
    )
