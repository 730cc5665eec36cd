"""Route rules: which rule a request falls under, and whether an identity satisfies it (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass

from authcheck.config.model import Access, Config, Match, Rule
from authcheck.core.claims import unmet
from authcheck.core.errors import InsufficientClaims, InsufficientScope, InvalidToken, RouteDenied
from authcheck.core.identity import Identity
from authcheck.core.original_request import OriginalRequest

DEFAULT_AUTHENTICATED = Rule(name="default", match=Match(), access=Access.AUTHENTICATED)

_MEMO_LIMIT = 4096  # distinct (method, host, path) answers remembered; paths are client-chosen


def glob_to_regex(pattern: str) -> str:
    """`*` stays inside one segment; a `**` segment spans zero or more segments.

    `/x/**` therefore matches `/x`, `/x/` and `/x/a/b`, but not `/xy`.
    """
    if not pattern.startswith("/"):
        raise ValueError(f"path pattern {pattern!r} does not start with /")
    regex = ""
    for segment in pattern.split("/")[1:]:
        if segment == "**":
            regex += "(?:/.*)?"
        else:
            regex += "/" + "[^/]*".join(re.escape(part) for part in segment.split("*"))
    return regex or "/"


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    path: re.Pattern[str] | None

    def matches(self, request: OriginalRequest) -> bool:
        match = self.rule.match
        if match.methods is not None and request.method not in match.methods:
            return False
        if match.hosts is not None and request.host not in match.hosts:
            return False
        return self.path is None or self.path.fullmatch(request.path) is not None


class RuleSet:
    """The configured rules, compiled once; first match wins, then `default`."""

    def __init__(self, config: Config) -> None:
        self._rules = tuple(_CompiledRule(rule, _compile_paths(rule.match.paths)) for rule in config.rules)
        self._default = DEFAULT_AUTHENTICATED if config.default == "authenticated" else None
        self._memo: dict[tuple[str, str | None, str], Rule | None] = {}

    def match(self, request: OriginalRequest) -> Rule:
        """The rule that decides this request; raises RouteDenied when none does."""
        rule = self.rule_for(request)
        if rule is None:
            raise RouteDenied("No rule allows this request.")
        return rule

    def rule_for(self, request: OriginalRequest) -> Rule | None:
        """The rule that decides this request, or None when none does."""
        key = (request.method, request.host, request.path)
        try:
            return self._memo[key]
        except KeyError:
            rule = next((c.rule for c in self._rules if c.matches(request)), self._default)
            if len(self._memo) >= _MEMO_LIMIT:
                self._memo.clear()
            self._memo[key] = rule
            return rule


def _compile_paths(paths: tuple[str, ...] | None) -> re.Pattern[str] | None:
    if paths is None:
        return None
    return re.compile("|".join(f"(?:{glob_to_regex(p)})" for p in paths))


def authorize(rule: Rule, identity: Identity) -> None:
    """Raise unless the identity holds what the rule asks for.

    A token from an issuer or for an audience the rule does not accept is not a valid
    token *here* (401, as for a wrong aud); missing scopes or claims are 403.
    """
    if rule.issuers is not None and identity.issuer not in rule.issuers:
        raise InvalidToken("The token's issuer is not accepted on this route.", "route_issuer_not_accepted")
    if rule.audiences is not None and rule.audiences.isdisjoint(identity.audiences):
        raise InvalidToken("The token's audience is not accepted on this route.", "route_audience_not_accepted")
    if rule.access is Access.ALL_SCOPES:
        if not identity.scopes.issuperset(rule.scopes):
            missing = [scope for scope in rule.scopes if scope not in identity.scopes]
            raise InsufficientScope(f"The token lacks the scope {' '.join(missing)}.", rule.scopes)
    elif rule.access is Access.ANY_SCOPE and identity.scopes.isdisjoint(rule.scopes):
        raise InsufficientScope(f"The token needs one of the scopes {' '.join(rule.scopes)}.", rule.scopes)
    for requirement in rule.claims:
        why = unmet(identity.claims, requirement)
        if why is not None:
            raise InsufficientClaims(why)
