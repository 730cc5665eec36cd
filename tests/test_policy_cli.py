"""`authcheck test`, `authcheck schema` and `explain`'s captures, as users run them (real processes)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from support.configs import service_config
from support.jwks_server import JwksServer
from support.tokens import SigningKey, mint
from test_cli import authcheck, write_config

from authcheck.config.file import ConfigError, parse_config
from authcheck.config.json_schema import config_json_schema

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
CONFIGS = Path(__file__).parent / "configs"


def test_shipped_examples_pass_their_policy_tests() -> None:
    """CI runs the example's golden cases: the README's and docs' example config stays true."""
    result = authcheck("test", "--config", str(EXAMPLES / "authcheck.yaml"), str(EXAMPLES / "authcheck.cases.yaml"))
    assert result.returncode == 0, result.stdout + result.stderr
    lines = result.stdout.strip().splitlines()
    assert all(line.startswith("PASS ") for line in lines[:-1])
    cases = yaml.safe_load((EXAMPLES / "authcheck.cases.yaml").read_text())["cases"]
    assert lines[-1] == f"{len(cases)} passed, 0 failed"


def test_shipped_example_checks_without_warnings() -> None:
    result = authcheck("check", "--config", str(EXAMPLES / "authcheck.yaml"))
    assert result.returncode == 0 and "warning" not in result.stdout


def write_cases(tmp_path: Path, cases: list[dict[str, Any]] | str) -> str:
    path = tmp_path / "cases.yaml"
    path.write_text(cases if isinstance(cases, str) else yaml.safe_dump({"cases": cases}))
    return str(path)


ISS = "https://tenant.logto.app/oidc"
READER = {"iss": ISS, "aud": "https://api.example.com", "sub": "alice", "scope": "read:orders"}


def test_failing_case_says_what_was_expected_and_got(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_config(ISS, token_type="at+jwt", algorithms=["RS256", "ES384"]))
    cases = [
        {
            "name": "reader",
            "request": {"method": "GET", "uri": "/orders/7"},
            "token": READER,
            "expect": {"status": 200},
        },
        {
            "name": "wrongly hopeful",
            "request": {"method": "DELETE", "uri": "/orders/7"},
            "token": READER,
            "expect": {"status": 200, "rule": "orders-read"},
        },
    ]
    result = authcheck("test", "--config", config, write_cases(tmp_path, cases))
    assert result.returncode == 1
    assert result.stdout.splitlines() == [
        "PASS reader",
        "FAIL wrongly hopeful: expected status 200, rule orders-read, got status 403, code auth.route_denied, rule (none)",
        "1 passed, 1 failed",
    ]


def test_token_is_signed_with_the_first_allowed_algorithm_and_typ(tmp_path: Path) -> None:
    """An issuer allowing only RS256 and requiring at+jwt still gets tokens it accepts."""
    config = write_config(tmp_path, service_config(ISS, token_type="at+jwt", algorithms=["RS256"]))
    case = {
        "name": "rs256",
        "request": {"method": "GET", "uri": "/orders/7"},
        "token": READER,
        "expect": {"status": 200},
    }
    expired = {**case, "name": "expired", "token": {**READER, "exp": 1000}, "expect": {"code": "invalid_token"}}
    result = authcheck("test", "--config", config, write_cases(tmp_path, [case, expired]))
    assert result.returncode == 0, result.stdout


def test_token_of_an_unconfigured_issuer_is_refused(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_config(ISS))
    case = {
        "name": "stranger",
        "request": {"method": "GET", "uri": "/orders/7"},
        "token": {**READER, "iss": "https://evil.example/oidc"},
        "expect": {"status": 401, "code": "invalid_token"},
    }
    assert authcheck("test", "--config", config, write_cases(tmp_path, [case])).returncode == 0


@pytest.mark.parametrize(
    ("cases", "words"),
    [
        ([{"name": "x", "request": {"method": "GET"}, "expect": {"status": 200}}], "cases[0] (x).request.uri"),
        (
            [{"name": "x", "request": {"method": "GET", "uri": "/"}, "expect": {"stat": 200}}],
            "cases[0] (x).expect.stat",
        ),
        ([{"name": "x", "request": {"method": "GET", "uri": "/"}}], "cases[0] (x).expect: is missing"),
        ([{"request": {"method": "GET", "uri": "/"}, "expect": {"status": 200}}], "cases[0].name"),
        ("cases: [", "YAML syntax error"),
        ("rules: []", "has no `cases:` list"),
    ],
)
def test_bad_cases_file_is_one_line_naming_case_and_key(tmp_path: Path, cases: Any, words: str) -> None:
    config = write_config(tmp_path, service_config(ISS))
    result = authcheck("test", "--config", config, write_cases(tmp_path, cases))
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and words in result.stderr, result.stderr
    assert "Traceback" not in result.stderr


def test_missing_cases_file_is_one_line(tmp_path: Path) -> None:
    config = write_config(tmp_path, service_config(ISS))
    result = authcheck("test", "--config", config, str(tmp_path / "nowhere.yaml"))
    assert result.returncode == 2 and "nowhere.yaml: file not found; check the CASES path" in result.stderr


def test_explain_shows_captured_values(tmp_path: Path, jwks: JwksServer, keys: dict[str, SigningKey]) -> None:
    config = service_config(jwks.issuer)
    config["rules"].insert(
        0,
        {"name": "orgs", "match": {"paths": ["/orgs/{org}/**"]}, "claims": {"organization_id": "{org}"}},
    )
    token = mint(keys["ES384"], jwks.issuer, organization_id="acme")
    args = ("explain", "--config", write_config(tmp_path, config), "--method", "GET", "--token", token)
    allowed = authcheck(*args, "--uri", "/orgs/acme/projects")
    assert allowed.returncode == 0 and "captures: {org}=acme" in allowed.stdout
    denied = authcheck(*args, "--uri", "/orgs/globex/projects")
    assert denied.returncode == 1 and "captures: {org}=globex" in denied.stdout


# ---------------------------------------------------------------------------- authcheck schema

VALID: list[dict[str, Any]] = [
    yaml.safe_load((EXAMPLES / "authcheck.yaml").read_text()),
    yaml.safe_load((CONFIGS / "full.yaml").read_text()),
    {"issuers": [{"issuer": ISS, "audiences": "https://api.example.com"}]},
    {
        "issuers": [{"issuer": ISS, "audiences": ["a"], "leeway": 0}],
        "rules": [{"name": "t", "match": {"hosts": ["{t}.example.com"]}, "audiences": ["urn:{t}"]}],
        "cache": {"max_entries": 0, "max_ttl": 1},
    },
]
_ISSUER = {"issuer": ISS, "audiences": ["a"]}
INVALID: list[dict[str, Any]] = [
    {},
    {"issuers": []},
    {"issuers": [{"issuer": ISS}]},
    {"issuers": [{**_ISSUER, "leeway": 301}]},
    {"issuers": [{**_ISSUER, "algorithms": ["HS256"]}]},
    {"issuers": [{**_ISSUER, "refresh": 5}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "allow": "anonymous", "scopes": ["x"]}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "allow": "anonymous", "clients": ["x"]}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {"paths": ["orders"]}, "allow": "anonymous"}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "allow": "everyone"}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "allow": "anonymous", "report_only": "yes"}]},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "allow": "anonymous", "extra": 1}]},
    {"issuers": [_ISSUER], "default": "allow"},
    {"issuers": [_ISSUER], "headers": {"Email": "email"}},
    {"issuers": [_ISSUER], "cache": {"max_ttl": 0}},
    {"issuers": [_ISSUER], "ingress": "haproxy"},
    {"issuers": [_ISSUER], "rules": [{"name": "r", "match": {}, "scopes": ["read orders"]}]},
]


def checks(data: dict[str, Any]) -> bool:
    try:
        parse_config(data)
    except ConfigError:
        return False
    return True


@pytest.mark.parametrize("data", VALID)
def test_schema_accepts_what_check_accepts(data: dict[str, Any]) -> None:
    assert checks(data)
    jsonschema.Draft202012Validator(config_json_schema()).validate(data)


@pytest.mark.parametrize("data", INVALID)
def test_schema_refuses_what_check_refuses(data: dict[str, Any]) -> None:
    assert not checks(data)
    assert not jsonschema.Draft202012Validator(config_json_schema()).is_valid(data)


def test_schema_command_prints_a_valid_draft_2020_12_schema() -> None:
    result = authcheck("schema")
    assert result.returncode == 0
    schema = json.loads(result.stdout)
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    jsonschema.Draft202012Validator.check_schema(schema)
    assert set(schema["$defs"]["rule"]["properties"]) >= {"clients", "report_only", "audiences", "claims"}
