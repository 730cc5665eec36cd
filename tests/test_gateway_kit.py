"""The Gateway API kit (k8s/gateway/) checked with real validators, never by eye.

- Every custom resource is validated against the openAPIV3Schema of the CRD its project
  released (vendored in k8s/gateway/crds/, see each SOURCE.md), for its apiVersion and kind,
  with unknown fields rejected as the API server's strict field validation does
  (support/crd_schema.py says how the `x-kubernetes-*` extensions are treated). A misspelled,
  mistyped or out-of-enum field is shown to fail, so the check can fail.
- Core objects (ReferenceGrant's targets, the gRPC port component's output) go through
  kubernetes-validate as tests/test_deploy_files.py does.
- The Envoy bootstraps in envoy/gateway-dataplane/ pass `envoy --mode validate` and say what the
  manifests say (path prefix, headers, timeout, status on error, ports). The HTTP ones also run
  in tests/e2e/test_scenarios.py.
- Traefik is started for real on the kit's static config (kubernetesIngressNGINX provider).
"""

from __future__ import annotations

import copy
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from e2e.harness import REPO, free_port, tool
from support.configs import service_config
from support.crd_schema import CrdVersion, load_crds, validate
from support.jwks_server import JwksServer
from support.service import AuthcheckProcess
from support.tokens import SigningKey, mint
from test_deploy_files import IDENTITY_HEADERS, k8s_validate

KIT = REPO / "k8s/gateway"
DATAPLANE = REPO / "envoy/gateway-dataplane"
CRDS = load_crds(sorted((KIT / "crds").rglob("*.yaml")))
# Files of the kit that are not Kubernetes objects, each checked by its own test below.
NOT_OBJECTS = {
    "grpc-port/kustomization.yaml",  # a kustomize Component
    "istio/istiod-values.yaml",  # Helm values (MeshConfig has no CRD)
    "traefik-ingress-nginx/traefik.yml",  # Traefik static configuration
}
HTTP_PORT, GRPC_PORT = 8080, 9191


def kit_files() -> list[Path]:
    return sorted(p for p in KIT.rglob("*.y*ml") if "crds" not in p.relative_to(KIT).parts)


def objects() -> list[tuple[str, dict[str, Any]]]:
    """(file relative to k8s/gateway, document) for every Kubernetes object in the kit."""
    found = []
    for path in kit_files():
        name = str(path.relative_to(KIT))
        if name not in NOT_OBJECTS:
            found += [(name, doc) for doc in yaml.safe_load_all(path.read_text()) if doc]
    return found


def load(name: str) -> dict[str, Any]:
    [doc] = [doc for doc in yaml.safe_load_all((KIT / name).read_text()) if doc]
    return dict(doc)


def is_custom(doc: dict[str, Any]) -> bool:
    return "." in doc["apiVersion"].split("/")[0]


# --- schema validation -------------------------------------------------------------------------


def test_every_kit_file_is_a_known_object_or_checked_elsewhere() -> None:
    names = {str(p.relative_to(KIT)) for p in kit_files()}
    assert names >= NOT_OBJECTS
    kinds = sorted({doc["kind"] for _, doc in objects()})
    assert kinds == [
        "AuthorizationPolicy",
        "EnvoyFilter",
        "GatewayExtension",
        "HTTPRoute",
        "ReferenceGrant",
        "SecurityPolicy",
        "TrafficPolicy",
    ]


@pytest.mark.parametrize(("name", "doc"), objects(), ids=[f"{n}:{d['kind']}" for n, d in objects()])
def test_manifest_matches_its_released_crd_schema(name: str, doc: dict[str, Any]) -> None:
    if is_custom(doc):
        validate(doc, CRDS)
    else:
        k8s_validate(doc)


def _set(doc: dict[str, Any], path: str, value: Any) -> None:
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[last] = value


def _rename(doc: dict[str, Any], path: str, new: str) -> None:
    *parents, last = path.split(".")
    node: Any = doc
    for part in parents:
        node = node[int(part)] if part.isdigit() else node[part]
    node[new] = node.pop(last)


# (file, how to break it, the field the error must point at)
BREAKAGES = [
    ("envoy-gateway/securitypolicy-http.yaml", ("rename", "spec.extAuth.http.headersToBackend", "headerToBackend")),
    ("envoy-gateway/securitypolicy-grpc.yaml", ("set", "spec.extAuth.statusOnError", 299)),  # not in the enum
    ("istio/authorizationpolicy-http.yaml", ("set", "spec.action", "EXTERNAL")),
    ("istio/authorizationpolicy-grpc.yaml", ("rename", "spec.provider", "providers")),
    ("istio/envoyfilter-reject-underscore-headers.yaml", ("rename", "spec.configPatches.0.applyTo", "apply")),
    ("external-auth-filter/httproute-http.yaml", ("rename", "spec.rules.0.filters.0.externalAuth", "extAuth")),
    ("external-auth-filter/httproute-grpc.yaml", ("set", "spec.rules.0.filters.0.externalAuth.protocol", "HTTPS")),
    ("external-auth-filter/referencegrant.yaml", ("set", "spec.to.0.name", 42)),
    ("kgateway/gatewayextension.yaml", ("rename", "spec.extAuth.grpcService", "grpc")),
    ("kgateway/trafficpolicy.yaml", ("rename", "spec.extAuth.extensionRef", "extensionRefs")),
    ("httproute.yaml", ("rename", "metadata.namespace", "namespce")),
]


@pytest.mark.parametrize(("name", "breakage"), BREAKAGES, ids=[b[0] for b in BREAKAGES])
def test_validator_rejects_a_broken_copy(name: str, breakage: tuple[str, str, Any]) -> None:
    doc = copy.deepcopy(load(name))
    validate(doc, CRDS)  # the shipped one passes
    action, path, value = breakage
    if action == "rename":
        _rename(doc, path, value)
    else:
        _set(doc, path, value)
    with pytest.raises(jsonschema.ValidationError):
        validate(doc, CRDS)


def test_validator_refuses_an_unserved_or_unknown_api_version() -> None:
    policy = copy.deepcopy(load("envoy-gateway/securitypolicy-http.yaml"))
    policy["apiVersion"] = "gateway.envoyproxy.io/v1"
    with pytest.raises(LookupError):
        validate(policy, CRDS)


def test_only_preserve_unknown_fields_objects_stay_open() -> None:
    """The EnvoyFilter patch value is an opaque Envoy config (x-kubernetes-preserve-unknown-fields):
    the API server accepts any field there, so the validator does too; the field next to it is closed."""
    envoy_filter = copy.deepcopy(load("istio/envoyfilter-reject-underscore-headers.yaml"))
    envoy_filter["spec"]["configPatches"][0]["patch"]["value"]["anything"] = True
    validate(envoy_filter, CRDS)
    envoy_filter["spec"]["configPatches"][0]["patch"]["anything"] = True
    with pytest.raises(jsonschema.ValidationError):
        validate(envoy_filter, CRDS)


def test_every_vendored_crd_is_used_and_has_its_source() -> None:
    used = {(doc["apiVersion"], doc["kind"]) for _, doc in objects() if is_custom(doc)}
    sources: set[Path] = {CRDS[key].source for key in used}
    assert sources == set((KIT / "crds").rglob("*.yaml"))
    for folder in (KIT / "crds").iterdir():
        text = (folder / "SOURCE.md").read_text()
        assert re.search(r"tag `[^`]+` \(commit [0-9a-f]{40}", text), folder.name
        assert "License: Apache License 2.0" in text
        for crd in sources:
            if crd.parent == folder:
                assert crd.name in text, crd.name


def test_gateway_api_crd_is_the_experimental_channel() -> None:
    route: CrdVersion = CRDS["gateway.networking.k8s.io/v1", "HTTPRoute"]
    [doc] = yaml.safe_load_all(route.source.read_text())
    assert doc["metadata"]["annotations"]["gateway.networking.k8s.io/channel"] == "experimental"


# --- what the manifests say, across files ----------------------------------------------------


def backend_refs() -> list[tuple[str, dict[str, Any], dict[str, Any]]]:
    """(file, the object, a backendRef to authcheck) for every reference to authcheck in the kit."""
    found = []

    def walk(node: Any, name: str, doc: dict[str, Any]) -> None:
        if isinstance(node, dict):
            if node.get("name") == "authcheck" and "port" in node:
                found.append((name, doc, node))
            for value in node.values():
                walk(value, name, doc)
        elif isinstance(node, list):
            for value in node:
                walk(value, name, doc)

    for name, doc in objects():
        walk(doc.get("spec"), name, doc)
    return found


def test_each_reference_to_authcheck_uses_the_right_port_and_a_reference_grant() -> None:
    refs = backend_refs()
    assert len(refs) == 5  # two SecurityPolicies, two ExternalAuth filters, one GatewayExtension
    grants = [(n, d) for n, d in objects() if d["kind"] == "ReferenceGrant"]
    for name, doc, ref in refs:
        assert ref["port"] == (GRPC_PORT if "grpc" in name or doc["kind"] == "GatewayExtension" else HTTP_PORT), name
        assert ref["namespace"] == "authcheck" != doc["metadata"]["namespace"]
        group = doc["apiVersion"].split("/")[0]
        folder = name.split("/")[0]
        allowed = [
            g
            for n, g in grants
            if n.startswith(folder + "/")
            and g["metadata"]["namespace"] == "authcheck"
            and {"group": group, "kind": doc["kind"], "namespace": doc["metadata"]["namespace"]} in g["spec"]["from"]
            and {"group": "", "kind": "Service", "name": "authcheck"} in g["spec"]["to"]
        ]
        assert allowed, f"{name}: no ReferenceGrant in {folder}/ lets {doc['kind']} reach Service authcheck"


def test_policies_target_the_shared_route() -> None:
    route = load("httproute.yaml")
    target = {"group": "gateway.networking.k8s.io", "kind": "HTTPRoute", "name": route["metadata"]["name"]}
    for name in (
        "envoy-gateway/securitypolicy-http.yaml",
        "envoy-gateway/securitypolicy-grpc.yaml",
        "kgateway/trafficpolicy.yaml",
    ):
        policy = load(name)
        assert policy["spec"]["targetRefs"] == [target], name
        assert policy["metadata"]["namespace"] == route["metadata"]["namespace"], name
    extension = load("kgateway/gatewayextension.yaml")
    traffic = load("kgateway/trafficpolicy.yaml")
    assert traffic["spec"]["extAuth"]["extensionRef"]["name"] == extension["metadata"]["name"]
    assert extension["metadata"]["namespace"] == traffic["metadata"]["namespace"]  # a local reference


def test_identity_headers_are_copied_everywhere_http_is_used() -> None:
    expected = list(IDENTITY_HEADERS)
    assert load("envoy-gateway/securitypolicy-http.yaml")["spec"]["extAuth"]["http"]["headersToBackend"] == expected
    route = load("external-auth-filter/httproute-http.yaml")
    http = route["spec"]["rules"][0]["filters"][0]["externalAuth"]["http"]
    assert http["allowedResponseHeaders"] == expected
    assert http["path"] == "/verify"
    assert istio_provider("authcheck-http")["headersToUpstreamOnAllow"] == expected


def istio_provider(name: str) -> dict[str, Any]:
    values = yaml.safe_load((KIT / "istio/istiod-values.yaml").read_text())
    [provider] = [p for p in values["meshConfig"]["extensionProviders"] if p["name"] == name]
    [(kind, settings)] = [(k, v) for k, v in provider.items() if k != "name"]
    assert kind == {"authcheck-http": "envoyExtAuthzHttp", "authcheck-grpc": "envoyExtAuthzGrpc"}[name]
    return dict(settings)


def test_istio_policies_name_providers_that_istiod_values_define() -> None:
    for protocol, port in (("http", HTTP_PORT), ("grpc", GRPC_PORT)):
        policy = load(f"istio/authorizationpolicy-{protocol}.yaml")
        assert policy["spec"]["action"] == "CUSTOM"
        provider = istio_provider(policy["spec"]["provider"]["name"])
        assert provider["service"] == "authcheck.authcheck.svc.cluster.local"
        assert (provider["port"], provider["failOpen"], provider["statusOnError"]) == (port, False, "503")
    envoy_filter = load("istio/envoyfilter-reject-underscore-headers.yaml")
    assert envoy_filter["spec"]["targetRefs"] == policy["spec"]["targetRefs"]


# --- the data planes ---------------------------------------------------------------------------


def ext_authz(name: str) -> dict[str, Any]:
    config = yaml.safe_load((DATAPLANE / name).read_text())
    [listener] = config["static_resources"]["listeners"]
    chain = listener.get("default_filter_chain") or listener["filter_chains"][0]
    filters = chain["filters"][0]["typed_config"]["http_filters"]
    [found] = [f for f in filters if f["name"].startswith("envoy.filters.http.ext_authz")]
    return dict(found["typed_config"])


def exact(patterns: dict[str, Any]) -> list[str]:
    assert all(p["ignore_case"] for p in patterns["patterns"])
    return [p["exact"] for p in patterns["patterns"]]


@pytest.mark.process  # runs the envoy or traefik binary
@pytest.mark.parametrize("name", sorted(p.name for p in DATAPLANE.glob("*.yaml")))
def test_dataplane_passes_envoy_validate(name: str) -> None:
    result = subprocess.run(
        [tool("envoy"), "--mode", "validate", "-c", str(DATAPLANE / name), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


@pytest.mark.process  # runs the envoy or traefik binary
def test_envoy_validate_rejects_a_broken_dataplane(tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text((DATAPLANE / "istio-http.yaml").read_text().replace("path_prefix:", "path_prefixes:"))
    result = subprocess.run(
        [tool("envoy"), "--mode", "validate", "-c", str(broken), "--disable-hot-restart"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0


def seconds(duration: str) -> float:
    assert duration.endswith("s"), duration
    return float(duration[:-1])


def test_envoy_gateway_dataplane_says_what_the_security_policies_say() -> None:
    for protocol in ("http", "grpc"):
        spec = load(f"envoy-gateway/securitypolicy-{protocol}.yaml")["spec"]["extAuth"]
        config = ext_authz(f"envoy-gateway-{protocol}.yaml")
        assert config["status_on_error"] == {"code": "ServiceUnavailable"} and spec["statusOnError"] == 503
        assert config.get("failure_mode_allow", False) is spec["failOpen"] is False
        if protocol == "http":
            service = config["http_service"]
            assert service["path_prefix"] == spec["http"]["path"]
            assert (
                exact(service["authorization_response"]["allowed_upstream_headers"]) == spec["http"]["headersToBackend"]
            )
            assert exact(config["allowed_headers"]) == spec["headersToExtAuth"]
            assert seconds(service["server_uri"]["timeout"]) == seconds(spec["timeout"])
        else:
            assert seconds(config["grpc_service"]["timeout"]) == seconds(spec["timeout"])
            assert config["grpc_service"]["envoy_grpc"]["authority"].endswith(f":{GRPC_PORT}")


def test_istio_dataplane_says_what_the_extension_providers_say() -> None:
    for protocol in ("http", "grpc"):
        provider = istio_provider(f"authcheck-{protocol}")
        config = ext_authz(f"istio-{protocol}.yaml")
        assert config["status_on_error"] == {"code": "ServiceUnavailable"} and provider["statusOnError"] == "503"
        assert config["filter_enabled_metadata"]["path"] == [{"key": "istio_ext_authz_shadow_effective_policy_id"}]
        if protocol == "http":
            service = config["http_service"]
            assert service["path_prefix"] == provider["pathPrefix"]
            assert service["server_uri"]["cluster"] == f"outbound|{provider['port']}||{provider['service']}"
            response = service["authorization_response"]
            assert exact(response["allowed_upstream_headers"]) == provider["headersToUpstreamOnAllow"]
            assert exact(response["allowed_client_headers"]) == provider["headersToDownstreamOnDeny"]
            assert exact(config["allowed_headers"]) == provider["includeRequestHeadersInCheck"]
            assert seconds(service["server_uri"]["timeout"]) == seconds(provider["timeout"])
        else:
            grpc = config["grpc_service"]
            assert grpc["envoy_grpc"]["cluster_name"] == f"outbound|{provider['port']}||{provider['service']}"
            assert seconds(grpc["timeout"]) == seconds(provider["timeout"])


# --- the gRPC port component -----------------------------------------------------------------


def test_grpc_port_component_adds_a_valid_named_port(tmp_path: Path) -> None:
    """kustomize refuses an overlay inside its base, so the overlay is built next to a copy."""
    shutil.copytree(REPO / "k8s", tmp_path / "k8s", ignore=shutil.ignore_patterns("crds"))
    overlay = tmp_path / "overlay"
    overlay.mkdir()
    (overlay / "kustomization.yaml").write_text("resources: [../k8s]\ncomponents: [../k8s/gateway/grpc-port]\n")
    result = subprocess.run([tool("kubectl"), "kustomize", str(overlay)], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    docs = {doc["kind"]: doc for doc in yaml.safe_load_all(result.stdout) if doc}
    for doc in docs.values():
        k8s_validate(doc)
    [container] = docs["Deployment"]["spec"]["template"]["spec"]["containers"]
    assert container["args"][-2:] == ["--grpc-port", str(GRPC_PORT)]
    assert {"name": "grpc", "containerPort": GRPC_PORT} in container["ports"]
    assert {"name": "grpc", "port": GRPC_PORT, "targetPort": "grpc", "appProtocol": "grpc"} in docs["Service"]["spec"][
        "ports"
    ]
    assert {"protocol": "TCP", "port": GRPC_PORT} in docs["NetworkPolicy"]["spec"]["ingress"][0]["ports"]


# --- Traefik's ingress-nginx provider --------------------------------------------------------


def start_traefik(config: Path, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as out:
        return subprocess.Popen(
            [tool("traefik"), f"--configFile={config}"], stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def traefik_static(tmp_path: Path, text: str) -> Path:
    """The kit's static config on loopback, its provider pointed at a port where no API server runs."""
    text = text.replace('address: ":8000"', f'address: "127.0.0.1:{free_port()}"')
    text = text.replace(
        "  kubernetesIngressNGINX:\n", f'  kubernetesIngressNGINX:\n    endpoint: "http://127.0.0.1:{free_port()}"\n'
    )
    path = tmp_path / "traefik.yml"
    path.write_text(text)
    return path


@pytest.mark.process  # runs the envoy or traefik binary
def test_traefik_accepts_the_ingress_nginx_provider_config(tmp_path: Path) -> None:
    log = tmp_path / "traefik.log"
    process = start_traefik(traefik_static(tmp_path, (KIT / "traefik-ingress-nginx/traefik.yml").read_text()), log)
    try:
        deadline = time.monotonic() + 20
        while "Creating cluster-external Provider client" not in log.read_text(errors="replace"):
            assert process.poll() is None, log.read_text(errors="replace")
            assert time.monotonic() < deadline, log.read_text(errors="replace")
            time.sleep(0.05)
        assert process.poll() is None
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=10)
    problems = [line for line in log.read_text(errors="replace").splitlines() if re.search(r" (WRN|FTL) ", line)]
    assert problems == []


@pytest.mark.process  # runs the envoy or traefik binary
def test_traefik_rejects_a_misspelled_provider_option(tmp_path: Path) -> None:
    text = (KIT / "traefik-ingress-nginx/traefik.yml").read_text().replace("ingressClass: nginx", "ingressClas: nginx")
    log = tmp_path / "traefik.log"
    process = start_traefik(traefik_static(tmp_path, text), log)
    assert process.wait(timeout=20) != 0
    assert "field not found, node: ingressClas" in log.read_text(errors="replace")


# --- NGINX Gateway Fabric's HTTP check request ----------------------------------------------


@pytest.mark.parametrize("ingress", ["envoy", "auto"])
def test_ngf_style_check_is_refused_not_guessed(
    ingress: str, jwks: JwksServer, keys: dict[str, SigningKey], start_service: Callable[..., AuthcheckProcess]
) -> None:
    """NGINX Gateway Fabric (main, PR #5145) sends `GET <http.path>` with the original request in
    `Path:` and `Method:` headers, which authcheck does not read: it must refuse (403), never
    take the bare /verify for the path `/` (docs/gateway-api.md says so; change both together)."""
    config = service_config(jwks.issuer)
    config["ingress"] = ingress
    service = start_service(config)
    token = mint(keys["ES384"], jwks.issuer)
    answer = service.verify(
        method=None,  # type: ignore[arg-type]
        uri=None,  # type: ignore[arg-type]
        token=token,
        headers={"Path": "/orders/1", "Method": "GET", "Host": "app.example.com"},
    )
    assert answer.status_code == 403, answer.text
    assert answer.json()["code"] == "auth.request_rejected"
    # The same request in X-Forwarded-* (Envoy path_override) is allowed: the 403 is the shape's.
    control = service.verify(method="GET", uri="/orders/1", token=token)
    assert control.status_code == 200, control.text
