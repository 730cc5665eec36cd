"""Static checks of the shipped deployment files, each with the real tool that reads them.

nginx -t, caddy validate, envoy --mode validate, Traefik started for real, kubectl kustomize
with kubernetes-validate (strict), hadolint, and the image's install steps replayed in a fresh
venv. Each validator is also shown to reject a broken copy, so these checks can fail.
A missing tool is a failure that says what to install, never a skip.
"""

from __future__ import annotations

import copy
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import kubernetes_validate
import pytest
import yaml
from e2e.harness import REPO, RecordingServer, nginx_main_conf, start_proxy, tool

pytestmark = pytest.mark.process  # runs nginx, caddy, envoy, Traefik, hadolint, kubectl

IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Issuer",
    "X-Auth-Scopes",
    "X-Auth-Client-Id",
    "X-Auth-Organization-Id",
    "X-Auth-Email",
)
K8S_VERSIONS = ("1.30.0", "1.37.0")  # the oldest still commonly run, and the newest the validator knows
CRD_KINDS = {"Middleware", "IngressRoute"}  # Traefik's: no schema in kubernetes-validate
SERVE_ARGS = ["serve", "--config", "/etc/authcheck/authcheck.yaml", "--host", "0.0.0.0", "--port", "8080"]


def run(
    *command: str, cwd: Path = REPO, env: dict[str, str] | None = None, timeout: float = 300
) -> subprocess.CompletedProcess[str]:
    try:
        return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as error:
        pytest.fail(f"cannot run {command[0]}: {error}")


def need(name: str) -> str:
    try:
        return tool(name)
    except RuntimeError as error:
        pytest.fail(str(error))


def load_all(path: str) -> list[dict[str, Any]]:
    return [doc for doc in yaml.safe_load_all((REPO / path).read_text()) if doc]


# --- Kubernetes --------------------------------------------------------------------------------


def kustomize() -> list[dict[str, Any]]:
    result = run(need("kubectl"), "kustomize", "k8s")
    assert result.returncode == 0, result.stderr
    return [doc for doc in yaml.safe_load_all(result.stdout) if doc]


def k8s_validate(doc: dict[str, Any]) -> None:
    """Strict schema validation against every K8S_VERSIONS; an unknown kind is an error too."""
    if doc["kind"] in CRD_KINDS:
        return
    for version in K8S_VERSIONS:
        try:
            kubernetes_validate.validate(doc, version, strict=True)
        except kubernetes_validate.SchemaNotFoundError as error:
            raise AssertionError(error.message) from None


def by_kind(docs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {doc["kind"]: doc for doc in docs}


def test_k8s_manifests_pass_strict_schema_validation() -> None:
    docs = kustomize()
    assert sorted(by_kind(docs)) == [
        "ConfigMap",
        "Deployment",
        "HorizontalPodAutoscaler",
        "Namespace",
        "NetworkPolicy",
        "PodDisruptionBudget",
        "Service",
    ]
    for doc in docs:
        k8s_validate(doc)


@pytest.mark.parametrize("breakage", ["unknown-field", "wrong-type", "missing-required"])
def test_k8s_validator_rejects_a_broken_deployment(breakage: str) -> None:
    deployment = copy.deepcopy(by_kind(kustomize())["Deployment"])
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    if breakage == "unknown-field":
        container["readinessProbes"] = container.pop("readinessProbe")
    elif breakage == "wrong-type":
        container["securityContext"]["runAsNonRoot"] = "yes"
    else:
        del deployment["spec"]["selector"]
    with pytest.raises(kubernetes_validate.ValidationError):
        k8s_validate(deployment)


def test_k8s_deployment_is_hardened_and_runs_the_documented_command() -> None:
    docs = by_kind(kustomize())
    deployment = docs["Deployment"]
    pod = deployment["spec"]["template"]["spec"]
    [container] = pod["containers"]
    assert deployment["spec"]["replicas"] >= 2
    assert container["command"] + container["args"] == ["authcheck", *SERVE_ARGS]
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert set(container["resources"]) == {"requests", "limits"}
    assert pod["securityContext"]["runAsNonRoot"] is True
    assert pod["securityContext"]["seccompProfile"] == {"type": "RuntimeDefault"}
    assert container["securityContext"] == {
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": True,
        "capabilities": {"drop": ["ALL"]},
    }
    config_map = docs["ConfigMap"]
    [volume] = [v for v in pod["volumes"] if "configMap" in v]
    assert volume["configMap"]["name"] == config_map["metadata"]["name"]
    assert set(yaml.safe_load(config_map["data"]["authcheck.yaml"])) <= {
        "issuers",
        "rules",
        "default",
        "headers",
        "ingress",
        "cache",
    }
    assert docs["HorizontalPodAutoscaler"]["spec"]["minReplicas"] >= 2
    [rule] = docs["NetworkPolicy"]["spec"]["ingress"]
    assert rule["ports"] == [{"protocol": "TCP", "port": 8080}]
    assert all(set(peer) == {"namespaceSelector"} for peer in rule["from"])  # namespaces, not IPs


def test_k8s_config_passes_authcheck_check() -> None:
    result = run(sys.executable, "-m", "authcheck", "check", "--config", "k8s/authcheck.yaml")
    assert result.returncode == 0, result.stdout + result.stderr


def test_ingress_nginx_manifests_validate_and_copy_every_identity_header() -> None:
    docs = load_all("ingress-nginx/ingress.yaml")
    for doc in docs:
        k8s_validate(doc)
    ingress, config_map = by_kind(docs)["Ingress"], by_kind(docs)["ConfigMap"]
    notes = ingress["metadata"]["annotations"]
    prefix = "nginx.ingress.kubernetes.io/"
    copied = [h.strip() for h in notes[prefix + "auth-response-headers"].split(",")]
    assert copied == list(IDENTITY_HEADERS)
    assert notes[prefix + "auth-url"].endswith("/verify")
    namespace, name = notes[prefix + "auth-proxy-set-headers"].split("/")
    assert (namespace, name) == (config_map["metadata"]["namespace"], config_map["metadata"]["name"])
    assert config_map["data"]["X-Forwarded-Method"] == "$request_method"
    assert config_map["data"]["X-Forwarded-Uri"] == "$request_uri"
    if prefix + "auth-cache-key" in notes:  # a cache keyed without both would share decisions
        assert "$http_authorization" in notes[prefix + "auth-cache-key"]
        assert "$request_uri" in notes[prefix + "auth-cache-key"]


# --- Dockerfile --------------------------------------------------------------------------------


def hadolint(dockerfile: Path) -> subprocess.CompletedProcess[str]:
    return run(need("hadolint"), "--no-color", "--failure-threshold", "style", str(dockerfile))


def test_dockerfile_passes_hadolint() -> None:
    result = hadolint(REPO / "Dockerfile")
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_careless_dockerfile(tmp_path: Path) -> None:
    bad = tmp_path / "Dockerfile"
    bad.write_text("FROM python:latest\nRUN pip install authcheck\n")
    result = hadolint(bad)
    assert result.returncode != 0
    assert "DL3007" in result.stdout  # the `latest` tag


def dockerfile_stages() -> list[list[str]]:
    """The Dockerfile's instructions (continuations joined), grouped by stage."""
    text = re.sub(r"\\\n", " ", (REPO / "Dockerfile").read_text())
    stages: list[list[str]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        if line.upper().startswith("FROM "):
            stages.append([])
        stages[-1].append(line)
    return stages


def test_image_runs_as_the_user_the_deployment_expects() -> None:
    final = dockerfile_stages()[-1]
    assert "USER 10001:10001" in final
    assert 'ENTRYPOINT ["authcheck"]' in final
    assert not any("curl" in line or "wget" in line for line in final)
    pod = by_kind(kustomize())["Deployment"]["spec"]["template"]["spec"]
    assert (pod["securityContext"]["runAsUser"], pod["securityContext"]["runAsGroup"]) == (10001, 10001)


def final_stage_install() -> tuple[dict[str, str], list[list[str]]]:
    """The final stage's install RUN: its bind mounts (target -> `from:source`, or the context
    path) and its `pip` commands, in order."""
    [line] = [line for line in dockerfile_stages()[-1] if line.startswith("RUN ") and "pip install" in line]
    words = shlex.split(line)[1:]
    mounts: dict[str, str] = {}
    while words[0].startswith("--mount="):
        options = dict(item.split("=", 1) for item in words.pop(0).removeprefix("--mount=").split(","))
        assert options["type"] == "bind", options
        mounts[options["target"]] = f"{options['from']}:{options['source']}" if "from" in options else options["source"]
    commands: list[list[str]] = [[]]
    for word in words:
        if word == "&&":
            commands.append([])
        else:
            commands[-1].append(word)
    return mounts, [command for command in commands if command[0] == "pip"]


def test_image_installs_the_runtime_lock_then_the_wheel_alone() -> None:
    """The image runs the versions CI tested: the hash-checked runtime lock, then the wheel with
    no dependency resolution of its own, then `pip check` (the lock covers what the wheel needs)."""
    mounts, pips = final_stage_install()
    lock_target = next(target for target, source in mounts.items() if source == "requirements/runtime.lock")
    assert pips[0][:2] == ["pip", "install"]
    assert "--require-hashes" in pips[0] and pips[0][pips[0].index("-r") + 1] == lock_target
    assert pips[1][:2] == ["pip", "install"] and "--no-deps" in pips[1]
    assert pips[1][-1].endswith(".whl") and mounts[pips[1][-1].rsplit("/", 1)[0]] == "builder:/src/dist"
    assert pips[2] == ["pip", "check"]


def test_image_install_steps_work_in_a_clean_venv(tmp_path: Path) -> None:
    """Replay the builder stage (its COPY sources, its `pip wheel` line), then the final stage's
    pip commands in a fresh venv, with its bind mounts pointed at the same files, and run the
    console script."""
    builder = dockerfile_stages()[0]
    src = tmp_path / "src"
    src.mkdir()
    for line in builder:
        if line.startswith("COPY "):
            *sources, _dest = shlex.split(line)[1:]
            for source in sources:
                assert (REPO / source).exists(), f"the Dockerfile copies {source}, which does not exist"
                if (REPO / source).is_dir():
                    shutil.copytree(REPO / source, src / source, ignore=shutil.ignore_patterns("__pycache__"))
                else:
                    shutil.copy(REPO / source, src / source)
    [wheel_line] = [line for line in builder if line.startswith("RUN pip wheel ")]
    wheel = run(sys.executable, "-m", *shlex.split(wheel_line)[1:], cwd=src)
    assert wheel.returncode == 0, wheel.stdout + wheel.stderr

    mounts, pips = final_stage_install()
    local = {
        target: str(src / source.removeprefix("builder:/src/") if source.startswith("builder:") else REPO / source)
        for target, source in mounts.items()
    }

    def mounted(arg: str) -> list[str]:
        for target, path in local.items():
            if arg == target:
                return [path]
            if arg.startswith(target + "/"):
                found = sorted(str(p) for p in Path(path).glob(arg[len(target) + 1 :]))
                assert len(found) == 1, (arg, found)
                return found
        return [arg]

    venv = tmp_path / "venv"
    # The clean venv must see only what it installed, not this tree through PYTHONPATH.
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    created = run(sys.executable, "-m", "venv", str(venv), env=clean)
    assert created.returncode == 0, created.stderr
    python, script = str(venv / "bin/python"), str(venv / "bin/authcheck")
    for pip in pips:
        args = [mapped for arg in pip[1:] for mapped in mounted(arg)]
        result = run(python, "-m", "pip", *args, "--disable-pip-version-check", env=clean)
        assert result.returncode == 0, f"{pip}: {result.stdout[-3000:]}{result.stderr[-3000:]}"
    for command in ([script, "--help"], [python, "-m", "authcheck", "--help"]):
        result = run(*command, cwd=tmp_path, env=clean)
        assert result.returncode == 0, f"{command}: {result.stdout}{result.stderr}"
        assert "serve" in result.stdout


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_image_healthcheck_command(status: int, healthy: bool) -> None:
    [healthcheck] = [line for line in dockerfile_stages()[-1] if line.startswith("HEALTHCHECK ")]
    command = json.loads(healthcheck[healthcheck.index("CMD ") + 4 :])
    assert command[0] == "python"
    server = RecordingServer(lambda seen: (status if seen.path == "/healthz" else 404, [], b""))
    try:
        result = run(sys.executable, *command[1:], env={"AUTHCHECK_PORT": str(server.port)}, timeout=10)
    finally:
        server.stop()
    assert (result.returncode == 0) is healthy, result.stderr


# --- nginx -------------------------------------------------------------------------------------


def nginx_t(workdir: Path, example: str) -> subprocess.CompletedProcess[str]:
    """nginx -t on the shipped files laid out as on Debian: conf.d/ and snippets/."""
    (workdir / "conf.d").mkdir()
    (workdir / "snippets").mkdir()
    (workdir / "conf.d/example.conf").write_text(example)
    shutil.copy(REPO / "nginx/authcheck.conf", workdir / "snippets/authcheck.conf")
    conf = nginx_main_conf(workdir)
    return run(need("nginx"), "-t", "-p", str(workdir), "-c", str(conf), "-e", str(workdir / "nginx.log"))


def test_nginx_example_passes_nginx_t(tmp_path: Path) -> None:
    result = nginx_t(tmp_path, (REPO / "nginx/example.conf").read_text())
    assert result.returncode == 0, result.stderr


def test_nginx_t_rejects_a_broken_example(tmp_path: Path) -> None:
    broken = (REPO / "nginx/example.conf").read_text().replace("auth_request /_authcheck;", "auth_request;")
    assert nginx_t(tmp_path, broken).returncode != 0


def test_nginx_example_overwrites_every_identity_header() -> None:
    example = (REPO / "nginx/example.conf").read_text()
    for header in IDENTITY_HEADERS:
        assert re.search(rf"^\s*proxy_set_header\s+{header}\s", example, re.M), header
        variable = "$upstream_http_" + header.lower().replace("-", "_")
        assert variable in example, variable
    snippet = (REPO / "nginx/authcheck.conf").read_text()
    for directive in (r"internal", r"proxy_pass_request_body\s+off", r"proxy_http_version\s+1\.1"):
        assert re.search(rf"^\s*{directive};", snippet, re.M), directive


# --- Caddy -------------------------------------------------------------------------------------


def caddy(*args: str, tmp_path: Path) -> subprocess.CompletedProcess[str]:
    env = {
        "HOME": str(tmp_path),
        "XDG_CONFIG_HOME": str(tmp_path),
        "XDG_DATA_HOME": str(tmp_path),
        "PATH": "/usr/bin:/bin",
    }
    return run(need("caddy"), *args, env=env)


def test_caddyfile_validates_and_is_formatted(tmp_path: Path) -> None:
    result = caddy("validate", "--config", "caddy/Caddyfile", "--adapter", "caddyfile", tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    formatted = caddy("fmt", "caddy/Caddyfile", tmp_path=tmp_path)
    assert formatted.stdout == (REPO / "caddy/Caddyfile").read_text()


def test_caddy_validate_rejects_a_broken_caddyfile(tmp_path: Path) -> None:
    broken = tmp_path / "Caddyfile"
    broken.write_text(
        (REPO / "caddy/Caddyfile").read_text().replace("response_header_timeout 3s", "response_header_timeout soon")
    )
    result = caddy("validate", "--config", str(broken), "--adapter", "caddyfile", tmp_path=tmp_path)
    assert result.returncode != 0


def test_caddy_copies_every_identity_header_and_times_out(tmp_path: Path) -> None:
    adapted = caddy("adapt", "--config", "caddy/Caddyfile", "--adapter", "caddyfile", tmp_path=tmp_path)
    assert adapted.returncode == 0, adapted.stderr
    config = adapted.stdout
    for header in IDENTITY_HEADERS:
        assert f"{{http.reverse_proxy.header.{header}}}" in config, header
    assert '"response_header_timeout":3000000000' in config
    assert '"dial_timeout":2000000000' in config


# --- Envoy -------------------------------------------------------------------------------------


def envoy_validate(path: Path) -> subprocess.CompletedProcess[str]:
    return run(need("envoy"), "--mode", "validate", "-c", str(path), "--disable-hot-restart")


@pytest.mark.parametrize("shipped", ["envoy/envoy.yaml", "envoy/envoy-grpc.yaml"])
def test_envoy_config_validates(shipped: str) -> None:
    result = envoy_validate(REPO / shipped)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]


def test_envoy_validate_rejects_a_broken_config(tmp_path: Path) -> None:
    broken = tmp_path / "envoy.yaml"
    shipped = (REPO / "envoy/envoy.yaml").read_text()
    broken.write_text(shipped.replace("code: ServiceUnavailable", "code: Nope"))
    assert envoy_validate(broken).returncode != 0


def test_envoy_strips_client_identity_headers_before_asking_authcheck() -> None:
    [config] = load_all("envoy/envoy.yaml")
    [listener] = config["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert (manager["normalize_path"], manager["merge_slashes"]) == (True, True)
    assert manager["path_with_escaped_slashes_action"] == "REJECT_REQUEST"
    filters = manager["http_filters"]
    assert [f["name"].rsplit(".", 1)[-1] for f in filters] == ["header_mutation", "ext_authz", "router"]
    mutations = filters[0]["typed_config"]["mutations"]["request_mutations"]
    removed = [m["remove"] for m in mutations if "remove" in m]
    [dotted] = [m["remove_on_match"]["key_matcher"]["safe_regex"]["regex"] for m in mutations if "remove_on_match" in m]
    assert all(re.fullmatch(dotted, h.lower().replace("-", ".")) for h in IDENTITY_HEADERS)
    ext_authz = filters[1]["typed_config"]
    answer = ext_authz["http_service"]["authorization_response"]
    allowed = [p["exact"] for p in answer["allowed_upstream_headers"]["patterns"]]
    assert removed == allowed == [h.lower() for h in IDENTITY_HEADERS]
    to_client = {p["exact"] for p in answer["allowed_client_headers"]["patterns"]}
    assert {"www-authenticate", "content-type", "retry-after"} <= to_client
    assert ext_authz["status_on_error"] == {"code": "ServiceUnavailable"}
    assert ext_authz["http_service"]["path_prefix"] == "/verify"
    assert all("exact" in p for p in ext_authz["allowed_headers"]["patterns"])


def test_envoy_grpc_asks_over_http2_and_fails_closed() -> None:
    """Over gRPC no filter strips the client's identity headers: authcheck's answer overwrites
    and removes them (tests/e2e). Underscored names, which no answer can remove, are refused."""
    [config] = load_all("envoy/envoy-grpc.yaml")
    [listener] = config["static_resources"]["listeners"]
    manager = listener["filter_chains"][0]["filters"][0]["typed_config"]
    assert (manager["normalize_path"], manager["merge_slashes"]) == (True, True)
    assert manager["common_http_protocol_options"]["headers_with_underscores_action"] == "REJECT_REQUEST"
    filters = manager["http_filters"]
    assert [f["name"].rsplit(".", 1)[-1] for f in filters] == ["ext_authz", "router"]
    ext_authz = filters[0]["typed_config"]
    assert ext_authz["transport_api_version"] == "V3"
    assert ext_authz["failure_mode_allow"] is False
    assert ext_authz["status_on_error"] == {"code": "ServiceUnavailable"}
    assert "http_service" not in ext_authz
    cluster_name = ext_authz["grpc_service"]["envoy_grpc"]["cluster_name"]
    [cluster] = [c for c in config["static_resources"]["clusters"] if c["name"] == cluster_name]
    options = cluster["typed_extension_protocol_options"]["envoy.extensions.upstreams.http.v3.HttpProtocolOptions"]
    assert "http2_protocol_options" in options["explicit_http_config"]


# --- Traefik -----------------------------------------------------------------------------------

EXPECTED_FORWARD_AUTH = {
    "trustForwardHeader": False,
    "authRequestHeaders": ["Authorization", "X-Request-Id"],
    "authResponseHeadersRegex": "^X-Auth-",
    "maxResponseBodySize": 16384,
}


def without_address(forward_auth: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in forward_auth.items() if k != "address"}


def test_traefik_forward_auth_is_the_same_in_every_form() -> None:
    [dynamic] = load_all("traefik/dynamic.yml")
    forward_auth = dynamic["http"]["middlewares"]["authcheck"]["forwardAuth"]
    assert without_address(forward_auth) == EXPECTED_FORWARD_AUTH
    assert dynamic["http"]["routers"]["app"]["middlewares"] == ["authcheck"]

    middleware = by_kind(load_all("traefik/kubernetes.yaml"))["Middleware"]
    assert without_address(middleware["spec"]["forwardAuth"]) == EXPECTED_FORWARD_AUTH

    [compose] = load_all("traefik/docker-compose.labels.yml")
    labels = dict(label.split("=", 1) for label in compose["services"]["app"]["labels"])
    prefix = "traefik.http.middlewares.authcheck.forwardauth."
    from_labels = {k[len(prefix) :]: v for k, v in labels.items() if k.startswith(prefix)}
    assert from_labels.pop("address") == "http://authcheck:8080/verify"
    assert from_labels == {
        "trustForwardHeader": "false",
        "authRequestHeaders": "Authorization,X-Request-Id",
        "authResponseHeadersRegex": "^X-Auth-",
        "maxResponseBodySize": "16384",
    }
    assert labels["traefik.http.routers.app.middlewares"] == "authcheck"
    assert "ports" not in compose["services"]["authcheck"]


def test_traefik_loads_the_shipped_config_without_warnings(tmp_path: Path) -> None:
    """Traefik has no validate command: start it from the shipped files and read its log."""
    auth = RecordingServer(lambda seen: (401, [("WWW-Authenticate", "Bearer")], b""))
    proxy = None
    try:
        proxy = start_proxy("traefik", tmp_path, auth_port=auth.port, upstream_port=auth.port)
        assert proxy.request("GET", "/anything").status == 401
    except RuntimeError as error:
        pytest.fail(str(error))
    finally:
        if proxy is not None:
            proxy.stop()
        auth.stop()
    problems = [line for line in proxy.log_text().splitlines() if re.search(r" (WRN|ERR|FTL) ", line)]
    assert problems == []
