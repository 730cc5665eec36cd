"""The validated configuration: frozen, typed values built once at start-up.

`authcheck.config.file` turns a YAML/TOML file into these objects; everything
after that reads only these.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import Enum
from typing import Literal

# Every asymmetric JWS algorithm PyJWT implements (RFC 7518 + RFC 8037).
# Never "none" and never HMAC: a public key must not become a shared secret.
ASYMMETRIC_ALGORITHMS: tuple[str, ...] = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES256K",
    "ES384",
    "ES512",
    "EdDSA",
)

INGRESS_KINDS: tuple[str, ...] = ("auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy")
Ingress = Literal["auto", "nginx", "ingress-nginx", "traefik", "caddy", "envoy"]


@dataclass(frozen=True, slots=True)
class IssuerConfig:
    issuer: str
    audiences: tuple[str, ...]
    jwks_uri: str | None = None
    algorithms: tuple[str, ...] = ASYMMETRIC_ALGORITHMS
    leeway: int = 30
    scope_claim: str = "scope"
    token_type: str | None = None
    refresh: int = 600
    max_stale: int = 86400


class Access(Enum):
    """What a rule requires of the caller."""

    ANONYMOUS = "anonymous"  # no token needed
    AUTHENTICATED = "authenticated"  # any valid token
    ALL_SCOPES = "scopes"  # a valid token with every scope listed
    ANY_SCOPE = "any_scopes"  # a valid token with at least one scope listed


@dataclass(frozen=True, slots=True)
class Match:
    """An omitted key (None) matches everything."""

    paths: tuple[str, ...] | None = None  # globs; a `{name}` segment captures that segment
    methods: frozenset[str] | None = None  # upper-case
    hosts: frozenset[str] | None = None  # lower-case, no port; a `{name}` label captures that label


ClaimValue = str | int | float | bool


@dataclass(frozen=True, slots=True)
class ClaimRequirement:
    """The claim at `path` (dotted; keys that contain dots still resolve) must hold every
    value: equal to it when the claim is a scalar, contain it when the claim is a list."""

    path: str
    values: tuple[ClaimValue, ...]


@dataclass(frozen=True, slots=True)
class Rule:
    name: str
    match: Match
    access: Access
    scopes: tuple[str, ...] = ()  # for ALL_SCOPES and ANY_SCOPE
    claims: tuple[ClaimRequirement, ...] = ()
    issuers: frozenset[str] | None = None  # None: every configured issuer
    audiences: frozenset[str] | None = None  # None: every audience of the token's issuer; may use `{name}`
    clients: frozenset[str] | None = None  # None: every client (client_id, else azp)
    report_only: bool = False  # evaluated and reported, never deciding

    def describe(self) -> str:
        """What the rule requires, in words (for `check` and `explain`)."""
        described = "no token needed (anonymous)" if self.access is Access.ANONYMOUS else self._token_requirements()
        return f"report only, would require: {described}" if self.report_only else described

    def _token_requirements(self) -> str:
        parts = ["a valid token"]
        if self.issuers is not None:
            parts.append("from " + " or ".join(sorted(self.issuers)))
        if self.audiences is not None:
            parts.append("for " + " or ".join(sorted(self.audiences)))
        if self.clients is not None:
            parts.append("of client " + " or ".join(sorted(self.clients)))
        if self.scopes:
            joiner = " and " if self.access is Access.ALL_SCOPES else " or "
            parts.append("with scope " + joiner.join(self.scopes))
        for claim in self.claims:
            parts.append(f"with claim {claim.path} holding " + " and ".join(map(str, claim.values)))
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class CacheConfig:
    """The verified-token cache (see docs/keys-and-caching.md)."""

    max_entries: int = 100_000
    max_ttl: int = 3600


@dataclass(frozen=True, slots=True)
class Config:
    issuers: tuple[IssuerConfig, ...]
    rules: tuple[Rule, ...]
    default: Literal["deny", "authenticated"] = "deny"
    headers: tuple[tuple[str, str], ...] = ()  # (response header, claim name)
    ingress: Ingress = "auto"
    cache: CacheConfig = field(default_factory=CacheConfig)
    source: str = "<memory>"  # the file it came from, for error messages
