"""Route rules: which rule a request falls under, and whether an identity satisfies it (pure)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import NamedTuple

from authcheck.config.model import Access, ClaimRequirement, Config, Match, Rule
from authcheck.core.captures import (
    NO_CAPTURES,
    Captures,
    groups_to_captures,
    host_regex,
    path_glob_regex,
    substitute,
    substitute_all,
)
from authcheck.core.claims import unmet
from authcheck.core.errors import ClientNotAllowed, InsufficientClaims, InsufficientScope, InvalidToken, RouteDenied
from authcheck.core.expiring_cache import LRU
from authcheck.core.identity import Identity
from authcheck.core.original_request import OriginalRequest

DEFAULT_AUTHENTICATED = Rule(name="default", match=Match(), access=Access.AUTHENTICATED)

_MEMO_LIMIT = 4096  # distinct (method, host, path) answers remembered; paths are client-chosen


def glob_to_regex(pattern: str) -> str:
    """A path glob as a regex (see captures.path_glob_regex)."""
    return path_glob_regex(pattern)


class Matched(NamedTuple):
    """What a request falls under: the rule that decides it (None: no rule, default deny),
    the values its captures took, and the report_only rules met on the way there."""

    rule: Rule | None
    captures: Captures = NO_CAPTURES
    report_only: tuple[tuple[Rule, Captures], ...] = ()


@dataclass(frozen=True, slots=True)
class _CompiledRule:
    rule: Rule
    path: re.Pattern[str] | None
    exact_hosts: frozenset[str]
    host_patterns: re.Pattern[str] | None

    def captures(self, request: OriginalRequest) -> Captures | None:
        """The captured values when the rule matches the request (empty without captures), else None."""
        match = self.rule.match
        if match.methods is not None and request.method not in match.methods:
            return None
        captures = NO_CAPTURES
        if match.hosts is not None:
            if request.host is None:
                return None
            if request.host not in self.exact_hosts:
                found = self.host_patterns.fullmatch(request.host) if self.host_patterns else None
                if found is None:
                    return None
                captures = groups_to_captures(found.groupdict())
        if self.path is None:
            return captures
        found = self.path.fullmatch(request.path)
        if found is None:
            return None
        if self.path.groups:
            captures = {**captures, **groups_to_captures(found.groupdict())}
        return captures


class RuleSet:
    """The configured rules, compiled once; first match wins, then `default`."""

    def __init__(self, config: Config) -> None:
        self._rules = tuple(_compile(rule) for rule in config.rules)
        self._default = Matched(DEFAULT_AUTHENTICATED if config.default == "authenticated" else None)
        self._memo: LRU[tuple[str, str | None, str], Matched] = LRU(_MEMO_LIMIT)

    def match(self, request: OriginalRequest) -> Rule:
        """The rule that decides this request; raises RouteDenied when none does."""
        rule = self.rule_for(request)
        if rule is None:
            raise RouteDenied("No rule allows this request.")
        return rule

    def rule_for(self, request: OriginalRequest) -> Rule | None:
        """The rule that decides this request, or None when none does."""
        return self.matching(request).rule

    def matching(self, request: OriginalRequest) -> Matched:
        """The deciding rule with its captures, and the report_only rules matched before it."""
        key = (request.method, request.host, request.path)
        matched = self._memo.get(key)
        if matched is None:
            matched = self._first_match(request)
            self._memo.put(key, matched)  # least recently used out: a flood of new paths keeps the hot ones
        return matched

    def _first_match(self, request: OriginalRequest) -> Matched:
        report_only: list[tuple[Rule, Captures]] = []
        for compiled in self._rules:
            captures = compiled.captures(request)
            if captures is None:
                continue
            if not compiled.rule.report_only:
                return Matched(compiled.rule, captures, tuple(report_only))
            report_only.append((compiled.rule, captures))
        return self._default._replace(report_only=tuple(report_only))


def _compile(rule: Rule) -> _CompiledRule:
    paths = rule.match.paths
    path = None
    if paths is not None:
        path = re.compile("|".join(f"(?:{path_glob_regex(p, f'p{i}')})" for i, p in enumerate(paths)))
    hosts = rule.match.hosts or frozenset()
    patterns = sorted(host for host in hosts if "{" in host)
    host_patterns = None
    if patterns:
        host_patterns = re.compile("|".join(f"(?:{host_regex(h, f'h{i}')})" for i, h in enumerate(patterns)))
    return _CompiledRule(rule, path, hosts.difference(patterns), host_patterns)


def authorize(rule: Rule, identity: Identity, captures: Captures = NO_CAPTURES) -> None:
    """Raise unless the identity holds what the rule asks for (`{name}`s read from `captures`).

    A token from an issuer or for an audience the rule does not accept is not a valid
    token *here* (401, as for a wrong aud); a client not listed, missing scopes or claims are 403.
    """
    if rule.issuers is not None and identity.issuer not in rule.issuers:
        raise InvalidToken("The token's issuer is not accepted on this route.", "route_issuer_not_accepted")
    if rule.audiences is not None:
        audiences = substitute_all(rule.audiences, captures) if captures else rule.audiences
        if audiences.isdisjoint(identity.audiences):
            raise InvalidToken("The token's audience is not accepted on this route.", "route_audience_not_accepted")
    if rule.clients is not None and identity.client_id not in rule.clients:
        raise ClientNotAllowed("The token's client is not allowed on this route.")
    if rule.access is Access.ALL_SCOPES:
        if not identity.scopes.issuperset(rule.scopes):
            missing = [scope for scope in rule.scopes if scope not in identity.scopes]
            raise InsufficientScope(f"The token lacks the scope {' '.join(missing)}.", rule.scopes)
    elif rule.access is Access.ANY_SCOPE and identity.scopes.isdisjoint(rule.scopes):
        raise InsufficientScope(f"The token needs one of the scopes {' '.join(rule.scopes)}.", rule.scopes)
    for requirement in rule.claims:
        if captures:
            values = tuple(substitute(v, captures) if isinstance(v, str) else v for v in requirement.values)
            requirement = ClaimRequirement(requirement.path, values)
        why = unmet(identity.claims, requirement)
        if why is not None:
            raise InsufficientClaims(why)
