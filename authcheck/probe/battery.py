"""The attacks `authcheck probe` sends, and how it judges each answer (pure: no I/O).

Each attack is one HTTP request through the operator's proxy that a sound deployment
refuses (401/403) or, for identity headers, forwards without the client's copies. The
classes are the ones forward-auth peers shipped advisories for (SECURITY.md lists them).
"""

from __future__ import annotations

import json
import posixpath
import re
import unicodedata
from dataclasses import dataclass, field
from typing import Literal
from urllib.parse import unquote

AttackClass = Literal[
    "path-tricks", "spoofed-forwarding", "identity-injection", "duplicate-authorization", "oversized-token"
]
ATTACK_CLASSES: tuple[AttackClass, ...] = (
    "path-tricks",
    "spoofed-forwarding",
    "identity-injection",
    "duplicate-authorization",
    "oversized-token",
)
ECHO_MARKER = "authcheck_probe_echo"  # the key the probe's own echo upstream answers with
BUILT_IN_IDENTITY_HEADERS = (
    "X-Auth-Subject",
    "X-Auth-Issuer",
    "X-Auth-Scopes",
    "X-Auth-Client-Id",
    "X-Auth-Organization-Id",
)


@dataclass(frozen=True)
class Attack:
    attack_class: AttackClass
    name: str
    path: str  # sent on the request line byte for byte
    headers: tuple[tuple[str, str], ...] = ()


@dataclass(frozen=True)
class Target:
    """What the operator told the probe about the deployment."""

    protected: str  # a path that needs a token: refused without one
    public: str | None = None  # a path open without a token (an anonymous rule)
    token: str | None = None  # a valid token, for the checks that need one to get through
    identity_headers: tuple[str, ...] = BUILT_IN_IDENTITY_HEADERS
    nonce: str = "probe"  # marks injected values, so the probe can tell them from real ones


@dataclass
class Seen:
    """The answer to one attack: the status, and what the echo upstream saw (when it echoed)."""

    status: int
    body: bytes = b""
    echoed_path: str | None = None
    echoed_headers: list[tuple[str, str]] = field(default_factory=list)
    echoed: bool = False

    @classmethod
    def read(cls, status: int, body: bytes) -> Seen:
        seen = cls(status, body)
        try:
            document = json.loads(body)
        except (ValueError, RecursionError):
            return seen
        if isinstance(document, dict) and document.get(ECHO_MARKER) is True:
            seen.echoed = True
            seen.echoed_path = str(document.get("path"))
            seen.echoed_headers = [(str(k), str(v)) for k, v in document.get("headers", [])]
        return seen

    @property
    def reached_upstream(self) -> bool:
        """With the probe's echo upstream this is certain; without it, any answer below 400."""
        return self.echoed or self.status < 400


# How each trick climbs one segment up from the public path.
_CLIMBS = {
    "dot-segments": "../",
    "encoded-dots": "%2e%2e/",
    "encoded-slash": "..%2f",
    "encoded-backslash": "..%5c",
    "raw-backslash": "..\\",
    "double-encoding": "%252e%252e/",
    "fullwidth-solidus": "..%EF%BC%8F",
    "fullwidth-dots": "%EF%BC%8E%EF%BC%8E/",
    "overlong-utf8": "%c0%ae%c0%ae/",
    "path-parameter": "..;/",
}


def path_variants(target: Target) -> list[Attack]:
    """Request targets that a backend decoding or normalizing more than the auth check would
    route to the protected path: climbs up from the public path, and the protected path
    itself spelled so that a matcher comparing strings would miss it."""
    base = (target.public or "/static/probe").rstrip("/")
    depth = len([segment for segment in base.split("/") if segment])
    rest = target.protected.lstrip("/")
    variants = {name: f"{base}/{climb * depth}{rest}" for name, climb in _CLIMBS.items()}
    variants |= {
        "raw-fragment": f"{base}#/{'../' * depth}{rest}",
        "double-slash": "/" + target.protected,
        "upper-case": target.protected.upper(),
        "trailing-dot-segment": target.protected + "/.",
    }
    return [Attack("path-tricks", name, path) for name, path in variants.items()]


def attacks(target: Target) -> list[Attack]:
    protected, public = target.protected, target.public or "/static/probe"
    spoofed = (
        ("X-Forwarded-Uri", public),
        ("X-Original-URI", public),
        ("X-Original-URL", f"http://localhost{public}"),
        ("X-Forwarded-Prefix", public),
        ("X-Forwarded-Method", "OPTIONS"),
        ("X-Original-Method", "OPTIONS"),
        ("X-Forwarded-Host", "localhost"),
        ("Forwarded", f'for=127.0.0.1;host=localhost;proto=http;path="{public}"'),
        ("X-Envoy-Original-Path", public),
        ("X-Rewrite-URL", public),
    )
    battery = path_variants(target)
    battery += [Attack("spoofed-forwarding", name, protected, ((name, value),)) for name, value in spoofed]
    injected_path = public if target.token is None else protected
    with_token = (("Authorization", f"Bearer {target.token}"),) if target.token else ()
    for header in target.identity_headers:
        for spelling in (header, header.lower(), header.replace("-", "_"), header.upper().replace("-", "_")):
            battery.append(
                Attack("identity-injection", spelling, injected_path, (*with_token, (spelling, target.nonce)))
            )
    first = target.token or "not-a-token"
    battery.append(
        Attack(
            "duplicate-authorization",
            "two-headers",
            protected,
            (("Authorization", f"Bearer {first}"), ("Authorization", "Bearer x.y.z")),
        )
    )
    battery.append(
        Attack("duplicate-authorization", "comma-joined", protected, (("Authorization", f"Bearer {first}, Bearer x"),))
    )
    battery.append(Attack("oversized-token", "64-KiB", protected, (("Authorization", "Bearer " + "a" * 65536),)))
    return battery


def lands_on(path: str, protected: str) -> bool:
    """Whether some backend could read `path` as the protected path: overlong UTF-8 read as
    the ASCII it spells, decoded up to three times, NFKC-folded, backslashes as slashes,
    `;` parameters dropped, `#` taken as an ordinary character, dot-segments resolved,
    compared without case."""
    path = re.sub("%c0%ae", ".", re.sub("%c0%af", "/", path, flags=re.I), flags=re.I)
    for _ in range(3):
        decoded = unquote(path, errors="replace")
        if decoded == path:
            break
        path = decoded
    path = unicodedata.normalize("NFKC", path).replace("\\", "/")
    path = "/".join(segment.split(";")[0] for segment in path.split("/"))
    resolved = posixpath.normpath(re.sub("/+", "/", "/" + path))
    return resolved.lower().rstrip("/") == protected.lower().rstrip("/")


def let_through(attack: Attack, seen: Seen, target: Target) -> bool:
    """Whether the deployment let this attack through."""
    if attack.attack_class == "identity-injection":
        if seen.echoed:
            names = {h.lower().replace("_", "-") for h in target.identity_headers}
            return any(
                value == target.nonce and name.lower().replace("_", "-").replace(".", "-") in names
                for name, value in seen.echoed_headers
            )
        return target.nonce.encode() in seen.body  # an upstream that echoes in its own format
    if attack.attack_class == "path-tricks" and seen.echoed and seen.echoed_path is not None:
        return lands_on(seen.echoed_path, target.protected)
    # Everything else goes to the protected path without a usable token: reaching the app is the bypass.
    return seen.reached_upstream
