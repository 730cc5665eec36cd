"""`{name}` captures: a rule's `match` names one whole path segment or host label, and its
`claims` values and `audiences` use what the request put there (pure).

`/orgs/{org}/**` with `claims: {organization_id: "{org}"}` binds a tenant's URLs to that
tenant's tokens: the comparison is exact, on the normalized path (so `%41` was `A` first).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from types import MappingProxyType

Captures = Mapping[str, str]
NO_CAPTURES: Captures = MappingProxyType({})

# A reference anywhere in a claim value or audience; a path segment or host label that is
# exactly one of these defines a capture.
REFERENCE = re.compile(r"\{([A-Za-z_][A-Za-z0-9_]*)\}")


def capture_name(part: str) -> str | None:
    """The capture a whole segment or label defines, or None when it is plain text."""
    found = REFERENCE.fullmatch(part)
    return found[1] if found else None


def references(text: str) -> list[str]:
    """The capture names `text` uses, in order."""
    return REFERENCE.findall(text)


def substitute(text: str, captures: Captures) -> str:
    """`text` with each `{name}` replaced by its captured value (the config check made sure
    that every name used is captured whenever the rule matches)."""
    if "{" not in text:
        return text
    return REFERENCE.sub(lambda found: captures[found[1]], text)


def substitute_all(texts: Iterable[str], captures: Captures) -> frozenset[str]:
    return frozenset(substitute(text, captures) for text in texts)


def path_glob_regex(pattern: str, group_prefix: str = "c") -> str:
    """`*` stays inside one segment; a `**` segment spans zero or more segments; a `{name}`
    segment is one non-empty segment, kept as the regex group `<group_prefix>_<name>`.

    `/x/**` therefore matches `/x`, `/x/` and `/x/a/b`, but not `/xy`.
    """
    if not pattern.startswith("/"):
        raise ValueError(f"path pattern {pattern!r} does not start with /")
    regex = ""
    for segment in pattern.split("/")[1:]:
        name = capture_name(segment)
        if segment == "**":
            regex += "(?:/.*)?"
        elif name is not None:
            regex += f"/(?P<{group_prefix}_{name}>[^/]+)"
        else:
            regex += "/" + "[^/]*".join(re.escape(part) for part in segment.split("*"))
    return regex or "/"


def host_regex(pattern: str, group_prefix: str = "c") -> str:
    """A host pattern: plain labels match exactly, a `{name}` label any one label."""
    labels = []
    for label in pattern.split("."):
        name = capture_name(label)
        labels.append(f"(?P<{group_prefix}_{name}>[^.]+)" if name is not None else re.escape(label))
    return r"\.".join(labels)


def groups_to_captures(groups: Mapping[str, str | None]) -> Captures:
    """Regex groups named `<prefix>_<name>` back to {name: value}, for the alternative that matched."""
    return {key.split("_", 1)[1]: value for key, value in groups.items() if value is not None} or NO_CAPTURES
