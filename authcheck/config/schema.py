"""The config schema and its walk: every value checked, every problem kept with its fix.

A user fixing a config wants every problem at once, each naming the key and what to write
instead (as oauth2-proxy does), so the walk reports a problem and carries on: `_At` is
where it is, `_Gather` runs sibling checks so that all of them report, and each value
check either returns the typed value or notes the problem and raises `_Invalid`.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, NoReturn
from urllib.parse import urlsplit

from authcheck.config.model import (
    ASYMMETRIC_ALGORITHMS,
    INGRESS_KINDS,
    Access,
    CacheConfig,
    ClaimRequirement,
    ClaimValue,
    Config,
    IssuerConfig,
    Match,
    Rule,
)
from authcheck.core.captures import capture_name, references
from authcheck.core.errors import RequestRejected
from authcheck.core.identity import BUILT_IN_HEADERS
from authcheck.core.paths import normalize_path

KeyPath = tuple[str | int, ...]  # mapping keys are str, list indices int
LineOf = Callable[[KeyPath], int | None]

_IDENTITY_HEADERS = {name.lower(): name for name in BUILT_IN_HEADERS}
# Headers that describe the original request to authcheck (or steer Envoy): never a claim's.
_PROXY_HEADERS = re.compile(r"x-(forwarded-|original-|envoy-|real-ip$)", re.IGNORECASE)
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")  # RFC 9110 token: methods, header names
_HOST = re.compile(r"[a-z0-9_-]+(\.[a-z0-9_-]+)*")
_SIMPLE_KEY = re.compile(r"[A-Za-z0-9_-]+")
_SCOPE_TOKEN = re.compile(r"[\x21\x23-\x5b\x5d-\x7e]+")  # RFC 6749 §3.3 scope-token


@dataclass(frozen=True, slots=True)
class Problem:
    """One thing wrong with a config: where it is and what to do about it."""

    location: str  # key path such as "rules[2].match.paths[0]"; "" for the whole file
    message: str  # "<what is wrong>; <the fix>"
    line: int | None = None  # 1-based, when the format tells (YAML)

    def render(self, source: str) -> str:
        where = source if self.line is None else f"{source}:{self.line}"
        return f"{where}: {self.location}: {self.message}" if self.location else f"{where}: {self.message}"


def check_config(data: object, source: str, line_of: LineOf) -> tuple[Config | None, list[Problem]]:
    """Walk the whole schema; every problem is collected, the Config is None if any is fatal."""
    at = _At(_Report(line_of))
    try:
        return _config(data, at, source), at.report.problems
    except _Invalid:
        return None, at.report.problems


# ---------------------------------------------------------------------------- the walk


class _Invalid(Exception):
    """The value at hand is wrong and already reported: skip building what contains it."""


@dataclass
class _Report:
    line_of: LineOf
    problems: list[Problem] = field(default_factory=list)


@dataclass(frozen=True)
class _At:
    """Where the walk is: the report to add to and the key path of the value at hand."""

    report: _Report
    path: KeyPath = ()

    def __truediv__(self, step: str | int) -> _At:
        return _At(self.report, (*self.path, step))

    def note(self, what: str, fix: str) -> None:
        self.report.problems.append(Problem(render_path(self.path), f"{what}; {fix}", self.report.line_of(self.path)))

    def fail(self, what: str, fix: str) -> NoReturn:
        self.note(what, fix)
        raise _Invalid


class _Gather:
    """Runs several checks (`with gather:` each) so that all are reported; `check()` then
    raises `_Invalid` if any failed."""

    def __init__(self) -> None:
        self.failed = False

    def __enter__(self) -> _Gather:
        return self

    def __exit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> bool:
        self.failed |= kind is _Invalid
        return kind is _Invalid

    def check(self) -> None:
        if self.failed:
            raise _Invalid


Check = Callable[[object, _At], Any]

# Each check's JSON Schema fragment (`authcheck schema` is built from the same tables).
_JSON_SCHEMA: dict[Check, dict[str, Any]] = {}
_NON_BLANK: dict[str, Any] = {"type": "string", "pattern": "\\S"}


def _described(check: Check, fragment: dict[str, Any]) -> Check:
    _JSON_SCHEMA[check] = fragment
    return check


def json_fragment(check: Check) -> dict[str, Any]:
    """The JSON Schema of what `check` accepts (a KeyError names a check without one)."""
    return _JSON_SCHEMA[check]


def render_path(path: KeyPath) -> str:
    text = ""
    for step in path:
        if isinstance(step, int):
            text += f"[{step}]"
        elif _SIMPLE_KEY.fullmatch(step):
            text += f".{step}" if text else step
        else:
            text += f"[{json.dumps(step)}]"
    return text


def _kind(value: object) -> str:
    kinds = {
        type(None): "null",
        bool: "a boolean",
        int: "a number",
        float: "a decimal number",
        str: "a string",
        list: "a list",
        dict: "a mapping",
    }
    return kinds.get(type(value), type(value).__name__)


def _mapping(value: object, at: _At, example: str) -> dict[Any, Any]:
    if not isinstance(value, dict):
        at.fail(f"must be a mapping, got {_kind(value)}", f"write it like {example}")
    return value


def _fields(value: object, at: _At, table: _Table) -> dict[str, Any]:
    """Check a mapping key by key against its table; returns the checked values by key."""
    mapping = _mapping(value, at, table.example)
    gather, checked = _Gather(), {}
    for key, item in mapping.items():
        with gather:
            checked[str(key)] = _field(str(key), item, at / str(key), table)
    for key in table.required:
        if key not in mapping:
            (at / key).note("is missing", table.required[key])
            gather.failed = True
    gather.check()
    return checked


def _field(key: str, value: object, at: _At, table: _Table) -> Any:
    if key not in table.checks:
        _unknown_key(key, at, table)
    if value is None:
        at.fail("has no value (null)", table.required.get(key, "give it a value, or remove the key to get the default"))
    return table.checks[key](value, at)


def _unknown_key(key: str, at: _At, table: _Table) -> NoReturn:
    home = _HOME.get(key)
    close = difflib.get_close_matches(key.lower(), list(table.checks), n=1, cutoff=0.8 if home else 0.6)
    if close:
        at.fail("unknown key", f'did you mean "{close[0]}"?')
    if home:
        at.fail(f"does not belong in {table.name}", f"it is a key of {home}: check its indentation")
    at.fail("unknown key", f"the keys allowed in {table.name} are {', '.join(table.checks)}")


def _list_of(item: Check, example: str, if_empty: str | None, into: Callable[[list[Any]], Any] = tuple) -> Check:
    """A list whose items each pass `item`; `if_empty` is the fix for an empty one (None: allowed)."""

    def check(value: object, at: _At) -> Any:
        if not isinstance(value, list):
            at.fail(f"must be a list, got {_kind(value)}", f"write it like {example}")
        if not value and if_empty is not None:
            at.fail("is an empty list", if_empty)
        gather, items = _Gather(), []
        for index, element in enumerate(value):
            with gather:
                items.append(item(element, at / index))
        gather.check()
        return into(items)

    return _described(check, {"type": "array", "items": json_fragment(item), **({"minItems": 1} if if_empty else {})})


def _note_duplicates(items: list[Any], key: str, at: _At, fix: str) -> None:
    """Report items whose `key` (a string) repeats an earlier item's."""
    first: dict[str, int] = {}
    for index, item in enumerate(items):
        value = item.get(key) if isinstance(item, dict) else None
        if isinstance(value, str) and first.setdefault(value, index) != index:
            (at / index / key).note(f'"{value}" is already used by {render_path((*at.path, first[value]))}', fix)


# ---------------------------------------------------------------------------- values


def _text(value: object, at: _At, example: str) -> str:
    if not isinstance(value, str):
        at.fail(f"must be a string, got {_kind(value)}", f"write it like {example}")
    if not value.strip():
        at.fail("is empty", f"write it like {example}")
    return value


def _text_like(example: str) -> Check:
    return _described(lambda value, at: _text(value, at, example), _NON_BLANK)


def _whole(low: int, high: int, unit: str) -> Check:
    def check(value: object, at: _At) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            at.fail(f"must be a whole number of {unit}, got {_kind(value)}", f"write a number from {low} to {high}")
        if not low <= value <= high:
            at.fail(f"is {value}, out of range", f"use a number of {unit} from {low} to {high}")
        return value

    return _described(check, {"type": "integer", "minimum": low, "maximum": high})


def _choice(options: Sequence[str], refused: Mapping[str, tuple[str, str]] | None = None) -> Check:
    """One of `options`; `refused` gives (why, fix) for wrong values users are likely to try."""

    def check(value: object, at: _At) -> str:
        text = _text(value, at, " or ".join(options))
        if text in options:
            return text
        if refused and text.lower() in refused:
            at.fail(f'"{text}" is refused: ' + refused[text.lower()][0], refused[text.lower()][1])
        close = difflib.get_close_matches(text.lower(), options, n=1)
        at.fail(
            f'"{text}" is not allowed here',
            f'did you mean "{close[0]}"?' if close else f"use one of {', '.join(options)}",
        )

    return _described(check, {"enum": list(options)})


def _url(value: object, at: _At, example: str) -> str:
    url = _text(value, at, example)
    if not _is_http_url(url):
        at.fail(f'"{url}" is not an https:// (or http://) URL with a host', f"write it like {example}")
    return url


def _is_http_url(url: str) -> bool:
    try:
        parts = urlsplit(url)
        port = parts.port  # ValueError when not a number up to 65535
    except ValueError:
        return False
    has_space = any(char.isspace() for char in url)  # urlsplit would quietly strip some
    return parts.scheme in ("https", "http") and bool(parts.hostname) and port != 0 and not has_space


def _issuer_url(value: object, at: _At) -> str:
    url = _url(value, at, "issuer: https://tenant.logto.app/oidc")
    if "?" in url or "#" in url:
        at.fail(
            f'"{url}" has a query or fragment, which an issuer never has',
            "copy `issuer` exactly from the issuer's /.well-known/openid-configuration (it must equal the tokens' iss)",
        )
    return url


def _audiences(value: object, at: _At) -> tuple[str, ...]:
    example = "audiences: [https://api.example.com]"
    if isinstance(value, str):
        return (_text(value, at, example),)
    audiences: tuple[str, ...] = _list_of(
        _text_like(example), example, "list the API identifiers your tokens carry in aud"
    )(value, at)
    return audiences


def _algorithm(value: object, at: _At) -> str:
    name = _text(value, at, "ES384")
    fix = (
        "list the asymmetric algorithm your issuer signs with (Logto: ES384, most others: RS256), "
        "or remove `algorithms` to allow every asymmetric one"
    )
    if name.lower() == "none":
        at.fail('"none" is refused: such a token has no signature, so anyone could forge one', fix)
    if name.lower().startswith("hs"):
        at.fail(
            f'"{name}" is refused: HMAC checks a shared secret, and with the issuer\'s public key as '
            "that secret anyone who has the public key could forge tokens",
            fix,
        )
    if name in ASYMMETRIC_ALGORITHMS:
        return name
    exact = [known for known in ASYMMETRIC_ALGORITHMS if known.lower() == name.lower()]
    close = exact or difflib.get_close_matches(name, ASYMMETRIC_ALGORITHMS, n=1)
    at.fail(
        f'"{name}" is not a supported algorithm',
        f'did you mean "{close[0]}"?' if close else f"use some of {', '.join(ASYMMETRIC_ALGORITHMS)}",
    )


def _scope(value: object, at: _At) -> str:
    scope = _text(value, at, "read:orders")
    if any(char.isspace() for char in scope):
        at.fail(f'"{scope}" contains whitespace', "put one scope per list item, e.g. [read:orders, write:orders]")
    if not _SCOPE_TOKEN.fullmatch(scope):
        at.fail(
            f'"{scope}" is not an OAuth scope (RFC 6749: printable ASCII except " and \\)',
            "use the scope exactly as your issuer writes it in tokens",
        )
    return scope


def _glob(value: object, at: _At) -> str:
    glob = _text(value, at, '"/orders/**"')
    if not glob.startswith("/"):
        at.fail(f'"{glob}" does not start with /', f'patterns match the path only: write "/{glob}"')
    segments = glob.split("/")[1:]
    names = [capture_name(segment) for segment in segments]
    plain = "/".join(segment for segment, name in zip(segments, names, strict=True) if name is None)
    if refused := sorted(set(plain) & set("?[]{}\\;")):
        at.fail(
            f'"{glob}" uses {" ".join(refused)}: only *, ** and whole-segment {{name}} captures are wildcards',
            "list each path separately, or capture a whole segment like /orgs/{org}/**",
        )
    if any("**" in segment and segment != "**" for segment in segments):
        at.fail(f'"{glob}": ** must be a whole segment', "write it like /a/**/b, or use * within a segment")
    _no_repeated_capture([name for name in names if name], glob, at)
    # Requests are matched in normalized form, so a pattern must already be in it (a
    # capture segment stands for one plain segment).
    probe = "/" + "/".join("c" if name else segment for segment, name in zip(segments, names, strict=True))
    try:
        normalized = normalize_path(probe)
    except RequestRejected as exc:
        at.fail(
            f'"{glob}" can never match: {exc.message[:-1].lower()}, and such requests are refused',
            "remove it or write the path as clients send it once normalized",
        )
    if normalized != probe:
        fix = f'write "{normalized}"' if probe == glob else "write it as clients send it, normalized"
        at.fail(f'"{glob}" can never match: paths are normalized before matching', fix)
    return glob


def _no_repeated_capture(names: list[str], pattern: str, at: _At) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        at.fail(f'"{pattern}" captures {{{repeated[0]}}} twice', "give each captured segment its own name")


def _method(value: object, at: _At) -> str:
    method = _text(value, at, "GET")
    if not _TOKEN.fullmatch(method):
        at.fail(f'"{method}" is not an HTTP method', "put one method per list item, e.g. [GET, HEAD]")
    return method.upper()


def _host(value: object, at: _At) -> str:
    """Normalized as authcheck.core.original_request normalizes the request's host, or it could never match.

    A `{name}` label captures that label (names keep their case; the rest is lower-cased)."""
    text = _text(value, at, "api.example.com")
    labels = text.split(".")
    names = [capture_name(label) for label in labels]
    if any(names):
        _no_repeated_capture([name for name in names if name], text, at)
        plain = ".".join("c" if name else label for label, name in zip(labels, names, strict=True))
        _plain_host(plain, at)
        return ".".join(label if name else label.lower() for label, name in zip(labels, names, strict=True))
    return _plain_host(text, at)


def _plain_host(text: str, at: _At) -> str:
    host = text.lower()
    if "://" in host or "/" in host:
        at.fail(f'"{host}" is not a bare host name', "drop the scheme and path: write just api.example.com")
    if "*" in host:
        at.fail(
            f'"{host}" has a wildcard, but hosts match exactly',
            "list each host name, or capture one whole label like {tenant}.example.com",
        )
    if host.startswith("[") and host.endswith("]"):
        try:
            return f"[{ipaddress.IPv6Address(host[1:-1]).compressed}]"
        except ValueError:
            at.fail(f'"{host}" is not an IPv6 address', "write an IPv6 literal like [2001:db8::1]")
    if ":" in host:
        at.fail(f'"{host}" has a port', "drop it (hosts match without their port); write IPv6 in brackets: [::1]")
    if not _HOST.fullmatch(host.removesuffix(".")):
        at.fail(f'"{host}" is not a valid host name', "use the ASCII (punycode) name, e.g. api.example.com")
    return host.removesuffix(".")


def _headers(value: object, at: _At) -> tuple[tuple[str, str], ...]:
    mapping = _mapping(value, at, "headers: {X-Auth-Email: email}")
    gather, taken, pairs = _Gather(), dict[str, str](), []
    for name, claim in mapping.items():
        with gather:
            header = _header_name(str(name), at / str(name), taken)
            pairs.append((header, _text(claim, at / str(name), f"{name}: email")))
    gather.check()
    return tuple(pairs)


def _header_name(name: str, at: _At, taken: dict[str, str]) -> str:
    if not _TOKEN.fullmatch(name):
        at.fail("is not a valid HTTP header name", "use letters, digits and dashes, e.g. X-Auth-Email")
    if not name.lower().startswith("x-"):
        at.fail("must start with X- (so a claim can never set Authorization, Cookie, Host...)", f"write X-{name}")
    if name.lower() in _IDENTITY_HEADERS:
        at.fail(
            f"is the built-in identity header {_IDENTITY_HEADERS[name.lower()]}, set from the token already",
            "pick another name, e.g. X-Auth-Email",
        )
    if _PROXY_HEADERS.match(name):
        at.fail("is a header the proxies use to describe the original request", "pick another name, e.g. X-Auth-Email")
    if name.lower() in taken:
        at.fail(f"is the same header as {taken[name.lower()]} (header names ignore case)", "keep only one of them")
    taken[name.lower()] = name
    return name


_URL_SCHEMA: dict[str, Any] = {"type": "string", "pattern": r"^https?://[^\s/?#@]+[^\s]*$"}
_described(_issuer_url, {"type": "string", "pattern": r"^https?://[^\s/?#@]+[^\s?#]*$"})
_described(_audiences, {"anyOf": [_NON_BLANK, {"type": "array", "items": _NON_BLANK, "minItems": 1}]})
_described(_algorithm, {"enum": list(ASYMMETRIC_ALGORITHMS)})
_described(_scope, {"type": "string", "pattern": r"^[\x21\x23-\x5b\x5d-\x7e]+$"})
_described(_glob, {"type": "string", "pattern": "^/"})
_described(_method, {"type": "string", "pattern": "^[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$"})
_described(_host, _NON_BLANK)
_described(
    _headers,
    {
        "type": "object",
        "propertyNames": {"pattern": "^[Xx]-[!#$%&'*+\\-.^_`|~0-9A-Za-z]+$"},
        "additionalProperties": _NON_BLANK,
    },
)
_CLAIM_VALUE: dict[str, Any] = {"type": ["string", "number", "boolean"]}
_CLAIMS_SCHEMA: dict[str, Any] = {
    "type": "object",
    "minProperties": 1,
    "additionalProperties": {"anyOf": [_CLAIM_VALUE, {"type": "array", "items": _CLAIM_VALUE, "minItems": 1}]},
}


# ---------------------------------------------------------------------------- the schema


@dataclass(frozen=True)
class _Table:
    """The keys of one kind of mapping: their checks, which are required (with the fix)."""

    name: str
    example: str
    checks: Mapping[str, Check]
    required: Mapping[str, str] = field(default_factory=dict)


def _section(table: _Table, build: Callable[..., Any]) -> Check:
    return _described(lambda value, at: build(**_fields(value, at, table)), {"$ref": f"#/$defs/{table_id(table)}"})


def table_id(table: _Table) -> str:
    """ "an issuer" -> "issuer", "the top level" -> "top-level": the name in `$defs`."""
    return re.sub(r"^(an?|the) ", "", table.name).replace(" ", "-")


_ISSUER = _Table(
    "an issuer",
    "- issuer: https://tenant.logto.app/oidc",
    {
        "issuer": _issuer_url,
        "audiences": _audiences,
        "jwks_uri": _described(
            lambda value, at: _url(value, at, "jwks_uri: https://tenant.logto.app/oidc/jwks"), _URL_SCHEMA
        ),
        "algorithms": _list_of(
            _algorithm,
            "algorithms: [ES384]",
            "list at least one algorithm, or remove the key to allow every asymmetric one",
        ),
        "leeway": _whole(0, 300, "seconds"),
        "scope_claim": _text_like("scope_claim: scp"),
        "token_type": _text_like("token_type: at+jwt"),
        "refresh": _whole(10, 86400, "seconds"),
        "max_stale": _whole(0, 604800, "seconds"),
    },
    {
        "issuer": "add `issuer: https://...`, exactly the iss of your tokens",
        "audiences": "add `audiences: [...]` with the API identifier your tokens carry in aud",
    },
)

_MATCH = _Table(
    "match",
    "match: {paths: [/orders/**], methods: [GET]}",
    {
        "paths": _list_of(_glob, 'paths: ["/orders/**"]', "remove `paths` to match every path"),
        "methods": _list_of(_method, "methods: [GET, HEAD]", "remove `methods` to match every method", frozenset),
        "hosts": _list_of(_host, "hosts: [api.example.com]", "remove `hosts` to match every host", frozenset),
    },
)

_RULE = _Table(
    "a rule",
    "- name: orders-read",
    {
        "name": _text_like("name: orders-read"),
        "match": _section(_MATCH, Match),
        "allow": _choice([Access.ANONYMOUS.value, Access.AUTHENTICATED.value]),
        "scopes": _list_of(_scope, "scopes: [read:orders]", "list at least one scope, or use allow: authenticated"),
        "any_scopes": _list_of(_scope, "any_scopes: [admin]", "list at least one scope, or use allow: authenticated"),
        "claims": _described(lambda value, at: _claims(value, at), _CLAIMS_SCHEMA),
        "issuers": _list_of(
            _issuer_url,
            "issuers: [https://tenant.logto.app/oidc]",
            "remove `issuers` to accept every configured issuer",
            frozenset,
        ),
        "audiences": _list_of(
            _text_like("audiences: [https://api.example.com]"),
            "audiences: [https://api.example.com]",
            "remove `audiences` to accept every configured audience",
            frozenset,
        ),
        "clients": _list_of(
            _text_like("clients: [partner-portal]"),
            "clients: [partner-portal, partner-cli]",
            "list the client ids allowed here, or remove `clients` to allow every client",
            frozenset,
        ),
        "report_only": _described(lambda value, at: _boolean(value, at, "report_only: true"), {"type": "boolean"}),
    },
    {
        "name": "add `name: ...`: logs and metrics name the rule that decided",
        "match": "add `match: {paths: [...]}`, or `match: {}` to match every request",
    },
)

_CACHE = _Table(
    "cache",
    "cache: {max_entries: 100000, max_ttl: 3600}",
    {
        "max_entries": _whole(0, 10_000_000, "entries"),
        "max_ttl": _whole(1, 86400, "seconds"),
    },
)

_ACCESS_KEYS = ("allow", "scopes", "any_scopes")
_TOKEN_KEYS = ("claims", "issuers", "audiences", "clients")  # each implies a valid token


def _rule(value: object, at: _At) -> Rule:
    gather = _Gather()
    with gather:
        fields = _fields(value, at, _RULE)
    given = [key for key in _ACCESS_KEYS if isinstance(value, dict) and key in value]
    needs_token = [key for key in _TOKEN_KEYS if isinstance(value, dict) and key in value]
    if isinstance(value, dict) and (len(given) > 1 or not (given or needs_token)):
        at.note(
            f"has both {' and '.join(given)}" if given else "has none of allow, scopes, any_scopes",
            "give a rule exactly one of allow: anonymous|authenticated, scopes: [...], any_scopes: [...]",
        )
        raise _Invalid
    if needs_token and isinstance(value, dict) and value.get("allow") == Access.ANONYMOUS.value:
        (at / needs_token[0]).note(
            "needs a token, but the rule allows anonymous callers",
            "use allow: authenticated (or scopes) with it, or remove it",
        )
        raise _Invalid
    gather.check()
    _check_captures(value, fields["match"], at)
    key = given[0] if given else "allow"
    access = Access(fields.get("allow", Access.AUTHENTICATED.value)) if key == "allow" else Access(key)
    return Rule(
        fields["name"],
        fields["match"],
        access,
        fields.get(key, ()) if key != "allow" else (),
        fields.get("claims", ()),
        fields.get("issuers"),
        fields.get("audiences"),
        fields.get("clients"),
        fields.get("report_only", False),
    )


def defined_captures(match: Match) -> dict[str, list[str]]:
    """Capture name -> the keys of `match` ("paths[0]", "hosts") whose patterns define it."""
    defined: dict[str, list[str]] = {}
    for key, patterns, separator in (("paths", match.paths, "/"), ("hosts", sorted(match.hosts or ()), ".")):
        for index, pattern in enumerate(patterns or ()):
            for part in pattern.split(separator):
                name = capture_name(part)
                if name is not None:
                    defined.setdefault(name, []).append(f"{key}[{index}]" if key == "paths" else f"{key}")
    return defined


def _check_captures(value: Any, match: Match, at: _At) -> None:
    """Every `{name}` a rule uses must be captured whichever of its patterns matched."""
    paths, hosts = list(match.paths or ()), sorted(match.hosts or ())
    everywhere = set.intersection(*(set(references(p)) for p in paths)) if paths else set()
    everywhere |= set.intersection(*(set(references(h)) for h in hosts)) if hosts else set()
    path_names = {name for p in paths for name in references(p)}
    for name in sorted(path_names & {name for h in hosts for name in references(h)}):
        (at / "match").fail(f"{{{name}}} is captured in both paths and hosts", "give the two captures different names")
    uses: list[tuple[_At, str]] = []
    for claim, wanted in (value.get("claims") or {}).items():
        for item in wanted if isinstance(wanted, list) else [wanted]:
            if isinstance(item, str):
                uses.append((at / "claims" / str(claim), item))
    uses += [(at / "audiences" / index, aud) for index, aud in enumerate(value.get("audiences") or [])]
    gather = _Gather()
    for use_at, text in uses:
        for name in references(text):
            if name in everywhere:
                continue
            with gather:
                some = "only some of its paths or hosts capture it" if name in defined_captures(match) else "it is not"
                use_at.fail(
                    f"uses {{{name}}}, but {some} captured in this rule's match",
                    f"capture it as a whole segment in every path (e.g. /orgs/{{{name}}}/**) or as a host label "
                    f"(e.g. {{{name}}}.example.com), or write the value without braces",
                )
    gather.check()


def _boolean(value: object, at: _At, example: str) -> bool:
    if not isinstance(value, bool):
        at.fail(f"must be true or false, got {_kind(value)}", f"write it like {example}")
    return value


def _claims(value: object, at: _At) -> tuple[ClaimRequirement, ...]:
    example = 'claims: {"realm_access.roles": [admin]}'
    mapping = _mapping(value, at, example)
    if not mapping:
        at.fail("is empty", "name at least one claim, or remove `claims`")
    gather, requirements = _Gather(), []
    for path, wanted in mapping.items():
        with gather:
            claim_at = at / str(path)
            if not isinstance(path, str) or not path.strip(".") or ".." in path:
                claim_at.fail("is not a claim path", f"write it like {example}")
            requirements.append(ClaimRequirement(path, _claim_values(wanted, claim_at)))
    gather.check()
    return tuple(requirements)


def _claim_values(value: object, at: _At) -> tuple[ClaimValue, ...]:
    values = value if isinstance(value, list) else [value]
    if not values:
        at.fail("is an empty list", "list the values the claim must hold, or remove it")
    for item in values:
        if not isinstance(item, (str, int, float, bool)):
            at.fail(
                f"must be a string, number or boolean (or a list of them), got {_kind(item)}",
                "write the value the claim must equal or contain",
            )
    return tuple(values)


def _cross_check_rules(config: Config, at: _At) -> None:
    """A rule's issuers and audiences must be configured ones, or the rule could never pass."""
    issuers = {issuer.issuer for issuer in config.issuers}
    audiences = {aud for issuer in config.issuers for aud in issuer.audiences}
    for index, rule in enumerate(config.rules):
        for key, named, known in (("issuers", rule.issuers, issuers), ("audiences", rule.audiences, audiences)):
            # A templated audience ({name}) is whichever the request captures: checked per request.
            for unknown in sorted(name for name in (named or frozenset()) - known if not references(name)):
                (at / "rules" / index / key).note(
                    f'"{unknown}" is not configured under issuers',
                    "add it to `issuers:` first, or remove it from this rule",
                )


_described(_rule, {"$ref": f"#/$defs/{table_id(_RULE)}"})
_ISSUER_LIST = _list_of(
    _section(_ISSUER, IssuerConfig),
    "issuers: [{issuer: https://..., audiences: [...]}]",
    "add an issuer: `- issuer: https://...` with its `audiences`",
)
_RULE_LIST = _list_of(_rule, "rules: [{name: ..., match: {...}, allow: ...}]", None)


def _issuers(value: object, at: _At) -> tuple[IssuerConfig, ...]:
    if isinstance(value, list):
        _note_duplicates(value, "issuer", at, "merge the two entries, with all the audiences in one")
    issuers: tuple[IssuerConfig, ...] = _ISSUER_LIST(value, at)
    return issuers


def _rules(value: object, at: _At) -> tuple[Rule, ...]:
    if isinstance(value, list):
        _note_duplicates(value, "name", at, "give every rule its own name: logs and metrics report it")
    rules: tuple[Rule, ...] = _RULE_LIST(value, at)
    return rules


_described(_issuers, json_fragment(_ISSUER_LIST))
_described(_rules, json_fragment(_RULE_LIST))


_TOP = _Table(
    "the top level",
    "issuers: [...]",
    {
        "issuers": _issuers,
        "rules": _rules,
        "default": _choice(
            ["deny", "authenticated"],
            dict.fromkeys(
                ["allow", "anonymous"],
                (
                    "an unmatched route is never open to everyone by default",
                    "write `default: deny` and end the rules with one that has `match: {}` and `allow: anonymous`",
                ),
            ),
        ),
        "headers": _headers,
        "ingress": _choice(INGRESS_KINDS),
        "cache": _section(_CACHE, CacheConfig),
    },
    {"issuers": "add `issuers:` with at least one `- issuer: https://...` and its `audiences`"},
)

# Every kind of mapping, for `authcheck schema`.
TABLES = (_TOP, _ISSUER, _RULE, _MATCH, _CACHE)
ACCESS_KEYS, TOKEN_KEYS = _ACCESS_KEYS, _TOKEN_KEYS

# Where a key belongs, for a key written at the wrong indentation.
_HOME = {key: table.name for table in (_CACHE, _MATCH, _RULE, _ISSUER, _TOP) for key in table.checks}


def _config(data: object, at: _At, source: str) -> Config:
    if data is None:
        at.fail("the file is empty", "it needs at least `issuers:` (see the example in the README)")
    if not isinstance(data, dict):
        at.fail(f"the top level is {_kind(data)}, not a mapping", "start the file with `issuers:` at column 1")
    config = Config(**{"rules": (), **_fields(data, at, _TOP)}, source=source)
    _cross_check_rules(config, at)
    return config
