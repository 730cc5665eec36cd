"""`authcheck check`'s lint warnings and summary for a valid config (pure)."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from urllib.parse import urlsplit

from authcheck.config.model import (
    Config,
    Match,
    Rule,
)

# ---------------------------------------------------------------------------- lint and summary


def config_warnings(config: Config) -> list[str]:
    """What is valid but probably not meant; the service still starts."""
    return [*_plain_http(config), *_shadowed_rules(config), *_default_notes(config)]


def _plain_http(config: Config) -> Iterator[str]:
    for index, issuer in enumerate(config.issuers):
        for key, url in (("issuer", issuer.issuer), ("jwks_uri", issuer.jwks_uri)):
            parts = urlsplit(url or "")
            if parts.scheme == "http" and not _loopback(parts.hostname or ""):
                yield (
                    f"issuers[{index}].{key}: {url} is plain http off loopback: anyone on the network path "
                    "can swap the keys in transit; use https:// unless that network is trusted (in-cluster)"
                )


def _loopback(host: str) -> bool:
    try:
        return host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _shadowed_rules(config: Config) -> Iterator[str]:
    catch_all: tuple[int, Rule] | None = None
    for index, rule in enumerate(config.rules):
        if catch_all:
            yield (
                f"rules[{index}] ({rule.name}): never matches, because rules[{catch_all[0]}] "
                f"({catch_all[1].name}) before it matches every request; move it above that rule"
            )
        elif _matches_everything(rule.match):
            catch_all = (index, rule)


def _matches_everything(match: Match) -> bool:
    return match.methods is None and match.hosts is None and (match.paths is None or "/**" in match.paths)


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
