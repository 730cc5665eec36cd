"""`authcheck check`'s lint warnings and summary for a valid config (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urlsplit

from authcheck.config.containment import hosts_contained, paths_contained
from authcheck.config.model import Config, Match, Rule
from authcheck.config.schema import defined_captures
from authcheck.core.captures import references

# ---------------------------------------------------------------------------- lint and summary


def config_warnings(config: Config) -> list[str]:
    """What is valid but probably not meant; the service still starts."""
    return [*_plain_http(config), *_shadowed_rules(config), *_unused_captures(config), *_default_notes(config)]


def _plain_http(config: Config) -> Iterator[str]:
    for index, issuer in enumerate(config.issuers):
        for key, url in (("issuer", issuer.issuer), ("jwks_uri", issuer.jwks_uri)):
            parts = urlsplit(url or "")
            if parts.scheme == "http" and not is_loopback(parts.hostname or ""):
                yield (
                    f"issuers[{index}].{key}: {url} is plain http off loopback: anyone on the network path "
                    "can swap the keys in transit; use https:// unless that network is trusted (in-cluster)"
                )


def is_loopback(host: str) -> bool:
    """This machine: exactly `localhost`, 127.0.0.0/8 or ::1 (so not `localhost.evil.example`)."""
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shadowed_rules(config: Config) -> Iterator[str]:
    """A rule every request of which an earlier answering rule takes first can never match."""
    for index, rule in enumerate(config.rules):
        for earlier_index, earlier in enumerate(config.rules[:index]):
            if not earlier.report_only and covers(earlier.match, rule.match):
                yield (
                    f"rules[{index}] ({rule.name}): never matches, because rules[{earlier_index}] "
                    f"({earlier.name}) before it matches every request it matches; "
                    "move it above that rule, or remove it"
                )
                break


def covers(first: Match, then: Match) -> bool:
    """Every request `then` matches, `first` matches too (exact for these glob languages)."""
    methods_covered = first.methods is None or (then.methods is not None and then.methods <= first.methods)
    return methods_covered and hosts_contained(then.hosts, first.hosts) and paths_contained(then.paths, first.paths)


def _unused_captures(config: Config) -> Iterator[str]:
    for index, rule in enumerate(config.rules):
        used = {name for text in _templates(rule) for name in references(text)}
        for name, where in defined_captures(rule.match).items():
            if name in used or name.startswith("_"):
                continue
            wildcard = "write * there" if where[0].startswith("paths") else f"name it {{_{name}}}: any label will do"
            yield (
                f"rules[{index}] ({rule.name}): match.{where[0]} captures {{{name}}} but the rule never "
                f'uses it; use it in claims or audiences (e.g. claims: {{organization_id: "{{{name}}}"}}), '
                f"or {wildcard}"
            )


def _templates(rule: Rule) -> Iterator[str]:
    yield from rule.audiences or ()
    for requirement in rule.claims:
        yield from (value for value in requirement.values if isinstance(value, str))


def _default_notes(config: Config) -> Iterator[str]:
    if config.default == "authenticated":
        yield (
            "default: authenticated: a request that matches no rule is allowed for any valid token, "
            "whatever its scopes; keep `default: deny` unless every route is open to every signed-in caller"
        )
    elif not config.rules:
        yield "rules: there are none and default is deny, so every request is answered 403"


def summarize(config: Config) -> str:
    """The few lines `authcheck check` prints for a valid config."""
    lines = [
        f"{config.source}: OK",
        f"  issuers ({len(config.issuers)}): {', '.join(issuer.issuer for issuer in config.issuers)}",
        f"  rules ({len(config.rules)}, first match decides):",
    ]
    lines += [f"    {rule.name}: {rule.describe()}" for rule in config.rules]
    lines += [f"  default: {config.default}", f"  ingress: {config.ingress}"]
    if config.headers:
        lines.append("  headers: " + ", ".join(f"{header} <- {claim}" for header, claim in config.headers))
    return "\n".join(lines)
