"""examples/: each library-mode example runs under the server users deploy it with
(gunicorn for Flask and Django, uvicorn for FastAPI) against a real JWKS server, and
answers real HTTP requests carrying minted tokens."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import yaml
from support.app_server import AppServer
from support.jwks_server import JwksServer
from support.tokens import SigningKey, mint, new_key

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"

StartApp = Callable[..., AppServer]


@pytest.fixture
def start_example(tmp_path: Path, jwks: JwksServer) -> Iterator[StartApp]:
    """Serves one example with its own authcheck.yaml, the issuer swapped for the test's."""
    started: list[AppServer] = []

    def start(example: str, server: str, app: str, options: tuple[str, ...] = ()) -> AppServer:
        config = yaml.safe_load((EXAMPLES / example / "authcheck.yaml").read_text())
        config["issuers"][0]["issuer"] = jwks.issuer
        config_path = tmp_path / f"{example}.yaml"
        config_path.write_text(yaml.safe_dump(config))
        app_server = AppServer(
            server,
            app,
            EXAMPLES / example,
            tmp_path / f"{example}.log",
            env={"AUTHCHECK_CONFIG": str(config_path)},
            options=options,
        )
        started.append(app_server)
        return app_server.wait_ready()

    yield start
    for app_server in started:
        app_server.stop()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def code_of(response: httpx.Response) -> str:
    return str(response.json()["code"])


def test_flask_guide_under_gunicorn_with_forked_workers(
    start_example: StartApp, jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    # --preload: the Guard is built in the master and forked into both workers, whose
    # key threads must start again there.
    app = start_example("flask_guide", "gunicorn", "app:app", ("--workers", "2", "--threads", "4", "--preload"))
    key = keys["ES384"]
    reader = mint(key, jwks.issuer, scope="read:orders")
    writer = mint(key, jwks.issuer, scope="read:orders write:orders", organization_id="org-7")

    assert httpx.get(app.url + "/api/public").json() == {"hello": "anonymous"}
    assert httpx.get(app.url + "/api/public", headers=bearer(reader)).json() == {"hello": "user-1"}

    missing = httpx.get(app.url + "/api/orders")
    assert missing.status_code == 401 and code_of(missing) == "auth.authorization_header_missing"
    assert missing.headers["www-authenticate"] == 'Bearer realm="authcheck"'

    with ThreadPoolExecutor(8) as pool:  # both workers, several threads each
        answers = list(pool.map(lambda _: httpx.get(app.url + "/api/orders", headers=bearer(reader)), range(40)))
    assert {a.status_code for a in answers} == {200}
    assert answers[0].json() == {"orders": [], "user": "user-1"}

    lacking = httpx.post(app.url + "/api/orders", headers=bearer(reader))
    assert lacking.status_code == 403 and code_of(lacking) == "auth.insufficient_scope"
    assert 'scope="write:orders"' in lacking.headers["www-authenticate"]

    created = httpx.post(app.url + "/api/orders", headers=bearer(writer))
    assert created.status_code == 201
    assert created.json() == {"created": True, "user": "user-1", "organization": "org-7"}

    # A key rotated in after start: the unknown kid makes each worker refresh once.
    rotated = new_key("ES384", kid="rotated-1")
    jwks.keys = [*jwks.keys, rotated.public_jwk]
    new_token = mint(rotated, jwks.issuer, scope="read:orders")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda _: httpx.get(app.url + "/api/orders", headers=bearer(new_token)), range(16)))
    assert {a.status_code for a in answers} == {200}


def test_fastapi_app_under_uvicorn(start_example: StartApp, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    app = start_example("fastapi_app", "uvicorn", "app:app")
    key = keys["ES384"]
    reader = mint(key, jwks.issuer, scope="read:orders")
    writer = mint(key, jwks.issuer, scope="write:orders")

    openapi = httpx.get(app.url + "/openapi.json").json()
    assert openapi["components"]["securitySchemes"]["authcheck"] == {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "An access token from one of the issuers in authcheck's config.",
    }
    assert openapi["paths"]["/api/orders"]["post"]["security"] == [{"authcheck": []}]

    assert httpx.get(app.url + "/api/public").json() == {"hello": "anonymous"}
    missing = httpx.get(app.url + "/api/orders")  # the middleware: the rules
    assert missing.status_code == 401 and code_of(missing) == "auth.authorization_header_missing"
    assert httpx.get(app.url + "/api/orders", headers=bearer(reader)).json() == {"orders": [], "user": "user-1"}

    lacking = httpx.post(app.url + "/api/orders", headers=bearer(reader))  # the dependency: its scope
    assert lacking.status_code == 403 and lacking.json() == {
        "error": "insufficient_scope",
        "code": "auth.insufficient_scope",
        "message": "The token lacks the scope write:orders.",
    }
    assert 'scope="write:orders"' in lacking.headers["www-authenticate"]
    created = httpx.post(app.url + "/api/orders", headers=bearer(writer))
    assert created.status_code == 201 and created.json() == {
        "created": True,
        "user": "user-1",
        "scopes": ["write:orders"],
    }


def test_django_app_under_gunicorn(start_example: StartApp, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    app = start_example("django_app", "gunicorn", "wsgi:application", ("--threads", "4"))
    key = keys["ES384"]
    reader = mint(key, jwks.issuer, scope="read:orders")
    writer = mint(key, jwks.issuer, scope="write:orders")

    assert httpx.get(app.url + "/api/public").json() == {"hello": "anonymous"}
    missing = httpx.get(app.url + "/api/orders")
    assert missing.status_code == 401 and code_of(missing) == "auth.authorization_header_missing"
    assert missing.headers["content-type"] == "application/json"
    assert httpx.get(app.url + "/api/orders", headers=bearer(reader)).json() == {"orders": [], "user": "user-1"}

    unrouted = httpx.get(app.url + "/admin/", headers=bearer(reader))  # no rule: denied before URL resolution
    assert unrouted.status_code == 403 and code_of(unrouted) == "auth.route_denied"

    lacking = httpx.post(app.url + "/api/orders", headers=bearer(reader))
    assert lacking.status_code == 403 and code_of(lacking) == "auth.insufficient_scope"
    created = httpx.post(app.url + "/api/orders", headers=bearer(writer))
    assert created.status_code == 201 and json.loads(created.content) == {"created": True, "user": "user-1"}
