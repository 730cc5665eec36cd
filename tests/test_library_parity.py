"""SPEC, "Library mode": for one config, token and request, library mode and /verify give
the same status and code. One corpus of requests (valid, expired, wrong audience,
wrong scope, no token, an anonymous route with a bad token, a denied route, path
tricks) goes to /verify of a real `authcheck serve` and to each framework's app served
by a real server (gunicorn for Flask and Django, uvicorn for Starlette and FastAPI)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml
from support.app_server import AppServer
from support.configs import service_config
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import AUDIENCE, SigningKey, mint, new_key

APPS = Path(__file__).resolve().parent / "library_apps"
HOST = "app.example.com"

FRAMEWORKS = {
    "flask": ("gunicorn", "flask_app:app", ("--threads", "4")),
    "starlette": ("uvicorn", "starlette_app:app", ()),
    "fastapi": ("uvicorn", "fastapi_app:app", ()),
    "django": ("gunicorn", "django_app:application", ("--threads", "4")),
    "django-asgi": ("uvicorn", "django_app:asgi_application", ()),
}

# (name, method, raw target, host, Authorization value or a token kind, expected status)
Case = tuple[str, str, str, str, str | None, int]
CORPUS: list[Case] = [
    ("valid token", "GET", "/orders/1", HOST, "token:valid", 200),
    ("expired token", "GET", "/orders/1", HOST, "token:expired", 401),
    ("wrong audience", "GET", "/orders/1", HOST, "token:wrong_audience", 401),
    ("wrong scope", "GET", "/orders/1", HOST, "token:profile_only", 403),
    ("no token", "GET", "/orders/1", HOST, None, 401),
    ("unknown kid", "GET", "/me/x", HOST, "token:unknown_kid", 401),
    ("not bearer", "GET", "/me/x", HOST, "Basic dXNlcjpwYXNz", 401),
    ("two credentials", "GET", "/me/x", HOST, "Bearer a.b.c, Bearer d.e.f", 401),
    ("anonymous route, bad token", "GET", "/public/x", HOST, "Bearer not-a-jwt", 200),
    ("anonymous route, no token", "GET", "/public/x", HOST, None, 200),
    ("anonymous preflight", "OPTIONS", "/orders/1", HOST, None, 200),
    ("route denied", "POST", "/orders/1", HOST, "token:valid", 403),
    ("query ignored", "GET", "/orders/1?x=/public/y", HOST, None, 401),
    ("dot-dot out of public", "GET", "/public/../admin", HOST, None, 403),
    ("encoded dot-dot into me", "GET", "/public/%2e%2e/me/x", HOST, None, 401),
    ("encoded dot-dot, valid token", "GET", "/public/%2e%2e/me/x", HOST, "token:valid", 200),
    ("encoded slash", "GET", "/public/..%2Fadmin", HOST, None, 403),
    ("encoded slash, plain", "GET", "/a%2Fb", HOST, "token:valid", 403),
    ("path parameter", "GET", "/public/a;b", HOST, None, 403),
    ("double slash", "GET", "//public/x", HOST, None, 200),
    ("admin host, no admin scope", "GET", "/x", "admin.example.com", "token:valid", 403),
    ("admin host, admin scope", "GET", "/x", "admin.example.com", "token:admin", 200),
    ("admin host with port", "GET", "/x", "ADMIN.example.com:8443", "token:admin", 200),
]


def tokens(jwks: JwksServer, key: SigningKey) -> dict[str, str]:
    stranger = new_key("ES384", kid="never-published")
    return {
        "valid": mint(key, jwks.issuer, scope="read:orders profile"),
        "expired": mint(key, jwks.issuer, iat=1_000_000, exp=1_000_600),
        "wrong_audience": mint(key, jwks.issuer, aud=AUDIENCE + "/other"),
        "profile_only": mint(key, jwks.issuer, scope="profile"),
        "unknown_kid": mint(stranger, jwks.issuer),
        "admin": mint(key, jwks.issuer, scope="admin"),
    }


def authorization_of(value: str | None, minted: dict[str, str]) -> str | None:
    if value is not None and value.startswith("token:"):
        return "Bearer " + minted[value.removeprefix("token:")]
    return value


def code_of(body: bytes) -> str | None:
    """The denial's code; None for an allowed request (whatever the app answered)."""
    if not body:
        return None
    document = json.loads(body)
    return document.get("code") if isinstance(document, dict) else None


@pytest.fixture
def config_path(tmp_path: Path, jwks: JwksServer) -> Path:
    path = tmp_path / "authcheck.yaml"
    path.write_text(yaml.safe_dump(service_config(jwks.issuer)))
    return path


@pytest.mark.parametrize("framework", sorted(FRAMEWORKS))
def test_library_mode_answers_as_verify_does(
    framework: str,
    tmp_path: Path,
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    config_path: Path,
    start_service: Callable[..., AuthcheckProcess],
) -> None:
    service = start_service(service_config(jwks.issuer))
    server, app_name, options = FRAMEWORKS[framework]
    app = AppServer(
        server,
        app_name,
        APPS,
        tmp_path / f"{framework}.log",
        env={"AUTHCHECK_CONFIG": str(config_path)},
        options=options,
    )
    minted = tokens(jwks, keys["ES384"])
    try:
        app.wait_ready()
        mismatches = []
        for name, method, target, host, authorization, expected in CORPUS:
            sent = authorization_of(authorization, minted)
            headers = {"Host": host, **({"Authorization": sent} if sent else {})}
            verify_headers = {"X-Forwarded-Host": host, **({"Authorization": sent} if sent else {})}
            verified = service.verify(method, target, headers=verify_headers)
            status, _, body = app.raw(method, target, headers)
            seen = (verified.status_code, code_of(verified.content), status, code_of(body))
            if verified.status_code != expected or seen[:2] != seen[2:]:
                mismatches.append(f"{name}: /verify {seen[:2]}, {framework} {seen[2:]}, expected {expected}")
        assert not mismatches, "\n".join(mismatches) + "\n" + app.log()[-2000:]
    finally:
        app.stop()
