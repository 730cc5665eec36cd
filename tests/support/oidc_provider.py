"""A real OpenID Connect provider for the tests: oidc-provider (the engine Logto is built
on), run with Node.js from tests/oidc_provider/ on 127.0.0.1.

It issues client_credentials tokens for API resources (RFC 8707 resource indicators) as
JWT access tokens (RFC 9068, ``typ: at+jwt``), signed with the algorithm each resource
names (ES384 is Logto's default). Everything is configured from here:

    keys = [ec_key("ec-1"), rsa_key("rsa-1")]
    with OidcProvider(tmp_path, keys=keys,
                      clients=[Client("svc", "secret", ["read:orders"])],
                      resources=[Resource("https://api.example.com", ["read:orders"])]) as op:
        token = op.token("svc", "secret", "https://api.example.com", "read:orders")
        op.restart(keys=[ec_key("ec-2"), *keys])   # rotation: the new key signs first

Needs ``node`` on PATH and ``npm ci --prefix tests/oidc_provider``; without them
start() raises OidcProviderError (a failure, never a skip: CI must have them).
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import time
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any
from urllib.parse import quote

import httpx
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

NODE_PROJECT = Path(__file__).resolve().parent.parent / "oidc_provider"
INSTALL_HINT = "npm ci --prefix tests/oidc_provider"


class OidcProviderError(RuntimeError):
    """The provider could not be started, or refused a request."""


def ec_key(kid: str | None = None) -> dict[str, Any]:
    """A new EC P-384 private key as a JWK for ES384 (Logto's default)."""
    jwk = ECAlgorithm.to_jwk(ec.generate_private_key(ec.SECP384R1()), as_dict=True)
    return _signing_jwk(jwk, kid or f"ec-{uuid.uuid4().hex[:8]}", "ES384")


def rsa_key(kid: str | None = None) -> dict[str, Any]:
    """A new RSA 2048 private key as a JWK for RS256."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = RSAAlgorithm.to_jwk(key, as_dict=True)
    return _signing_jwk(jwk, kid or f"rsa-{uuid.uuid4().hex[:8]}", "RS256")


def _signing_jwk(jwk: dict[str, Any], kid: str, alg: str) -> dict[str, Any]:
    # PyJWT marks RSA private JWKs key_ops ["sign"]; oidc-provider 8 looks up the signing
    # key of a JWT access token as a key for "verify", and so would not find it.
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, "alg": alg, "use": "sig"}


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    scopes: Sequence[str] = ()  # the scopes it may ask for; none: any a resource has
    claims: Mapping[str, Any] = field(default_factory=dict)  # extra claims in its tokens

    def metadata(self) -> dict[str, Any]:
        """oidc-provider's client metadata."""
        metadata = {"client_id": self.client_id, "client_secret": self.client_secret}
        if self.scopes:
            metadata["scope"] = " ".join(self.scopes)
        return metadata


@dataclass(frozen=True)
class Resource:
    indicator: str  # the API resource indicator: the tokens' `aud`
    scopes: Sequence[str] = ()
    alg: str = "ES384"  # needs a key with this `alg` in the provider's keys
    ttl: int = 3600  # seconds

    def info(self) -> dict[str, Any]:
        """oidc-provider's resource server info (features.resourceIndicators)."""
        return {
            "scope": " ".join(self.scopes),
            "accessTokenFormat": "jwt",
            "accessTokenTTL": self.ttl,
            "jwt": {"sign": {"alg": self.alg}},
        }


@dataclass
class OidcProvider:
    workdir: Path
    keys: list[dict[str, Any]]  # private JWKs; the first one of an alg signs
    clients: list[Client]
    resources: list[Resource]
    port: int = 0  # 0: a free port, kept across restarts
    path: str = "/oidc"  # the issuer's path, as Logto's
    startup_timeout: float = 20.0
    _process: subprocess.Popen[bytes] | None = field(default=None, init=False, repr=False)
    _log: IO[bytes] | None = field(default=None, init=False, repr=False)
    _discovery: dict[str, Any] | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir)
        if not self.port:
            self.port = free_port()

    @property
    def issuer(self) -> str:
        return f"http://127.0.0.1:{self.port}{self.path}"

    @property
    def log_path(self) -> Path:
        return self.workdir / "oidc-provider.log"

    # -- process -------------------------------------------------------------------

    def start(self) -> OidcProvider:
        if self._process is not None:
            raise OidcProviderError("the OIDC provider is already running")
        node = shutil.which("node")
        if node is None:
            raise OidcProviderError("Node.js (`node`) is not on PATH: the OIDC provider tests need it")
        if not (NODE_PROJECT / "node_modules" / "oidc-provider" / "package.json").is_file():
            raise OidcProviderError(f"oidc-provider is not installed: run `{INSTALL_HINT}`")

        self.workdir.mkdir(parents=True, exist_ok=True)
        config = self.workdir / "oidc-provider.json"
        config.write_text(json.dumps(self._config(), indent=2))
        self._log = self.log_path.open("ab")
        self._process = subprocess.Popen(
            [node, str(NODE_PROJECT / "provider.mjs"), str(config)],
            cwd=NODE_PROJECT,
            stdin=subprocess.PIPE,  # the provider exits when this closes
            stdout=self._log,
            stderr=subprocess.STDOUT,
        )
        try:
            self._wait_ready()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is not None:
            process.terminate()
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            if process.stdin is not None:
                process.stdin.close()
        if self._log is not None:
            self._log.close()
            self._log = None
        self._discovery = None

    def restart(
        self,
        keys: list[dict[str, Any]] | None = None,
        clients: list[Client] | None = None,
        resources: list[Resource] | None = None,
    ) -> None:
        """Stop and start again on the same port (same issuer), with what is given changed."""
        self.stop()
        if keys is not None:
            self.keys = keys
        if clients is not None:
            self.clients = clients
        if resources is not None:
            self.resources = resources
        self.start()

    def __enter__(self) -> OidcProvider:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _config(self) -> dict[str, Any]:
        return {
            "host": "127.0.0.1",
            "port": self.port,
            "issuer": self.issuer,
            "jwks": {"keys": self.keys},
            "clients": [client.metadata() for client in self.clients],
            "claims": {client.client_id: dict(client.claims) for client in self.clients if client.claims},
            "resources": {r.indicator: r.info() for r in self.resources},
        }

    def _wait_ready(self) -> None:
        assert self._process is not None
        url = f"{self.issuer}/.well-known/openid-configuration"
        deadline = time.monotonic() + self.startup_timeout
        while True:
            if self._process.poll() is not None:
                raise OidcProviderError(
                    f"the OIDC provider exited with code {self._process.returncode}:\n{self.log_tail()}"
                )
            try:
                response = httpx.get(url, timeout=1.0, trust_env=False)
                if response.status_code == 200:
                    self._discovery = response.json()
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise OidcProviderError(
                    f"the OIDC provider did not answer {url} within {self.startup_timeout}s:\n{self.log_tail()}"
                )
            time.sleep(0.05)

    def log_tail(self, lines: int = 40) -> str:
        if not self.log_path.exists():
            return "(no log)"
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    # -- protocol ------------------------------------------------------------------
    # (trust_env=False: requests to 127.0.0.1 never go through an HTTP(S)_PROXY.)

    @property
    def discovery(self) -> dict[str, Any]:
        if self._discovery is None:
            raise OidcProviderError("the OIDC provider is not running")
        return self._discovery

    def jwks(self) -> dict[str, Any]:
        """The public key set, fetched over HTTP from the discovery's jwks_uri."""
        response = httpx.get(self.discovery["jwks_uri"], timeout=5.0, trust_env=False)
        response.raise_for_status()
        return response.json()

    def token_response(self, client_id: str, client_secret: str, **params: str) -> httpx.Response:
        """POST a client_credentials request (client_secret_basic); params as sent."""
        return httpx.post(
            self.discovery["token_endpoint"],
            data={"grant_type": "client_credentials", **params},
            auth=(quote(client_id, safe=""), quote(client_secret, safe="")),  # RFC 6749 2.3.1
            timeout=5.0,
            trust_env=False,
        )

    def token(self, client_id: str, client_secret: str, resource: str, scope: str = "") -> str:
        """A JWT access token for `resource` with the space-separated `scope`."""
        params = {"resource": resource}
        if scope:
            params["scope"] = scope
        response = self.token_response(client_id, client_secret, **params)
        if response.status_code != 200:
            raise OidcProviderError(f"token request refused ({response.status_code}): {response.text}")
        return response.json()["access_token"]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]
