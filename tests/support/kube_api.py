"""A stand-in Kubernetes API server that serves a fixed set of objects, for a controller that
reads the API (Traefik's kubernetesIngressNGINX provider) when no cluster can run here.

It answers what client-go informers ask: `GET` of a collection (a `...List` with every object of
that resource, across namespaces or in one), and a watch on it (`watch=true`), which stays open
and sends nothing; with `sendInitialEvents=true` it first sends each object as `ADDED` and the
bookmark that ends the initial events. Anything else is 404. It never changes an object: a test
builds the objects it needs, starts the server and points the controller's `endpoint` at it.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

RESOURCE_VERSION = "1"


@dataclass(frozen=True)
class Resource:
    """Where a kind lives in the API: `/api/v1/services`, `/apis/networking.k8s.io/v1/ingresses`."""

    api_version: str
    kind: str
    plural: str

    @property
    def prefix(self) -> str:
        return "/api/v1" if self.api_version == "v1" else f"/apis/{self.api_version}"


RESOURCES = (
    Resource("v1", "Service", "services"),
    Resource("v1", "Secret", "secrets"),
    Resource("v1", "ConfigMap", "configmaps"),
    Resource("v1", "Namespace", "namespaces"),
    Resource("networking.k8s.io/v1", "Ingress", "ingresses"),
    Resource("networking.k8s.io/v1", "IngressClass", "ingressclasses"),
    Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices"),
)


@dataclass
class KubeApi:
    objects: Sequence[dict[str, Any]]
    requests: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        api = self
        self._closing = threading.Event()

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                api.requests.append(self.path)
                url = urlsplit(self.path)
                query = {k: v[-1] for k, v in parse_qs(url.query).items()}
                found = api._collection(url.path)
                if found is None:
                    self._send(404, {"kind": "Status", "apiVersion": "v1", "status": "Failure", "code": 404})
                elif query.get("watch") in ("true", "1"):
                    self._watch(found, query.get("sendInitialEvents") == "true")
                else:
                    resource, items = found
                    self._send(
                        200,
                        {
                            "kind": f"{resource.kind}List",
                            "apiVersion": resource.api_version,
                            "metadata": {"resourceVersion": RESOURCE_VERSION},
                            "items": items,
                        },
                    )

            def _send(self, status: int, body: dict[str, Any]) -> None:
                data = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _watch(self, found: tuple[Resource, list[dict[str, Any]]], initial: bool) -> None:
                resource, items = found
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Transfer-Encoding", "chunked")
                self.end_headers()
                if initial:
                    for item in items:
                        self._chunk({"type": "ADDED", "object": item})
                    bookmark = {
                        "kind": resource.kind,
                        "apiVersion": resource.api_version,
                        "metadata": {
                            "resourceVersion": RESOURCE_VERSION,
                            "annotations": {"k8s.io/initial-events-end": "true"},
                        },
                    }
                    self._chunk({"type": "BOOKMARK", "object": bookmark})
                api._closing.wait()  # nothing ever changes: hold the watch open until stop()

            def _chunk(self, event: dict[str, Any]) -> None:
                data = json.dumps(event).encode() + b"\n"
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = int(self.server.server_address[1])
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _collection(self, path: str) -> tuple[Resource, list[dict[str, Any]]] | None:
        """`/<prefix>/<plural>` or `/<prefix>/namespaces/<ns>/<plural>`: that resource's objects."""
        for resource in RESOURCES:
            if not path.startswith(resource.prefix + "/"):
                continue
            rest = path[len(resource.prefix) + 1 :].split("/")
            namespace = None
            if len(rest) == 3 and rest[0] == "namespaces" and rest[2] == resource.plural:
                namespace = rest[1]
            elif rest != [resource.plural]:
                continue
            items = [
                self._stamped(obj)
                for obj in self.objects
                if obj["kind"] == resource.kind
                and obj["apiVersion"] == resource.api_version
                and namespace in (None, obj["metadata"].get("namespace"))
            ]
            return resource, items
        return None

    @staticmethod
    def _stamped(obj: dict[str, Any]) -> dict[str, Any]:
        meta = obj["metadata"]
        uid = f"{obj['kind']}-{meta.get('namespace', '')}-{meta['name']}".lower()
        return {**obj, "metadata": {"resourceVersion": RESOURCE_VERSION, "uid": uid, **meta}}

    def stop(self) -> None:
        self._closing.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
