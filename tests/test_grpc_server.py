"""The gRPC edge in-process: a real grpc.aio server over a real Service (keys from a real JWKS
server), asked through a real grpc.aio channel, as Envoy's ext_authz filter asks it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from envoy.config.core.v3.base_pb2 import HeaderValue, HeaderValueOption
from envoy.service.auth.v3 import external_auth_pb2_grpc
from envoy.service.auth.v3.attribute_context_pb2 import AttributeContext
from envoy.service.auth.v3.external_auth_pb2 import CheckRequest, CheckResponse
from google.protobuf.json_format import MessageToDict
from grpc_health.v1 import health_pb2, health_pb2_grpc
from support.configs import service_config
from support.jwks_server import JwksServer, free_port
from support.log_lines import capture_json_lines
from support.metrics import value
from support.tokens import SigningKey, mint

from authcheck.config.file import parse_config
from authcheck.core.gate import Decision
from authcheck.service.app import Service
from authcheck.service.grpc_server import AUTHORIZATION_SERVICE, serving_grpc

REALM = 'Bearer realm="authcheck"'
IDENTITY = ("x-auth-subject", "x-auth-issuer", "x-auth-scopes", "x-auth-client-id", "x-auth-organization-id")
OK, UNAUTHENTICATED, PERMISSION_DENIED, UNAVAILABLE = 0, 16, 7, 14


class Edge:
    """A running gRPC edge and a channel to it."""

    def __init__(self, service: Service, channel: grpc.aio.Channel) -> None:
        self.service = service
        self.channel = channel

    async def check(
        self,
        path: str = "/orders/1",
        method: str = "GET",
        host: str = "api.example.com",
        token: str | None = None,
        headers: dict[str, str] | None = None,
        header_map: list[tuple[str, str]] | None = None,
    ) -> CheckResponse:
        sent = {"authorization": f"Bearer {token}"} if token else {}
        http = AttributeContext.HttpRequest(method=method, path=path, host=host, headers={**sent, **(headers or {})})
        if header_map is not None:
            http.ClearField("headers")
            http.header_map.headers.extend(HeaderValue(key=k, raw_value=v.encode()) for k, v in header_map)
        request = CheckRequest(attributes=AttributeContext(request=AttributeContext.Request(http=http)))
        return await external_auth_pb2_grpc.AuthorizationStub(self.channel).Check(request, timeout=10)

    async def health(self, service: str = "") -> int:
        stub = health_pb2_grpc.HealthStub(self.channel)
        answer = await stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=10)
        return int(answer.status)


def run(config: dict[str, Any], test: Callable[[Edge], Awaitable[None]], wait_ready: bool = True) -> None:
    """Serve `config` on a free port and run `test` against it, all on one event loop."""

    async def main() -> None:
        service = Service(parse_config(config), decision_log="all")
        service.key_store.start()
        port = free_port()
        try:
            async with serving_grpc(service, "127.0.0.1", port), grpc.aio.insecure_channel(f"127.0.0.1:{port}") as ch:
                edge = Edge(service, ch)
                if wait_ready:
                    await _until_serving(edge)
                await test(edge)
        finally:
            await service.key_store.close()

    asyncio.run(main())


async def _until_serving(edge: Edge, timeout: float = 10.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while await edge.health() != health_pb2.HealthCheckResponse.SERVING:
        assert asyncio.get_running_loop().time() < deadline, "keys never became usable"
        await asyncio.sleep(0.05)


def headers_of(options: Any) -> dict[str, str]:
    return {option.header.key: option.header.value for option in options}


def canonical(removed: Any) -> list[str]:
    """headers_to_remove without the dotted spellings (x.auth.email), which it always lists."""
    return [name for name in removed if "." not in name]


def body_of(answer: CheckResponse) -> dict[str, str]:
    return json.loads(answer.denied_response.body)


@pytest.fixture
def config(jwks: JwksServer) -> dict[str, Any]:
    return service_config(jwks.issuer)


def test_allowed_carries_identity_overwriting_and_removes_the_rest(
    config: dict[str, Any], jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, sub="alice", email="alice@example.com")

    async def test(edge: Edge) -> None:
        answer = await edge.check("/orders/42?x=1", token=token, headers={"x-request-id": "req-7"})
        assert answer.status.code == OK
        assert headers_of(answer.ok_response.headers) == {
            "x-auth-subject": "alice",
            "x-auth-issuer": jwks.issuer,
            "x-auth-scopes": "profile read:orders",
            "x-auth-client-id": "client-1",
            "x-auth-email": "alice@example.com",
        }
        actions = {option.append_action for option in answer.ok_response.headers}
        assert actions == {HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD}
        assert canonical(answer.ok_response.headers_to_remove) == ["x-auth-organization-id"]
        metadata = MessageToDict(answer.dynamic_metadata)
        assert metadata == {"sub": "alice", "client_id": "client-1", "iss": jwks.issuer, "rule": "orders-read"}
        assert not answer.HasField("denied_response")

    run(config, test)


def test_anonymous_route_without_token_removes_every_identity_header(config: dict[str, Any]) -> None:
    async def test(edge: Edge) -> None:
        answer = await edge.check("/public/x", token="not-a-jwt")
        assert answer.status.code == OK
        assert list(answer.ok_response.headers) == []
        assert sorted(canonical(answer.ok_response.headers_to_remove)) == sorted([*IDENTITY, "x-auth-email"])
        assert MessageToDict(answer.dynamic_metadata) == {"rule": "public"}

    run(config, test)


def test_the_remove_pseudo_header_is_never_sent_as_a_header(
    config: dict[str, Any], jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, client_id=None)

    async def test(edge: Edge) -> None:
        answer = await edge.check(token=token)
        assert answer.status.code == OK
        assert "x-envoy-auth-headers-to-remove" not in headers_of(answer.ok_response.headers)
        expected = ["x-auth-client-id", "x-auth-organization-id", "x-auth-email"]
        assert sorted(canonical(answer.ok_response.headers_to_remove)) == sorted(expected)

    run(config, test)


@pytest.mark.parametrize(
    ("headers", "code", "challenge"),
    [
        ({}, "auth.authorization_header_missing", REALM),
        ({"authorization": "Basic dXNlcjpwYXNz"}, "auth.authorization_token_type_not_supported", None),
        ({"authorization": "Bearer a.b.c"}, "invalid_token", None),
        ({"authorization": "Bearer one, Bearer two"}, "auth.authorization_token_invalid_format", None),
    ],
    ids=["missing", "basic-scheme", "invalid-token", "comma-joined-duplicates"],
)
def test_401_is_unauthenticated_with_the_verify_answer(
    config: dict[str, Any], headers: dict[str, str], code: str, challenge: str | None
) -> None:
    async def test(edge: Edge) -> None:
        answer = await edge.check(headers=headers)
        assert answer.status.code == UNAUTHENTICATED
        denied = answer.denied_response
        assert denied.status.code == 401
        assert body_of(answer)["code"] == code
        sent = headers_of(denied.headers)
        assert sent["content-type"] == "application/json"
        assert "content-length" not in sent  # Envoy sizes the body itself
        assert sent["www-authenticate"] == challenge or sent["www-authenticate"].startswith(
            f'{REALM}, error="invalid_token"'
        )
        assert not answer.HasField("ok_response")

    run(config, test)


def test_repeated_authorization_in_header_map_is_invalid_format(config: dict[str, Any]) -> None:
    """With `encode_raw_headers`, Envoy sends every header line apart, in header_map."""

    async def test(edge: Edge) -> None:
        answer = await edge.check(header_map=[("authorization", "Bearer one"), ("Authorization", "Bearer two")])
        assert answer.status.code == UNAUTHENTICATED
        assert body_of(answer)["code"] == "auth.authorization_token_invalid_format"

    run(config, test)


def test_header_map_token_is_read(config: dict[str, Any], jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    token = mint(keys["ES384"], jwks.issuer)

    async def test(edge: Edge) -> None:
        answer = await edge.check(header_map=[("authorization", f"Bearer {token}"), ("x-other", "1")])
        assert answer.status.code == OK

    run(config, test)


@pytest.mark.parametrize(
    ("path", "host", "claims", "code", "challenge"),
    [
        ("/orders/1", "api.example.com", {"scope": "profile"}, "auth.insufficient_scope", "insufficient_scope"),
        ("/admin/x", "ADMIN.example.com:8443", {}, "auth.insufficient_scope", "insufficient_scope"),
        ("/nothing", "api.example.com", {}, "auth.route_denied", None),
    ],
    ids=["missing-scope", "host-rule-port-and-case-ignored", "no-rule"],
)
def test_403_is_permission_denied(
    config: dict[str, Any],
    jwks: JwksServer,
    keys: dict[str, SigningKey],
    path: str,
    host: str,
    claims: dict[str, str],
    code: str,
    challenge: str | None,
) -> None:
    token = mint(keys["ES384"], jwks.issuer, **claims)

    async def test(edge: Edge) -> None:
        answer = await edge.check(path, host=host, token=token)
        assert answer.status.code == PERMISSION_DENIED
        assert answer.denied_response.status.code == 403
        assert body_of(answer)["code"] == code
        sent = headers_of(answer.denied_response.headers).get("www-authenticate")
        assert (sent is None) if challenge is None else (f'error="{challenge}"' in sent)

    run(config, test)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/public/..%2Forders/1", "GET"),
        ("/public/%2e%2e%2forders/1", "GET"),
        ("/../orders/1", "GET"),
        ("/public/x#/../../orders/1", "GET"),
        ("*", "OPTIONS"),
        ("", "GET"),
        ("/orders/1", "GET, POST"),
    ],
    ids=["encoded-slash", "encoded-traversal", "above-root", "raw-fragment", "asterisk-form", "empty", "method-list"],
)
def test_ambiguous_request_is_refused_like_verify(config: dict[str, Any], path: str, method: str) -> None:
    async def test(edge: Edge) -> None:
        answer = await edge.check(path, method=method)
        assert answer.status.code == PERMISSION_DENIED
        assert body_of(answer)["code"] == "auth.request_rejected"

    run(config, test)


def test_path_is_normalized_and_query_ignored(config: dict[str, Any], jwks: JwksServer) -> None:
    async def test(edge: Edge) -> None:
        # /public/../orders/1 is /orders/1 to every upstream: it needs a token.
        answer = await edge.check("/public/%2e%2e/orders/1")
        assert answer.status.code == UNAUTHENTICATED
        # A query naming a public path changes nothing.
        answer = await edge.check("/orders/1?next=/public/x")
        assert answer.status.code == UNAUTHENTICATED
        answer = await edge.check("//public//x?a=b")
        assert answer.status.code == OK

    run(config, test)


def test_head_denial_has_no_body(config: dict[str, Any]) -> None:
    async def test(edge: Edge) -> None:
        answer = await edge.check(method="HEAD")
        assert answer.status.code == UNAUTHENTICATED
        assert answer.denied_response.body == ""
        assert headers_of(answer.denied_response.headers)["www-authenticate"] == REALM

    run(config, test)


def test_keys_unavailable_is_unavailable_with_retry_after(keys: dict[str, SigningKey]) -> None:
    issuer = f"http://127.0.0.1:{free_port()}/oidc"  # nothing listens there
    config = service_config(issuer, jwks_uri=f"http://127.0.0.1:{free_port()}/jwks")
    token = mint(keys["ES384"], issuer)

    async def test(edge: Edge) -> None:
        assert await edge.health() == health_pb2.HealthCheckResponse.NOT_SERVING
        answer = await edge.check(token=token)
        assert answer.status.code == UNAVAILABLE
        assert answer.denied_response.status.code == 503
        assert body_of(answer)["code"] == "auth.keys_unavailable"
        assert int(headers_of(answer.denied_response.headers)["retry-after"]) > 0
        assert (await edge.check("/public/x")).status.code == OK  # anonymous rules keep answering

    run(config, test, wait_ready=False)


def test_a_failure_to_decide_is_a_503_denial_not_an_rpc_error(config: dict[str, Any]) -> None:
    async def test(edge: Edge) -> None:
        def broken(*_: object) -> Decision:  # a bug cannot be had on demand: this stands in for one
            raise RuntimeError("a bug")

        edge.service.gate.decide_for = broken  # type: ignore[method-assign]
        logged = capture_json_lines()
        answer = await edge.check()
        assert answer.status.code == UNAVAILABLE
        assert answer.denied_response.status.code == 503
        assert body_of(answer)["code"] == "auth.internal_error"
        assert "retry-after" in headers_of(answer.denied_response.headers)
        assert [entry["event"] for entry in logged()] == ["internal_error", "decision"]

    run(config, test)


def test_decisions_are_counted_and_logged_like_verify(
    config: dict[str, Any], jwks: JwksServer, keys: dict[str, SigningKey]
) -> None:
    token = mint(keys["ES384"], jwks.issuer, sub="alice")

    async def test(edge: Edge) -> None:
        logged = capture_json_lines()
        await edge.check(token=token, headers={"x-request-id": "req-1"})
        await edge.check()
        decisions = [entry for entry in logged() if entry["event"] == "decision"]
        assert [(d["decision"], d["status"], d["code"]) for d in decisions] == [
            ("allow", 200, "ok"),
            ("deny", 401, "auth.authorization_header_missing"),
        ]
        assert decisions[0] | {"latency": 0} == decisions[0] | {
            "sub": "alice",
            "client_id": "client-1",
            "iss": jwks.issuer,
            "rule": "orders-read",
            "method": "GET",
            "host": "api.example.com",
            "path": "/orders/1",
            "request_id": "req-1",
            "latency": 0,
        }
        assert token not in repr(logged())
        counted = edge.service.metrics.render().decode()
        assert value(counted, "authcheck_decisions_total", status="200", code="ok") == 1
        assert value(counted, "authcheck_decisions_total", status="401", code="auth.authorization_header_missing") == 1

    run(config, test)


def test_health_watch_streams_the_status_then_its_change(config: dict[str, Any]) -> None:
    unreachable = f"http://127.0.0.1:{free_port()}/oidc"  # nothing listens there: never any keys

    async def test(edge: Edge) -> None:
        stub = health_pb2_grpc.HealthStub(edge.channel)
        watch = stub.Watch(health_pb2.HealthCheckRequest(service=AUTHORIZATION_SERVICE))
        first = await asyncio.wait_for(watch.read(), timeout=10)
        assert first.status == health_pb2.HealthCheckResponse.SERVING
        # A reload to an issuer whose keys cannot be had: the stream says so, unasked.
        edge.service.apply(parse_config(service_config(unreachable, jwks_uri=f"{unreachable}/jwks")))
        second = await asyncio.wait_for(watch.read(), timeout=10)
        assert second.status == health_pb2.HealthCheckResponse.NOT_SERVING
        watch.cancel()

        unknown = stub.Watch(health_pb2.HealthCheckRequest(service="some.other.Service"))
        answer = await asyncio.wait_for(unknown.read(), timeout=10)
        assert answer.status == health_pb2.HealthCheckResponse.SERVICE_UNKNOWN  # on the stream, not an error
        unknown.cancel()

    run(config, test)


def test_health_serving_when_keys_are_ready_and_unknown_service_not_found(config: dict[str, Any]) -> None:
    async def test(edge: Edge) -> None:
        assert await edge.health() == health_pb2.HealthCheckResponse.SERVING
        assert await edge.health("envoy.service.auth.v3.Authorization") == health_pb2.HealthCheckResponse.SERVING
        with pytest.raises(grpc.aio.AioRpcError) as error:
            await edge.health("some.other.Service")
        assert error.value.code() == grpc.StatusCode.NOT_FOUND

    run(config, test)
