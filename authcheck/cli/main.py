"""The `authcheck` command: serve, check, explain, test, schema, dev."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import socket
import sys
import tempfile
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TypeVar

import httpx
import structlog
import uvicorn
from starlette.applications import Starlette

from authcheck.cli import probe
from authcheck.cli.dev import DevIssuer, banner
from authcheck.cli.explain import explain
from authcheck.cli.policy_test import report, run_cases
from authcheck.config import environment
from authcheck.config.cases import load_cases
from authcheck.config.environment import BadEnvironment
from authcheck.config.file import ConfigError, load_config
from authcheck.config.json_schema import config_json_schema
from authcheck.config.lint import config_warnings, summarize
from authcheck.service import server, tracing
from authcheck.service.app import DECISION_LOGS, create_app
from authcheck.service.logs import LOG_FORMATS, LOG_LEVELS, configure_logging
from authcheck.service.settings import ServeSettings

T = TypeVar("T")


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:  # one line, exit 2, no usage dump
        sys.stderr.write(f"authcheck: {message} (see `authcheck --help`)\n")
        sys.exit(2)


def _flag(parse: Callable[[str], T]) -> Callable[[str], T]:
    """An environment parser as an argparse type: the same check, naming the flag."""

    def check(text: str) -> T:
        try:
            return parse(text)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{text!r} is not valid: it must be {exc}") from None

    return check


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="authcheck", description="JWT forward-auth for ingress proxies.")
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    serve = commands.add_parser("serve", help="run the service")
    serve.add_argument("--config", default=os.environ.get("AUTHCHECK_CONFIG"))
    # Defaults come from the environment once `serve` is chosen (a bad AUTHCHECK_PORT must not break `check`).
    serve.add_argument("--host", type=_flag(environment.host))
    serve.add_argument("--port", type=_flag(environment.port))
    serve.add_argument("--workers", type=_flag(environment.workers))
    serve.add_argument("--log-level", choices=LOG_LEVELS)
    serve.add_argument("--log-format", choices=LOG_FORMATS)
    serve.add_argument("--decision-log", choices=DECISION_LOGS, help="which decisions get a log line")
    serve.add_argument(
        "--grpc-port",
        type=_flag(environment.port),
        help="also serve Envoy's gRPC ext_authz API on this port (needs authcheck[grpc])",
    )
    serve.add_argument(
        "--tracing",
        choices=tracing.CHOICES,
        help="otlp: one OpenTelemetry span per decision, exported as the OTEL_* variables say",
    )

    check = commands.add_parser("check", help="validate a config file")
    check.add_argument("--config", default=os.environ.get("AUTHCHECK_CONFIG"))

    exp = commands.add_parser("explain", help="show how one request would be decided")
    exp.add_argument("--config", default=os.environ.get("AUTHCHECK_CONFIG"))
    exp.add_argument("--method", required=True)
    exp.add_argument("--uri", required=True)
    exp.add_argument("--host")
    exp.add_argument("--token")

    test = commands.add_parser("test", help="run golden decision cases against a config, offline")
    test.add_argument("--config", default=os.environ.get("AUTHCHECK_CONFIG"))
    test.add_argument("cases", metavar="CASES", help="the cases file (YAML)")

    commands.add_parser("schema", help="print the config file's JSON Schema")

    probe.add_arguments(commands.add_parser("probe", help=probe.HELP))

    dev = commands.add_parser("dev", help="zero-setup demo with a development issuer")
    dev.add_argument("--port", type=int, default=8080)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        if args.command == "probe":
            return probe.run(args)
        if args.command == "dev":
            return _dev(args.port)
        if args.command == "schema":
            print(json.dumps(config_json_schema(), indent=2))
            return 0
        if not args.config:
            raise _Fatal("--config FILE (or AUTHCHECK_CONFIG) is required")
        config = load_config(args.config)
        if args.command == "check":
            for warning in config_warnings(config):
                print(f"warning: {warning}")
            print(summarize(config))
            return 0
        if args.command == "explain":
            return asyncio.run(explain(config, args.method, args.uri, args.host, args.token))
        if args.command == "test":
            return report(run_cases(config, load_cases(args.cases)))
        return _serve(args)
    except ConfigError as exc:
        # `check` lists every problem; the other commands say one line and point to `check`.
        sys.stderr.write(f"{exc}\n" if args.command == "check" else f"authcheck: {_one_line(exc)}\n")
        return 2
    except (_Fatal, BadEnvironment) as exc:
        sys.stderr.write(f"authcheck: {exc}\n")
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `authcheck schema | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # no second error at exit
        return 0


class _Fatal(Exception):
    """A problem to report in one line before exiting."""


def _one_line(error: ConfigError) -> str:
    first = str(error).splitlines()[0]
    more = len(error.problems) - 1
    if more <= 0:
        return first
    return f"{first} (and {more} more: run `authcheck check --config {error.source}`)"


def _ensure_can_listen(host: str, port: int) -> None:
    try:
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((host, port))
    except (OSError, OverflowError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise _Fatal(f"cannot listen on {host}:{port}: {reason}") from None


def _ensure_grpc_extra() -> None:
    try:
        import authcheck.service.grpc_server  # noqa: F401
    except ImportError as missing:
        raise _Fatal(
            f"--grpc-port needs the gRPC extra ({missing.name} is missing): pip install 'authcheck[grpc]'"
        ) from None


def _serve(args: argparse.Namespace) -> int:
    settings = ServeSettings.read(args)
    _ensure_can_listen(settings.host, settings.port)
    if settings.grpc_port is not None:
        if settings.grpc_port == settings.port:
            raise _Fatal(f"--grpc-port {settings.grpc_port} is also --port: give gRPC a port of its own")
        _ensure_grpc_extra()
        _ensure_can_listen(settings.host, settings.grpc_port)
    if settings.tracing == "otlp":
        try:
            tracing.Tracer().close()  # the packages are there and the exporter can be built
        except tracing.TracingUnavailable as missing:
            raise _Fatal(str(missing)) from None
    configure_logging(settings.log_level, settings.log_format)
    # Workers re-create the app from these variables (uvicorn needs an import string for N > 1).
    os.environ["AUTHCHECK_CONFIG"] = os.path.abspath(args.config)
    for variable, value in settings.environment().items():
        if value is None:
            os.environ.pop(variable, None)
        else:
            os.environ[variable] = value
    with contextlib.ExitStack() as cleanup:
        if settings.workers > 1:
            # prometheus_client's multiprocess mode: each worker's counters in a file there. Set
            # before uvicorn starts the workers (they import prometheus_client after), gone at exit.
            shared = cleanup.enter_context(tempfile.TemporaryDirectory(prefix="authcheck-workers-"))
            os.environ["PROMETHEUS_MULTIPROC_DIR"] = shared
        server.run(settings.host, settings.port, settings.workers, SERVER_OPTIONS)
    return 0


# A lean server stack: uvloop + httptools, no access log (authcheck logs each decision
# itself), no Server/Date headers, and no proxy-header rewriting of the peer address.
SERVER_OPTIONS: dict[str, Any] = dict(
    loop="uvloop",
    http="httptools",
    access_log=False,
    server_header=False,
    date_header=False,
    proxy_headers=False,
    lifespan="on",
    log_level="warning",
)


def _dev(port: int) -> int:
    _ensure_can_listen("127.0.0.1", port)
    configure_logging("info", "console")
    structlog.get_logger("authcheck").warning(
        "development_issuer", note="throw-away key and demo rules: never use authcheck dev in production"
    )
    issuer = DevIssuer(port)
    # The key store reaches the issuer in-process: no failed first fetch while the port opens.
    to_issuer = httpx.ASGITransport(app=Starlette(routes=issuer.routes()))
    app = create_app(issuer.config(), transport=to_issuer, extra_routes=issuer.routes())
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, **SERVER_OPTIONS))

    async def announce_when_ready() -> None:
        """Print the curl lines only once they can work: listening, with the issuer's keys."""
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            while not server.should_exit:
                if server.started and (await client.get("/readyz")).status_code == 200:
                    print(banner(issuer, port), flush=True)
                    return
                await asyncio.sleep(0.05)

    async def run() -> None:
        await asyncio.gather(server.serve(), announce_when_ready())

    asyncio.run(run())
    return 0


if __name__ == "__main__":
    sys.exit(main())
