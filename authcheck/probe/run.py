"""Sending the battery through a live deployment and reporting per attack class."""

from __future__ import annotations

import http.client
import ssl
from collections.abc import Iterable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from authcheck.probe.battery import ATTACK_CLASSES, Attack, Seen, Target, attacks, let_through

TIMEOUT = 10.0


class ProbeError(Exception):
    """The deployment could not be probed (unreachable, or the protected path is open)."""


@dataclass(frozen=True)
class Finding:
    attack: Attack
    seen: Seen


@dataclass
class ClassResult:
    sent: int = 0
    reached_app: int = 0  # answers that came from the app (for identity injection: what makes it a test)
    findings: list[Finding] = field(default_factory=list)


def send(url: str, attack: Attack) -> Seen:
    """One request, its path on the request line byte for byte (no client-side normalizing)."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        connection = http.client.HTTPSConnection(parts.netloc, timeout=TIMEOUT, context=ssl.create_default_context())
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=TIMEOUT)
    try:
        connection.putrequest("GET", parts.path.rstrip("/") + attack.path, skip_accept_encoding=True)
        for name, value in attack.headers:
            connection.putheader(name, value)
        connection.endheaders()
        response = connection.getresponse()
        return Seen.read(response.status, response.read(1024 * 1024))
    except (OSError, http.client.HTTPException) as error:
        raise ProbeError(f"{url}: {type(error).__name__}: {error}") from None
    finally:
        connection.close()


def probe(url: str, target: Target) -> dict[str, ClassResult]:
    """Every attack class -> what was sent and what the deployment let through."""
    if urlsplit(url).scheme not in ("http", "https"):
        raise ProbeError(f"--url {url!r} is not an http(s) URL")
    baseline = send(url, Attack("path-tricks", "baseline", target.protected))
    if baseline.reached_upstream:
        raise ProbeError(
            f"{target.protected} answered {baseline.status} without a token: name a protected path with --protected"
        )
    results: dict[str, ClassResult] = {name: ClassResult() for name in ATTACK_CLASSES}
    for attack in attacks(target):
        seen = send(url, attack)
        result = results[attack.attack_class]
        result.sent += 1
        result.reached_app += seen.reached_upstream
        if let_through(attack, seen, target):
            result.findings.append(Finding(attack, seen))
    return results


def report(results: dict[str, ClassResult]) -> Iterable[str]:
    for name, result in results.items():
        if result.findings:
            yield f"OPEN  {name}: {len(result.findings)} of {result.sent} let through"
            for finding in result.findings:
                sent = " ".join(f"{k}: {v[:60]}" for k, v in finding.attack.headers)
                yield f"      {finding.attack.name}: GET {finding.attack.path[:120]} {sent} -> {finding.seen.status}"
        elif name == "identity-injection" and not result.reached_app:
            yield f"SKIP  {name}: no request reached the app; give --public (routed to an echo upstream) or --token"
        else:
            yield f"HELD  {name}: {result.sent} attacks, none let through"
