"""A real OIDC discovery + JWKS server over HTTP, steerable by the tests.

`mode` switches what /jwks answers: "ok", "error" (500), "garbage" (an HTML page),
"slow" (sleeps `delay` seconds first), "empty" (a key set with no keys), "redirect-loop"
(302 to itself), "huge" (a JSON body over authcheck's 1 MiB limit), "flapping" (500 and
the keys, in turn). Every /jwks request is counted. `ok_answers_left`, when set, is how
many more "ok" answers to give before answering 500.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class JwksServer:
    def __init__(self, port: int | None = None, path: str = "/oidc") -> None:
        self.port = port or free_port()
        self.issuer = f"http://127.0.0.1:{self.port}{path}"
        self.keys: list[dict[str, Any]] = []
        self.mode = "ok"
        self.delay = 0.0
        self.cache_control: str | None = None
        self.jwks_fetches = 0
        self.ok_answers_left: int | None = None
        self._lock = threading.Lock()
        self.discovery_issuer: str | None = None  # to serve a document naming another issuer
        self._server: ThreadingHTTPServer | None = None

    def start(self) -> JwksServer:
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                path = self.path.split("?")[0]
                if path.endswith("/.well-known/openid-configuration"):
                    self._json(
                        {"issuer": server.discovery_issuer or server.issuer, "jwks_uri": server.issuer + "/jwks"}
                    )
                elif path.endswith("/jwks"):
                    server.jwks_fetches += 1
                    server._answer_jwks(self)
                else:
                    self.send_error(404)

            def _json(self, body: object, extra: dict[str, str] | None = None) -> None:
                data = json.dumps(body).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                for name, value in (extra or {}).items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(data)

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self._server.daemon_threads = True
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def _answer_jwks(self, handler: Any) -> None:
        if self.mode == "slow":
            time.sleep(self.delay)
        with self._lock:
            refuse = self.ok_answers_left is not None and self.ok_answers_left <= 0
            if self.ok_answers_left is not None and not refuse:
                self.ok_answers_left -= 1
        if self.mode == "error" or refuse or (self.mode == "flapping" and self.jwks_fetches % 2):
            handler.send_error(500)
        elif self.mode == "empty":
            handler._json({"keys": []})
        elif self.mode == "redirect-loop":
            handler.send_response(302)
            handler.send_header("Location", self.issuer + "/jwks")
            handler.send_header("Content-Length", "0")
            handler.end_headers()
        elif self.mode == "huge":
            handler._json({"keys": self.keys, "padding": "x" * (1024 * 1024)})
        elif self.mode == "garbage":
            data = b"<html>not a key set</html>"
            handler.send_response(200)
            handler.send_header("Content-Length", str(len(data)))
            handler.end_headers()
            handler.wfile.write(data)
        else:
            extra = {"Cache-Control": self.cache_control} if self.cache_control else None
            handler._json({"keys": self.keys}, extra)

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
