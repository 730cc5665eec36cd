"""Reading claims by dotted path, and checking a rule's claim requirements (pure).

Paths are split on dots, but a key that itself contains dots (Auth0's namespaced
`https://example.com/roles`) or colons (Zitadel's `urn:zitadel:iam:org:project:roles`)
still resolves: at each level the longest run of segments that names a key wins.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from authcheck.config.model import ClaimRequirement, ClaimValue

_MISSING = object()


def resolve(claims: Any, path: str) -> Any:
    """The value at `path`; check it with `is_missing`."""
    return _resolve(claims, path.split("."))


def _resolve(node: Any, segments: list[str]) -> Any:
    if not segments:
        return node
    if not isinstance(node, dict):
        return _MISSING
    for length in range(len(segments), 0, -1):
        key = ".".join(segments[:length])
        if key in node:
            found = _resolve(node[key], segments[length:])
            if found is not _MISSING:
                return found
    return _MISSING


def is_missing(value: Any) -> bool:
    return value is _MISSING


def holds(claim: Any, wanted: ClaimValue) -> bool:
    """A scalar claim equals the value; a list contains it; an object has it as a key
    (Zitadel's roles claim maps each role name to its organizations).
    "1" is not 1, and 1 is not true."""
    if isinstance(claim, list):
        return any(_same(item, wanted) for item in claim)
    if isinstance(claim, dict):
        return isinstance(wanted, str) and wanted in claim
    return _same(claim, wanted)


def _same(value: Any, wanted: ClaimValue) -> bool:
    if isinstance(wanted, bool) or isinstance(value, bool):
        return value is wanted
    if isinstance(wanted, str):
        return isinstance(value, str) and value == wanted
    return isinstance(value, (int, float)) and value == wanted


def unmet(claims: dict[str, Any], requirement: ClaimRequirement) -> str | None:
    """Why the claims do not satisfy the requirement (for error_description), or None."""
    value = resolve(claims, requirement.path)
    if is_missing(value):
        return f"The token has no {requirement.path} claim."
    for wanted in requirement.values:
        if not holds(value, wanted):
            return f"The token's {requirement.path} claim does not hold {wanted}."
    return None


def retained(claims: dict[str, Any], paths: Iterable[str]) -> dict[str, Any]:
    """Only the top-level claims some rule reads: what the token cache keeps per token."""
    wanted = tuple(paths)
    return {
        key: value for key, value in claims.items() if any(path == key or path.startswith(key + ".") for path in wanted)
    }
