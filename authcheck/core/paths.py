"""The original path in the one form rules are matched against.

Proxies pass `/a/../admin`, `/a/%2e%2e/admin` and `//x//y` through raw while the
upstream resolves them, so a rule matched on the raw text can be walked around
(Oathkeeper GHSA-p224-6x5r-fjpm). `normalize_path` gives the form Traefik routes on:
unreserved escapes decoded, other escapes in upper-case hex, dot-segments removed
(RFC 3986 5.2.4), repeated slashes merged. A path that upstreams could read in
more than one way is refused rather than guessed at: besides what changes its structure
when decoded once, a double encoding (`%252e`: a backend that decodes twice reads `.`),
escaped bytes that are not UTF-8, and characters that Unicode compatibility
normalization (NFKC, which some backends apply) turns into a delimiter, such as the
fullwidth solidus U+FF0F (`/`) or the one-dot leader U+2024 (`.`).
"""

from __future__ import annotations

import re
import unicodedata
from urllib.parse import unquote_to_bytes

from authcheck.core.errors import RequestRejected

_UNRESERVED = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-._~")
_HEX = frozenset("0123456789ABCDEFabcdef")
_PCHAR = r"A-Za-z0-9\-._~!$&'()*+,=:@"  # RFC 3986 pchar less ";" (see _FORBIDDEN_RAW)

# Already canonical: only pchars, no escape, no empty segment, no `.` or `..` segment.
# Most requests stop here.
_CANONICAL = re.compile(rf"(?:/(?!\.\.?(?:/|\Z))[{_PCHAR}]+)+/?|/").fullmatch

# Raw characters no proxy or upstream reads the same way: controls, whitespace, the
# backslash (a slash on some servers), the delimiters of a query or fragment, and `;`
# (Tomcat, Jetty and Spring strip `;params`, so `/admin;x/secret` is `/admin/secret`
# to them while a rule for `/admin/**` would not match it).
_FORBIDDEN_RAW = re.compile(r"[\x00-\x20\x7f\\?#;]").search

# Printable but not allowed raw in a path (browsers still send some of them):
# escaped, so that `|` and `%7C` compare equal.
_ESCAPE_RAW = str.maketrans({c: f"%{ord(c):02X}" for c in '"<>[]^`{|}'})

# Escapes that would change the path's structure once an upstream decodes them.
_FORBIDDEN_ESCAPES: dict[int, tuple[str, str]] = {
    0x2F: ("an encoded slash", "path_encoded_slash"),
    0x5C: ("an encoded backslash", "path_encoded_backslash"),
    0x00: ("an encoded NUL", "path_encoded_nul"),
    # Lead bytes that only ever start an overlong UTF-8 form, such as %C0%AE for ".".
    0xC0: ("an overlong UTF-8 sequence", "path_overlong_utf8"),
    0xC1: ("an overlong UTF-8 sequence", "path_overlong_utf8"),
}

_DOT_PARAMETERS = (".;", "..;", ".%3B", "..%3B")

# `%25` then two hex digits, in the once-decoded path: a second decoding makes it another escape.
_DOUBLE_ENCODED = re.compile("%25[0-9A-Fa-f]{2}").search
# What a path's structure is made of: a character that NFKC turns into one of these is refused.
_DELIMITERS = frozenset("/\\.%;?#")


def normalize_path(raw_path: str) -> str:
    """Return the canonical form of a raw origin-form path; raise RequestRejected if ambiguous."""
    if _CANONICAL(raw_path):
        return raw_path
    if not raw_path:
        raise RequestRejected("The original path is empty.", reason="path_empty")
    if raw_path[0] != "/":
        raise RequestRejected("The original path does not start with '/'.", reason="path_not_absolute")
    _check_raw_characters(raw_path)
    decoded, non_ascii = _decode_unreserved(raw_path.translate(_ESCAPE_RAW))
    if _DOUBLE_ENCODED(decoded):
        raise RequestRejected(
            "The original path is percent-encoded twice (%25 before an escape).", "path_double_encoded"
        )
    if non_ascii:
        _check_decoded_text(decoded)
    return _remove_dot_segments(decoded)


def _check_raw_characters(path: str) -> None:
    if not path.isascii():
        raise RequestRejected("The original path has a raw non-ASCII character.", reason="path_invalid_character")
    found = _FORBIDDEN_RAW(path)
    if found is None:
        return
    char = found.group()
    if char == "\\":
        raise RequestRejected("The original path has a backslash.", reason="path_backslash")
    if char in "?#":
        raise RequestRejected(f"The original path has a raw '{char}'.", reason="path_invalid_character")
    if char == ";":
        raise RequestRejected("The original path has a ';' parameter.", reason="path_parameter")
    if char == " ":
        raise RequestRejected("The original path has whitespace.", reason="path_invalid_character")
    raise RequestRejected("The original path has a control character.", reason="path_control_character")


def _decode_unreserved(path: str) -> tuple[str, bool]:
    """Decode escapes of unreserved characters once; keep the rest, hex upper-cased.
    (the path, whether an escape is of a non-ASCII byte)"""
    head, *escaped = path.split("%")
    parts = [head]
    non_ascii = False
    for chunk in escaped:
        hex_digits = chunk[:2]
        if len(hex_digits) < 2 or hex_digits[0] not in _HEX or hex_digits[1] not in _HEX:
            raise RequestRejected("The original path has an invalid percent-escape.", reason="path_invalid_escape")
        byte = int(hex_digits, 16)
        forbidden = _FORBIDDEN_ESCAPES.get(byte)
        if forbidden is not None:
            what, reason = forbidden
            raise RequestRejected(f"The original path has {what}.", reason=reason)
        if byte < 0x20 or byte == 0x7F:
            raise RequestRejected("The original path has an encoded control character.", reason="path_encoded_control")
        non_ascii |= byte > 0x7F
        char = chr(byte)
        parts.append(char if char in _UNRESERVED else "%" + hex_digits.upper())
        parts.append(chunk[2:])
    return "".join(parts), non_ascii


def _check_decoded_text(path: str) -> None:
    """The escaped non-ASCII bytes must be UTF-8, and none of their characters a delimiter in disguise."""
    try:
        text = unquote_to_bytes(path).decode("utf-8")
    except UnicodeDecodeError:
        raise RequestRejected("The original path is not valid UTF-8 once decoded.", "path_invalid_utf8") from None
    for char in text:
        if char > "\x7f" and _DELIMITERS.intersection(unicodedata.normalize("NFKC", char)):
            raise RequestRejected(
                f"The original path has U+{ord(char):04X}, which Unicode normalization turns into a path delimiter.",
                "path_unicode_delimiter",
            )


def _remove_dot_segments(path: str) -> str:
    """RFC 3986 5.2.4 on merged slashes; refuse where the two orders of doing it differ."""
    segments = path.split("/")
    last = len(segments) - 1
    kept: list[str] = []
    after_empty = False  # an empty segment since the last kept one
    for index in range(1, last + 1):
        segment = segments[index]
        if segment == "..":
            if after_empty:
                # `/a//../b`: `/b` once slashes are merged first (Traefik), `/a/b` by RFC 3986 (Envoy).
                raise RequestRejected("The original path has '..' after '//'.", reason="path_ambiguous_dot_segment")
            if not kept:
                raise RequestRejected("The original path climbs above the root.", reason="path_above_root")
            kept.pop()
        elif segment == "" and index < last:
            after_empty = True
        elif segment.startswith(_DOT_PARAMETERS):
            # Tomcat and Jetty strip `;params` and then read `..;x` as `..`.
            raise RequestRejected("The original path has a dot-segment with parameters.", reason="path_dot_parameter")
        elif segment not in ("", "."):
            kept.append(segment)
            after_empty = False
    trailing = "/" if kept and segments[last] in ("", ".", "..") else ""
    return "/" + "/".join(kept) + trailing
