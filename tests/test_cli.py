"""The `authcheck` command as users run it: real processes, real exit codes and output."""

from __future__ import annotations

import os
import re
import shlex
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from support.configs import service_config
from support.jwks_server import JwksServer, free_port
from support.tokens import SigningKey, mint

pytestmark = pytest.mark.process  # the CLI runs as `python -m authcheck` subprocesses

CONFIGS = Path(__file__).parent / "configs"


def authcheck(*args: str, env: dict[str, str] | None = None, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "authcheck", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, **(env or {})},
    )


def write_config(tmp_path: Path, config: dict[str, Any]) -> str:
    path = tmp_path / "authcheck.yaml"
    path.write_text(yaml.safe_dump(config))
    return str(path)


def test_check_valid_config_prints_summary(tmp_path: Path) -> None:
    result = authcheck("check", "--config", write_config(tmp_path, service_config("https://tenant.logto.app/oidc")))
    assert result.returncode == 0, result.stderr
    assert "OK" in result.stdout and "orders-read: a valid token, with scope read:orders" in result.stdout


def test_check_reports_every_problem_with_file_line_and_fix() -> None:
    path = str(CONFIGS / "many-problems.yaml")
    result = authcheck("check", "--config", path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) >= 5
    assert all(line.startswith(f"{path}:") for line in lines)
    assert any("defualt" in line and 'did you mean "default"' in line for line in lines)
    assert "Traceback" not in result.stderr


def test_serve_with_bad_config_is_one_line(tmp_path: Path) -> None:
    result = authcheck("serve", "--config", str(CONFIGS / "many-problems.yaml"), "--port", str(free_port()))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert "more: run `authcheck check --config" in result.stderr


@pytest.mark.parametrize(
    "args,words",
    [
        pytest.param(("serve", "--config", "/nonexistent.yaml"), "nonexistent.yaml", id="missing-file"),
        pytest.param(("serve",), "--config FILE (or AUTHCHECK_CONFIG) is required", id="no-config"),
        pytest.param(("serve", "--bogus"), "unrecognized arguments: --bogus", id="unknown-flag"),
        pytest.param(
            ("serve", "--port", "eighty"), "'eighty' is not valid: it must be a port number", id="port-not-a-number"
        ),
        pytest.param(
            ("serve", "--port", "70000"), "a port number from 0 to 65535 (0: any free port)", id="port-out-of-range"
        ),
        pytest.param(("serve", "--workers", "0"), "at least 1", id="no-workers"),
        pytest.param(("serve", "--host", "bad host"), "an IP address or a host name", id="host-not-a-name"),
        pytest.param(("frobnicate",), "invalid choice", id="unknown-command"),
    ],
)
def test_bad_invocations_end_in_one_line(args: tuple[str, ...], words: str) -> None:
    result = authcheck(*args)
    assert result.returncode == 2
    assert words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1, result.stderr


def test_port_in_use_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_config("https://tenant.logto.app/oidc"))
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        number = str(taken.getsockname()[1])
        result = authcheck("serve", "--config", config, "--port", number)
    assert result.returncode == 2
    assert f"cannot listen on 127.0.0.1:{number}" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize(
    ("variable", "bad", "allowed"),
    [
        ("AUTHCHECK_PORT", "eighty", "a port number from 0 to 65535 (0: any free port)"),
        ("AUTHCHECK_PORT", "70000", "a port number from 0 to 65535 (0: any free port)"),
        ("AUTHCHECK_WORKERS", "-1", "a whole number of worker processes, at least 1"),
        ("AUTHCHECK_LOG_LEVEL", "verbose", "one of: debug, info, warning, error"),
        ("AUTHCHECK_LOG_FORMAT", "xml", "one of: json, console"),
        ("AUTHCHECK_DECISION_LOG", "some", "one of: all, denials, off"),
        ("AUTHCHECK_HOST", "not a host", "an IP address or a host name"),
        ("AUTHCHECK_TRACING", "jaeger", "one of: off, otlp"),
    ],
)
def test_bad_environment_value_is_one_line_naming_it(tmp_path: Path, variable: str, bad: str, allowed: str) -> None:
    config = write_config(tmp_path, service_config("https://tenant.logto.app/oidc"))
    result = authcheck("serve", "--config", config, env={variable: bad})
    assert result.returncode == 2
    assert result.stderr == f"authcheck: {variable}={bad!r} is not valid: it must be {allowed}\n"


def test_bad_serve_environment_does_not_break_check(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_config("https://tenant.logto.app/oidc"))
    assert authcheck("check", "--config", config, env={"AUTHCHECK_PORT": "eighty"}).returncode == 0


def test_environment_sets_config_and_port(tmp_path: Path, jwks: JwksServer) -> None:
    config = write_config(tmp_path, service_config(jwks.issuer))
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "authcheck", "serve"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "AUTHCHECK_CONFIG": config, "AUTHCHECK_PORT": str(port)},
    )
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert time.monotonic() < deadline and process.poll() is None
                time.sleep(0.1)
    finally:
        process.terminate()
        process.wait(10)


@pytest.mark.parametrize(
    "uri,token_kind,code,words",
    [
        pytest.param("/orders/7", "reader", 0, "answer:  200 allowed", id="allowed-0"),
        pytest.param("/orders/7", "other", 1, "answer:  403 auth.insufficient_scope", id="missing-scope-1"),
        pytest.param("/orders/7", None, 1, "answer:  401 auth.authorization_header_missing", id="no-token-1"),
        pytest.param("/nowhere", "reader", 1, "rule:    none matches; default is deny", id="no-rule-1"),
        pytest.param("/a/%2Fb", None, 1, "request: rejected", id="ambiguous-path-1"),
    ],
)
def test_explain(
    tmp_path: Path,
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    uri: str,
    token_kind: str | None,
    code: int,
    words: str,
) -> None:
    config = write_config(tmp_path, service_config(jwks.issuer))
    args = ["explain", "--config", config, "--method", "get", "--uri", uri]
    if token_kind is not None:
        scope = "read:orders" if token_kind == "reader" else "profile"
        args += ["--token", mint(keys["ES384"], jwks.issuer, scope=scope, sub="erin")]
    result = authcheck(*args)
    assert result.returncode == code, result.stdout + result.stderr
    assert words in result.stdout
    if token_kind == "reader" and uri == "/orders/7":
        assert "rule:    orders-read: a valid token, with scope read:orders" in result.stdout
        assert "token:   sub=erin" in result.stdout


def test_explain_shows_claim_requirements(tmp_path: Path, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    config = service_config(jwks.issuer)
    config["rules"].insert(
        0, {"name": "admins", "match": {"paths": ["/admin/**"]}, "claims": {"realm_access.roles": "admin"}}
    )
    token = mint(keys["ES384"], jwks.issuer, realm_access={"roles": ["user"]})
    result = authcheck(
        "explain", "--config", write_config(tmp_path, config), "--method", "GET", "--uri", "/admin/x", "--token", token
    )
    assert result.returncode == 1
    assert "with claim realm_access.roles holding admin" in result.stdout
    assert "The token's realm_access.roles claim does not hold admin." in result.stdout


def test_explain_when_keys_cannot_be_had_is_an_error(tmp_path: Path, keys: dict[str, SigningKey]) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/oidc"  # nothing listens there
    result = authcheck(
        "explain",
        "--config",
        write_config(tmp_path, service_config(issuer)),
        "--method",
        "GET",
        "--uri",
        "/orders/1",
        "--token",
        mint(keys["ES384"], issuer),
    )
    assert result.returncode == 2
    assert "503 auth.keys_unavailable" in result.stdout


@pytest.fixture
def dev_server() -> Iterator[tuple[subprocess.Popen[str], str]]:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "authcheck", "dev", "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    banner = ""
    assert process.stdout is not None
    while "403" not in banner or "curl" not in banner.split("403")[-1]:
        line = process.stdout.readline()
        assert line, banner
        banner += line
    yield process, banner
    process.terminate()
    process.wait(10)
    process.stdout.close()


def test_dev_demo_curl_lines_give_200_401_403(dev_server: tuple[subprocess.Popen[str], str]) -> None:
    """The README's first command: the printed curl lines work as printed."""
    _, banner = dev_server
    assert "Never use this in production" in banner
    assert "never use authcheck dev in production" in banner  # and in its log
    curls = re.findall(r"^\s*(curl .*)$", banner, re.MULTILINE)
    assert len(curls) == 3
    statuses = []
    for line in curls:  # at once: the banner appears only when the service is ready
        args = shlex.split(line.replace("curl -i", "curl -s -o /dev/null -w %{http_code}", 1))
        statuses.append(subprocess.run(args, capture_output=True, text=True, timeout=10).stdout)
    assert statuses == ["200", "401", "403"]
