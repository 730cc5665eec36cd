"""`authcheck probe`: run the bypass battery through a live proxy deployment."""

from __future__ import annotations

import argparse
import secrets

from authcheck.probe.battery import BUILT_IN_IDENTITY_HEADERS, Target
from authcheck.probe.echo import EchoServer
from authcheck.probe.run import ProbeError, probe, report

HELP = "send known bypass attacks through a live proxy deployment and report what got through"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--url", required=True, help="the proxy's base URL, e.g. https://api.example.com")
    parser.add_argument("--protected", required=True, help="a path that needs a token, e.g. /admin/x")
    parser.add_argument("--public", help="a path open without a token (an anonymous rule), routed to an echo app")
    parser.add_argument("--token", help="a valid token (identity injection is then tried on the protected path)")
    parser.add_argument(
        "--header", action="append", default=[], help="a configured identity header to try too (repeatable)"
    )
    parser.add_argument(
        "--start-echo",
        type=int,
        metavar="PORT",
        help="serve an echo app on this port while probing (route a test path to it)",
    )
    parser.add_argument("--echo-host", default="127.0.0.1", help="where --start-echo listens (default 127.0.0.1)")


def run(args: argparse.Namespace) -> int:
    """Exit 0: every class held; 1: something got through; 2: the deployment could not be probed."""
    target = Target(
        protected=args.protected,
        public=args.public,
        token=args.token,
        identity_headers=(*BUILT_IN_IDENTITY_HEADERS, *args.header),
        nonce=f"probe-{secrets.token_hex(8)}",
    )
    echo = None
    try:
        if args.start_echo is not None:
            try:
                echo = EchoServer(args.echo_host, args.start_echo).start()
            except OSError as error:
                raise ProbeError(f"--start-echo {args.start_echo}: cannot listen: {error.strerror}") from None
        results = probe(args.url, target)
    except ProbeError as error:
        print(f"authcheck probe: {error}")
        return 2
    finally:
        if echo is not None:
            echo.stop()
    for line in report(results):
        print(line)
    return 1 if any(result.findings for result in results.values()) else 0
