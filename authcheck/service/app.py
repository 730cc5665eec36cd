"""The ASGI application: /verify on a lean raw-ASGI path, the rest on Starlette."""

from __future__ import annotations

import contextlib
import time
from collections.abc import AsyncIterator, Callable, Sequence
from typing import Literal
from urllib.parse import urlsplit

import httpx
import structlog
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import BaseRoute, Route
from starlette.types import ASGIApp, Receive, Scope, Send

from authcheck.config.lint import is_loopback
from authcheck.config.model import Config
from authcheck.core.answers import allow_answer, denial_answer
from authcheck.core.authenticator import Authenticator
from authcheck.core.errors import DecisionFailed, Denial
from authcheck.core.expiring_cache import LRU
from authcheck.core.gate import Decision, Gate, ReportOnly
from authcheck.service.decisions import decide_with_refresh
from authcheck.service.key_store import KeyStore
from authcheck.service.logs import write_event
from authcheck.service.metrics import CONTENT_TYPE, Metrics
from authcheck.service.readiness import Statuses, WorkerBoard, oldest_ages, problems
from authcheck.service.reload import reload_on_sighup
from authcheck.service.tracing import Tracer

DecisionLog = Literal["all", "denials", "off"]
DECISION_LOGS: tuple[DecisionLog, ...] = ("all", "denials", "off")

# The only request headers /verify reads; everything else is never even decoded.
_READ_HEADERS = frozenset(
    {
        b"authorization",
        b"host",
        b"x-request-id",
        b"x-forwarded-method",
        b"x-forwarded-uri",
        b"x-forwarded-host",
        b"x-original-method",
        b"x-original-uri",
        b"x-original-url",
        b"traceparent",
    }
)
_AUTHORIZATION, _REQUEST_ID, _TRACEPARENT = b"authorization", b"x-request-id", b"traceparent"
_ANSWER_MEMO_LIMIT = 1024  # distinct denial answers: our own words, so few
_EMPTY_BODY = {"type": "http.response.body", "body": b""}

log = structlog.get_logger("authcheck")


class Service:
    """Everything one worker process holds: keys, caches, rules, counters.

    `clock`, when given, replaces both the wall clock (token times) and the monotonic one
    (key ages): tests move time with one call. `board` is where the workers of one
    `serve --workers N` tell each other about their keys (None with one worker).
    """

    def __init__(
        self,
        config: Config,
        transport: httpx.AsyncBaseTransport | None = None,
        decision_log: DecisionLog = "all",
        tracer: Tracer | None = None,
        clock: Callable[[], float] | None = None,
        board: WorkerBoard | None = None,
    ) -> None:
        self.config = config
        self.board = board
        self.metrics = Metrics(lambda: oldest_ages(*self.workers()))
        self.key_store = KeyStore(config.issuers, transport, clock or time.monotonic, self._fetched)
        self._wall_clock = clock or time.time
        self.authenticator = Authenticator(config, self.key_store.issuers, _log_dropped_header, self._wall_clock)
        self.gate = Gate(config, self.authenticator)
        self.decision_log = decision_log
        self.tracer = tracer

    def record(
        self, decision: Decision, request_id: str | None, seconds: float, traceparent: bytes | None = None
    ) -> None:
        """Count the decision, trace it and write its log line: the same for /verify and gRPC."""
        code = decision.denial.code if decision.denial else "ok"
        self.metrics.observe(decision.status, code, seconds)
        for report in decision.report_only:
            self.metrics.observe_report_only(report.rule, report.status)
        if self.tracer is not None:
            ended = time.time_ns()
            self.tracer.record(decision, traceparent, ended - int(seconds * 1e9), ended)
        mode = self.decision_log
        if mode == "off" or (mode == "denials" and decision.denial is None):
            return
        request, identity = decision.request, decision.identity
        # The first report_only rule met (the metric counts each): absent when none matched.
        reported = _report_only_fields(decision.report_only[0]) if decision.report_only else {}
        write_event(
            "decision",
            {
                "decision": "allow" if decision.denial is None else "deny",
                "status": decision.status,
                "code": code,
                "reason": decision.denial.reason if decision.denial else None,
                "rule": decision.rule.name if decision.rule else None,
                "method": request.method if request else None,
                "host": request.host if request else None,
                "path": request.path if request else None,
                "sub": identity.subject if identity else None,
                "client_id": identity.client_id if identity else None,
                "iss": identity.issuer if identity else None,
                "latency": round(seconds, 6),
                "request_id": request_id,
                **reported,
            },
        )

    def apply(self, config: Config) -> int:
        """Switch to a reloaded config in one step: the next request is decided wholly by it
        (a request reads `gate` once). Issuers whose settings did not change keep their keys
        and verified tokens; returns how many tokens stayed verified."""
        issuers = self.key_store.replace(config.issuers)
        authenticator = Authenticator(config, issuers, _log_dropped_header, self._wall_clock)
        kept = authenticator.inherit(self.authenticator)
        gate = Gate(config, authenticator)
        self.key_store.install(issuers)
        self.config, self.authenticator, self.gate = config, authenticator, gate
        self._publish()  # the other workers judge this worker's issuers as they now are
        return kept

    def workers(self) -> tuple[list[Statuses], int]:
        """(each live worker's key status, this one first; how many workers have published none)."""
        own = self.key_store.status()
        if self.board is None:
            return [own], 0
        others, missing = self.board.others()
        return [own, *others], missing

    def _fetched(self, result: str) -> None:
        self.metrics.count_fetch(result)
        self._publish()

    def _publish(self) -> None:
        if self.board is not None:
            try:
                self.board.publish(self.key_store.status())
            except OSError as exc:  # the other workers see the last status; the fetch still counts
                log.warning("worker_status_not_published", error=str(exc), directory=str(self.board.directory))


def _report_only_fields(report: ReportOnly) -> dict[str, object]:
    return {"report_only_rule": report.rule, "report_only_status": report.status, "report_only_code": report.code}


def _log_dropped_header(header: str, why: str) -> None:
    log.warning("identity_header_dropped", header=header, why=why)


def create_app(
    config: Config,
    transport: httpx.AsyncBaseTransport | None = None,
    decision_log: DecisionLog = "all",
    extra_routes: Sequence[BaseRoute] = (),
    tracer: Tracer | None = None,
    grpc_address: tuple[str, int] | None = None,
    config_path: str | None = None,
    clock: Callable[[], float] | None = None,
    board: WorkerBoard | None = None,
) -> VerifyRouter:
    """`extra_routes` is how `authcheck dev` serves its development issuer on the same port.
    With `grpc_address` (host, port) the lifespan also serves Envoy's gRPC ext_authz API on
    this event loop, over this worker's Service (needs the `grpc` extra). With `config_path`,
    SIGHUP reloads the config from it (see service.reload)."""
    service = Service(config, transport, decision_log, tracer, clock, board)

    @contextlib.asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        if board is not None:
            board.publish(service.key_store.status())  # "no keys yet", before serving a request
        service.key_store.start()
        for warning in _insecure_issuers(config):
            log.warning("insecure_issuer", iss=warning)
        async with contextlib.AsyncExitStack() as stack:
            if grpc_address is not None:
                from authcheck.service.grpc_server import serving_grpc  # the optional extra

                await stack.enter_async_context(serving_grpc(service, *grpc_address))
            stack.enter_context(reload_on_sighup(service, config_path))
            yield
        await service.key_store.close()
        if tracer is not None:
            tracer.close()
        if board is not None:
            board.withdraw()

    async def healthz(_: Request) -> Response:
        return PlainTextResponse("ok\n")

    async def readyz(_: Request) -> Response:
        not_ready = problems(*service.workers())
        if not_ready:
            return JSONResponse({"ready": False, "issuers": not_ready}, status_code=503)
        return JSONResponse({"ready": True})

    async def metrics(_: Request) -> Response:
        return Response(service.metrics.render(), media_type=CONTENT_TYPE)

    routes = [
        Route("/healthz", healthz, methods=["GET", "HEAD"]),
        Route("/readyz", readyz, methods=["GET", "HEAD"]),
        Route("/metrics", metrics, methods=["GET"]),
        *extra_routes,
    ]
    return VerifyRouter(Starlette(routes=routes, lifespan=lifespan), service)


def _read_headers(scope: Scope) -> dict[str, list[str]]:
    """The headers /verify reads, by lower-case name, every value in arrival order."""
    headers: dict[str, list[str]] = {}
    for name, value in scope["headers"]:
        if name in _READ_HEADERS:
            headers.setdefault(name.decode(), []).append(value.decode("latin-1"))
    return headers


def _insecure_issuers(config: Config) -> list[str]:
    """http:// issuers whose host is not this machine: their keys can be swapped on the way."""
    return [
        i.issuer
        for i in config.issuers
        if i.issuer.startswith("http://") and not is_loopback(urlsplit(i.issuer).hostname or "")
    ]


class VerifyRouter:
    """Answers /verify and /verify/<path> itself; passes every other request on."""

    def __init__(self, app: ASGIApp, service: Service) -> None:
        self.app = app
        self.service = service
        self._answers: LRU[tuple[object, ...], tuple[int, Sequence[tuple[bytes, bytes]], bytes]] = LRU(
            _ANSWER_MEMO_LIMIT
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            raw_path: bytes = scope.get("raw_path") or scope["path"].encode()
            if raw_path == b"/verify" or raw_path.startswith(b"/verify/"):
                await self._verify(scope, raw_path, send)
                return
        await self.app(scope, receive, send)

    async def _verify(self, scope: Scope, raw_path: bytes, send: Send) -> None:
        """Never reads the request body: some proxies announce one and never send it."""
        started = time.perf_counter()
        method = scope["method"]
        # What the original request is read from: the /verify request line and the header
        # lines that name it (a memo key, so no str is decoded for a request seen before).
        request_lines: list[object] = [method, raw_path]
        authorization: list[bytes] = []
        request_id = traceparent = None
        for name, value in scope["headers"]:
            if name in _READ_HEADERS:
                if name == _AUTHORIZATION:
                    authorization.append(value)
                elif name == _REQUEST_ID:
                    if request_id is None:
                        request_id = value
                elif name == _TRACEPARENT:
                    traceparent = value
                else:
                    request_lines += (name, value)
        gate = self.service.gate
        raw_headers = tuple(request_lines)
        try:
            decision = gate.decide_known(raw_headers, authorization[0] if len(authorization) == 1 else None)
            if decision is None:
                envoy_subpath = raw_path[7:].decode("latin-1") if len(raw_path) > 7 else None
                headers = _read_headers(scope)
                decision = await decide_with_refresh(
                    lambda: gate.decide(headers, method, envoy_subpath, raw_headers=raw_headers), self.service.key_store
                )
        except Exception:  # a bug must never become a 500 or an open door
            log.exception("internal_error")
            decision = Decision(503, denial=DecisionFailed())
        answer_headers: Sequence[tuple[bytes, bytes]]
        if decision.denial is None:
            status, answer_headers, body = allow_answer(decision.headers)
        else:
            status, answer_headers, body = self._denial_answer(decision.denial, method == "HEAD")
        await send({"type": "http.response.start", "status": status, "headers": answer_headers})
        await send({"type": "http.response.body", "body": body} if body else _EMPTY_BODY)
        self.service.record(
            decision,
            request_id.decode("latin-1") if request_id is not None else None,
            time.perf_counter() - started,
            traceparent,
        )

    def _denial_answer(self, denial: Denial, head: bool) -> tuple[int, Sequence[tuple[bytes, bytes]], bytes]:
        """denial_answer, remembered by everything it is made of (it renders JSON)."""
        key = (denial.status, denial.error, denial.code, denial.message, head, *denial.extra_headers())
        answer = self._answers.get(key)
        if answer is None:
            status, answer_headers, body = denial_answer(denial, head)
            answer = status, tuple(answer_headers), body
            self._answers.put(key, answer)
        return answer
