"""`authcheck probe` against real deployments: a clean bill for every shipped proxy config,
and the planted weaknesses of a deliberately broken nginx config found and named.

Each stack is real: a JWKS server, `authcheck serve`, the proxy from the shipped files (or
the broken copy), and the probe's own echo app (`--start-echo`) as the upstream. The probe
runs as users run it, `python -m authcheck probe ...` in a subprocess.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from support.jwks_server import JwksServer, free_port
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint

from authcheck.probe.battery import ATTACK_CLASSES

from . import harness
from .harness import PROXY_KINDS, StartProxy

INGRESS = {"nginx": "nginx", "traefik": "traefik", "caddy": "caddy", "envoy": "envoy"}


def config(issuer: str, ingress: str) -> dict[str, object]:
    return {
        "ingress": ingress,
        "issuers": [{"issuer": issuer, "audiences": [AUDIENCE]}],
        "rules": [
            {"name": "public", "match": {"paths": ["/public/**"], "methods": ["GET", "HEAD"]}, "allow": "anonymous"},
            {"name": "orders", "match": {"paths": ["/orders/**"]}, "scopes": ["read:orders"]},
        ],
        "headers": {"X-Auth-Email": "email"},
    }


def run_probe(proxy_port: int, echo_port: int, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "authcheck", "probe", "--url", f"http://127.0.0.1:{proxy_port}"]
    command += ["--protected", "/orders/1", "--start-echo", str(echo_port), "--header", "X-Auth-Email", *extra]
    # argparse takes the last --protected: a test may name another.
    return subprocess.run(command, capture_output=True, text=True, timeout=120)


def stack(
    kind: str,
    jwks: JwksServer,
    start_service: Callable[..., AuthcheckProcess],
    proxies: StartProxy,
    ingress: str | None = None,
) -> tuple[int, int]:
    """(the proxy's port, the echo app's port): the proxy routes to the echo the probe will start."""
    service = start_service(config(jwks.issuer, ingress or INGRESS[kind]))
    echo_port = free_port()
    proxy = proxies(kind, auth_port=service.port, upstream_port=echo_port)
    return proxy.port, echo_port


@pytest.mark.parametrize("kind", PROXY_KINDS)
def test_shipped_config_gets_a_clean_bill(
    kind: str,
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    start_service: Callable[..., AuthcheckProcess],
    proxies: StartProxy,
) -> None:
    proxy_port, echo_port = stack(kind, jwks, start_service, proxies)
    token = mint(keys["ES384"], jwks.issuer, email="alice@example.com")
    for extra in (("--public", "/public/x"), ("--public", "/public/x", "--token", token)):
        result = run_probe(proxy_port, echo_port, *extra)
        assert result.returncode == 0, result.stdout + result.stderr
        lines = result.stdout.splitlines()
        assert [line.split()[0] for line in lines] == ["HELD"] * 5, result.stdout


def plant(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, mistake: str) -> None:
    """A copy of the shipped nginx files with one planted mistake, which the harness then uses."""
    broken = tmp_path / "broken-repo"
    shutil.copytree(harness.REPO / "nginx", broken / "nginx")
    if mistake == "client-forwarded-uri":  # the auth subrequest passes the client's own header
        snippet = broken / "nginx/authcheck.conf"
        replacement = {"X-Forwarded-Uri    $request_uri;": "X-Forwarded-Uri    $http_x_forwarded_uri;"}
        snippet.write_text(harness.substitute(snippet.read_text(), replacement, "nginx/authcheck.conf"))
    else:  # the app location no longer overwrites the identity headers
        example = broken / "nginx/example.conf"
        lines = example.read_text().splitlines()
        example.write_text("\n".join(line for line in lines if "proxy_set_header X-Auth-" not in line))
    monkeypatch.setattr(harness, "REPO", broken)


HELD_EVERYWHERE = dict.fromkeys(ATTACK_CLASSES, "HELD")


@pytest.mark.parametrize(
    ("mistake", "verdicts", "named"),
    [
        # Without a client header no original URI reaches authcheck, so nothing reaches the app:
        # identity injection cannot be tried, and the probe says so rather than calling it held.
        (
            "client-forwarded-uri",
            HELD_EVERYWHERE | {"spoofed-forwarding": "OPEN", "identity-injection": "SKIP"},
            "X-Forwarded-Uri: /public/x",
        ),
        ("identity-headers-kept", HELD_EVERYWHERE | {"identity-injection": "OPEN"}, "X-Auth-Subject"),
    ],
)
def test_a_planted_weakness_is_found_and_named(
    mistake: str,
    verdicts: dict[str, str],
    named: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    jwks: JwksServer,
    start_service: Callable[..., AuthcheckProcess],
    proxies: StartProxy,
) -> None:
    plant(tmp_path, monkeypatch, mistake)
    proxy_port, echo_port = stack("nginx", jwks, start_service, proxies, ingress="auto")
    result = run_probe(proxy_port, echo_port, "--public", "/public/x")
    assert result.returncode == 1, result.stdout + result.stderr
    summary = {line.split()[1].rstrip(":"): line.split()[0] for line in result.stdout.splitlines() if line[:1] != " "}
    assert summary == verdicts, result.stdout
    assert named in result.stdout


def test_an_open_protected_path_is_an_error_not_a_clean_bill(
    jwks: JwksServer, start_service: Callable[..., AuthcheckProcess], proxies: StartProxy
) -> None:
    proxy_port, echo_port = stack("nginx", jwks, start_service, proxies)
    result = run_probe(proxy_port, echo_port, "--protected", "/public/x")
    assert result.returncode == 2
    assert "/public/x answered 200 without a token" in result.stdout
