"""`authcheck test`'s cases file: golden decisions, read and checked (pure).

Each case names a request, what the caller presents (claims to sign, a raw Authorization
header, or nothing) and what must come out. A mistake stops the run with one line naming
the case and the key, as `check` does for the config.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, NoReturn

from authcheck.config.file import ConfigError, read_document
from authcheck.config.schema import KeyPath, LineOf, Problem, render_path

_CASE_KEYS = ("name", "request", "token", "authorization", "expect")
_REQUEST_KEYS = ("method", "uri", "host")
_EXPECT_KEYS = ("status", "code", "rule")


@dataclass(frozen=True, slots=True)
class CaseRequest:
    method: str
    uri: str  # path and query, as the proxy forwards it
    host: str | None = None


@dataclass(frozen=True, slots=True)
class Expect:
    """What a case names must match; what it leaves out is not checked."""

    status: int | None = None
    code: str | None = None  # "ok" for an allowed request
    rule: str | None = None

    def describe(self) -> str:
        named = [("status", self.status), ("code", self.code), ("rule", self.rule)]
        return ", ".join(f"{key} {value}" for key, value in named if value is not None)


@dataclass(frozen=True, slots=True)
class Case:
    name: str
    request: CaseRequest
    expect: Expect
    token: dict[str, Any] | None = None  # claims to sign with the issuer's throw-away key
    authorization: str | None = None  # a raw Authorization header, sent as is


class CasesError(ConfigError):
    """A cases file that cannot be run; `str()` is one line naming the case and the key."""


def load_cases(path: str | os.PathLike[str]) -> list[Case]:
    source = os.fspath(path)
    if not os.path.isfile(source):
        raise CasesError(source, [Problem("", "file not found; check the CASES path given to `authcheck test`")])
    data, line_of = read_document(source)
    return parse_cases(data, source, line_of)


def parse_cases(data: object, source: str = "<memory>", line_of: LineOf | None = None) -> list[Case]:
    walk = _Walk(source, line_of or (lambda path: None))
    if not isinstance(data, dict) or not isinstance(data.get("cases"), list) or not data["cases"]:
        walk.fail((), "", "has no `cases:` list", "write `cases:` with one `- name: ...` item per case")
    if unknown := sorted(set(data) - {"cases"}):
        walk.fail((unknown[0],), "", "unknown key", "the file holds only `cases:`")
    return [walk.case(item, index) for index, item in enumerate(data["cases"])]


@dataclass(frozen=True)
class _Walk:
    source: str
    line_of: LineOf

    def fail(self, path: KeyPath, case: str, what: str, fix: str) -> NoReturn:
        location = render_path(path)
        if case:
            head, _, rest = location.partition(".")
            location = f"{head} ({case})" + (f".{rest}" if rest else "")
        raise CasesError(self.source, [Problem(location, f"{what}; {fix}", self.line_of(path))])

    def case(self, item: object, index: int) -> Case:
        at: KeyPath = ("cases", index)
        if not isinstance(item, dict):
            self.fail(at, "", "must be a mapping", "write it like `- name: a reader can read`")
        name = item.get("name")
        if not isinstance(name, str) or not name.strip():
            self.fail((*at, "name"), "", "is missing or not a string", "give every case a `name:`")
        self._known_keys(item, at, name, _CASE_KEYS)
        if "token" in item and "authorization" in item:
            self.fail(
                (*at, "authorization"), name, "is given with `token`", "keep one: claims to sign, or a raw header"
            )
        token = item.get("token")
        if token is not None and (not isinstance(token, dict) or not all(isinstance(k, str) for k in token)):
            self.fail((*at, "token"), name, "must be a mapping of claims", 'write it like {sub: alice, scope: "read"}')
        authorization = item.get("authorization")
        if authorization is not None and not isinstance(authorization, str):
            self.fail((*at, "authorization"), name, "must be a string", 'write it like "Bearer not-a-jwt"')
        return Case(name, self._request(item, at, name), self._expect(item, at, name), token, authorization)

    def _request(self, item: dict[str, Any], at: KeyPath, name: str) -> CaseRequest:
        request, at = item.get("request"), (*at, "request")
        if not isinstance(request, dict):
            self.fail(at, name, "is missing or not a mapping", "write it like `request: {method: GET, uri: /orders/7}`")
        self._known_keys(request, at, name, _REQUEST_KEYS)
        for key in ("method", "uri"):
            if not isinstance(request.get(key), str) or not request[key]:
                self.fail(
                    (*at, key), name, "is missing or not a string", "write it like `request: {method: GET, uri: /}`"
                )
        host = request.get("host")
        if host is not None and not isinstance(host, str):
            self.fail((*at, "host"), name, "must be a string", "write it like `host: api.example.com`")
        return CaseRequest(request["method"], request["uri"], host)

    def _expect(self, item: dict[str, Any], at: KeyPath, name: str) -> Expect:
        expect, at = item.get("expect"), (*at, "expect")
        if not isinstance(expect, dict) or not expect:
            self.fail(at, name, "is missing or empty", "write it like `expect: {status: 200, rule: orders-read}`")
        self._known_keys(expect, at, name, _EXPECT_KEYS)
        status = expect.get("status")
        if status is not None and (isinstance(status, bool) or not isinstance(status, int)):
            self.fail((*at, "status"), name, "must be a number", "write it like `status: 403`")
        for key in ("code", "rule"):
            if key in expect and not isinstance(expect[key], str):
                self.fail((*at, key), name, "must be a string", f"write it like `{key}: ...`")
        return Expect(status, expect.get("code"), expect.get("rule"))

    def _known_keys(self, mapping: dict[Any, Any], at: KeyPath, name: str, keys: tuple[str, ...]) -> None:
        for key in mapping:
            if key not in keys:
                self.fail((*at, str(key)), name, "unknown key", f"the keys allowed here are {', '.join(keys)}")
