"""Runs the real `authcheck serve` in a subprocess on a free port, as users run it."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import yaml

from support.jwks_server import free_port

# The SPEC's Logs section, by name, plus structlog's event and level and the refusal's reason.
DECISION_FIELDS = {
    *("time", "decision", "status", "code", "rule", "method", "host", "path"),
    *("sub", "client_id", "iss", "latency", "request_id"),
    *("event", "level", "reason"),
}


class AuthcheckProcess:
    def __init__(
        self, workdir: Path, config: dict[str, Any], extra_args: tuple[str, ...] = (), grpc: bool = False
    ) -> None:
        """`grpc`: also serve the gRPC ext_authz API, on `grpc_port`."""
        self.workdir = workdir
        self.port = free_port()
        self.grpc_port = free_port() if grpc else None
        self.url = f"http://127.0.0.1:{self.port}"
        self.config_path = workdir / "authcheck.yaml"
        self.config_path.write_text(yaml.safe_dump(config))
        self.log_path = workdir / "authcheck.log"
        self.extra_args = extra_args if self.grpc_port is None else (*extra_args, "--grpc-port", str(self.grpc_port))
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, wait_ready: bool = True) -> AuthcheckProcess:
        with self.log_path.open("ab") as log:
            self._process = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "authcheck",
                    "serve",
                    "--config",
                    str(self.config_path),
                    "--port",
                    str(self.port),
                    *self.extra_args,
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.workdir,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        self.wait_for("/healthz")
        if wait_ready:
            self.wait_for("/readyz")
        return self

    def wait_for(self, path: str, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process is not None and self._process.poll() is not None:
                raise RuntimeError(f"authcheck exited: {self.log()}")
            try:
                if httpx.get(self.url + path, timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"authcheck {path} not 200 after {timeout}s: {self.log()}")

    def verify(
        self,
        method: str = "GET",
        uri: str = "/orders/1",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        verify_method: str = "GET",
        path: str = "/verify",
    ) -> httpx.Response:
        sent = {"X-Forwarded-Method": method, "X-Forwarded-Uri": uri}
        if token is not None:
            sent["Authorization"] = f"Bearer {token}"
        sent.update(headers or {})
        sent = {k: v for k, v in sent.items() if v is not None}
        return httpx.request(verify_method, self.url + path, headers=sent, timeout=10)

    def signal(self, sig: int) -> None:
        assert self._process is not None, "not started"
        self._process.send_signal(sig)

    def wait_exit(self, timeout: float) -> int:
        """The exit code, once the process has ended by itself."""
        assert self._process is not None, "not started"
        return self._process.wait(timeout)

    def reload(self, config: dict[str, Any] | str | None = None) -> None:
        """Write a new config file (a dict as YAML, a str as is) and SIGHUP the server; the
        workers apply it on their own: wait on what the test expects to change."""
        if config is not None:
            self.config_path.write_text(config if isinstance(config, str) else yaml.safe_dump(config))
        self.signal(signal.SIGHUP)

    def events(self, name: str) -> list[dict[str, Any]]:
        """The JSON log lines with this event name, in order."""
        found = []
        for line in self.log().splitlines():
            if f'"{name}"' in line:
                with contextlib.suppress(ValueError):
                    entry = json.loads(line)
                    if entry.get("event") == name:
                        found.append(entry)
        return found

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def workers(self) -> list[int]:
        """The pids of the worker processes uvicorn started (`--workers N`, N > 1)."""
        assert self._process is not None
        found = []
        for stat in Path("/proc").glob("[0-9]*/stat"):
            try:
                parent = int(stat.read_text().rsplit(")", 1)[1].split()[1])
                command = (stat.parent / "cmdline").read_bytes()
            except (OSError, IndexError):
                continue  # gone meanwhile
            if parent == self._process.pid and b"spawn_main" in command:
                found.append(int(stat.parent.name))
        return found

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
