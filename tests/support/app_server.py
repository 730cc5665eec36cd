"""Runs a Python web app under a real server (gunicorn, uvicorn) in a subprocess, as users deploy it."""

from __future__ import annotations

import http.client
import os
import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path

import httpx

from support.jwks_server import free_port


class AppServer:
    """`server` is "gunicorn" or "uvicorn"; `app` is "module:attribute", imported from `cwd`."""

    def __init__(
        self,
        server: str,
        app: str,
        cwd: Path,
        log_path: Path,
        env: dict[str, str] | None = None,
        options: Sequence[str] = (),
    ) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = log_path
        bind = f"127.0.0.1:{self.port}"
        if server == "gunicorn":
            argv = [sys.executable, "-m", "gunicorn", "--bind", bind, "--chdir", str(cwd), *options, app]
        else:
            argv = [sys.executable, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(self.port), *options, app]
        with log_path.open("ab") as log:
            self._process = subprocess.Popen(
                argv, cwd=cwd, stdout=log, stderr=subprocess.STDOUT, env={**os.environ, **(env or {})}
            )

    def wait_ready(self, timeout: float = 20.0) -> AppServer:
        """Until the server answers any HTTP request."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"the app server exited:\n{self.log()}")
            try:
                httpx.get(self.url + "/", timeout=1)
                return self
            except httpx.HTTPError:
                time.sleep(0.05)
        raise RuntimeError(f"the app server did not answer within {timeout}s:\n{self.log()}")

    def raw(self, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
        """One request with the target sent byte for byte (httpx would resolve `..`)."""
        return raw_request(self.port, method, target, headers)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def stop(self) -> None:
        if self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()


def raw_request(port: int, method: str, target: str, headers: dict[str, str]) -> tuple[int, dict[str, str], bytes]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        connection.putrequest(method, target, skip_host="Host" in headers, skip_accept_encoding=True)
        for name, value in headers.items():
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, response.read()
    finally:
        connection.close()
