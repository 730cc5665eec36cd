"""normalize_path: the form rules match on, and every path refused as ambiguous."""

from __future__ import annotations

import unicodedata

import pytest

from authcheck.core.errors import RequestRejected
from authcheck.core.paths import normalize_path

NORMALIZED = [
    pytest.param("/", "/", id="root-unchanged"),
    pytest.param("/api/items", "/api/items", id="clean-path-unchanged"),
    pytest.param("/x/", "/x/", id="trailing-slash-kept"),
    pytest.param("/.well-known/openid-configuration", "/.well-known/openid-configuration", id="dot-prefixed-name-kept"),
    pytest.param("/a/..b/c.", "/a/..b/c.", id="dots-inside-names-kept"),
    pytest.param("/a/.../b", "/a/.../b", id="three-dots-is-a-name"),
    pytest.param("/a/../admin", "/admin", id="dot-dot-removed"),
    pytest.param("/a/./b", "/a/b", id="dot-removed"),
    pytest.param("//x//y", "/x/y", id="repeated-slashes-merged"),
    pytest.param("/x//", "/x/", id="repeated-trailing-slash-merged"),
    pytest.param("//x/../y", "/y", id="leading-double-slash-then-dot-dot"),
    pytest.param("/x/../", "/", id="dot-dot-back-to-root"),
    pytest.param("/a/b/..", "/a/", id="final-dot-dot-leaves-trailing-slash"),
    pytest.param("/a/.", "/a/", id="final-dot-leaves-trailing-slash"),
    pytest.param("/a/%2e%2e/admin", "/admin", id="encoded-dot-dot-removed"),
    pytest.param("/a/%2E%2e/admin", "/admin", id="mixed-case-encoded-dot-dot-removed"),
    pytest.param("/a/.%2e/admin", "/admin", id="half-encoded-dot-dot-removed"),
    pytest.param("/a/%2e/b", "/a/b", id="encoded-dot-removed"),
    pytest.param("/%61dmin", "/admin", id="encoded-letter-decoded"),
    pytest.param("/%7Euser/%2D%5F%30", "/~user/-_0", id="encoded-unreserved-decoded"),
    pytest.param("/a%3ab%40c", "/a%3Ab%40c", id="encoded-reserved-kept-hex-upper-cased"),
    pytest.param("/caf%c3%a9", "/caf%C3%A9", id="encoded-utf8-kept-hex-upper-cased"),
    pytest.param("/%25", "/%25", id="encoded-percent-kept"),
    pytest.param("/%25x/%25-1", "/%25x/%25-1", id="encoded-percent-before-non-hex-kept"),
    pytest.param("/caf%C3%A9/%E2%82%AC", "/caf%C3%A9/%E2%82%AC", id="encoded-utf8-letters-and-symbols-kept"),
    pytest.param("/a|b", "/a%7Cb", id="raw-pipe-escaped"),
    pytest.param("/a%7cb", "/a%7Cb", id="encoded-pipe-same-as-raw"),
    pytest.param("/q/{x}[y]", "/q/%7Bx%7D%5By%5D", id="raw-braces-and-brackets-escaped"),
    pytest.param("/a:b@c!$&'()*+,=", "/a:b@c!$&'()*+,=", id="sub-delims-kept-raw"),
    # Ory Oathkeeper GHSA-p224-6x5r-fjpm: a permissive `/public/**` rule must not see these.
    pytest.param("/public/../admin/secrets", "/admin/secrets", id="oathkeeper-GHSA-p224-dot-dot"),
    pytest.param("/public/%2e%2e/admin/secrets", "/admin/secrets", id="oathkeeper-GHSA-p224-encoded-dot-dot"),
    pytest.param("/public/./../admin", "/admin", id="oathkeeper-GHSA-p224-dot-then-dot-dot"),
    pytest.param("//admin", "/admin", id="double-slash-prefix-is-admin"),
]


@pytest.mark.parametrize(("raw", "expected"), NORMALIZED)
def test_normalizes(raw: str, expected: str) -> None:
    assert normalize_path(raw) == expected
    assert normalize_path(expected) == expected  # the canonical form is a fixed point


REJECTED = [
    pytest.param("", "path_empty", id="empty-403"),
    pytest.param("api/items", "path_not_absolute", id="relative-403"),
    pytest.param("*", "path_not_absolute", id="asterisk-form-403"),
    pytest.param("http://h/admin", "path_not_absolute", id="absolute-form-403"),
    pytest.param("/a%2Fb", "path_encoded_slash", id="encoded-slash-403"),
    pytest.param("/a%2fb", "path_encoded_slash", id="lower-case-encoded-slash-403"),
    pytest.param("/public/..%2Fadmin", "path_encoded_slash", id="dot-dot-encoded-slash-403"),
    pytest.param("/a%5Cb", "path_encoded_backslash", id="encoded-backslash-403"),
    pytest.param("/a%5cb", "path_encoded_backslash", id="lower-case-encoded-backslash-403"),
    pytest.param("/a\\b", "path_backslash", id="raw-backslash-403"),
    pytest.param("/public/..\\admin", "path_backslash", id="dot-dot-backslash-403"),
    pytest.param("/admin%00.png", "path_encoded_nul", id="encoded-nul-403"),
    pytest.param("/a%0Ab", "path_encoded_control", id="encoded-newline-403"),
    pytest.param("/a%0db", "path_encoded_control", id="encoded-carriage-return-403"),
    pytest.param("/a%1Fb", "path_encoded_control", id="encoded-unit-separator-403"),
    pytest.param("/a%7Fb", "path_encoded_control", id="encoded-delete-403"),
    pytest.param("/a\x00b", "path_control_character", id="raw-nul-403"),
    pytest.param("/a\tb", "path_control_character", id="raw-tab-403"),
    pytest.param("/a\nb", "path_control_character", id="raw-newline-403"),
    pytest.param("/a\x7fb", "path_control_character", id="raw-delete-403"),
    pytest.param("/a b", "path_invalid_character", id="raw-space-403"),
    pytest.param("/café", "path_invalid_character", id="raw-non-ascii-403"),
    pytest.param("/a\u2215b", "path_invalid_character", id="raw-unicode-division-slash-403"),
    pytest.param("/admin#/public", "path_invalid_character", id="raw-fragment-403"),
    pytest.param("/admin?x", "path_invalid_character", id="raw-query-mark-403"),
    pytest.param("/..", "path_above_root", id="dot-dot-at-root-403"),
    pytest.param("/../admin", "path_above_root", id="dot-dot-above-root-403"),
    pytest.param("/a/../..", "path_above_root", id="second-dot-dot-above-root-403"),
    pytest.param("/%2e%2e/admin", "path_above_root", id="encoded-dot-dot-above-root-403"),
    pytest.param("/%", "path_invalid_escape", id="lone-percent-403"),
    pytest.param("/a%4", "path_invalid_escape", id="short-escape-403"),
    pytest.param("/%zz", "path_invalid_escape", id="non-hex-escape-403"),
    pytest.param("/%4g", "path_invalid_escape", id="second-digit-not-hex-403"),
    pytest.param("/%+1", "path_invalid_escape", id="signed-escape-403"),
    pytest.param("/%%41", "path_invalid_escape", id="percent-before-escape-403"),
    pytest.param("/..;x/admin", "path_parameter", id="dot-dot-with-parameter-403"),
    pytest.param("/public/..;/admin", "path_parameter", id="tomcat-dot-dot-semicolon-403"),
    pytest.param("/.;x/admin", "path_parameter", id="dot-with-parameter-403"),
    pytest.param("/admin;x/secret", "path_parameter", id="parameter-on-a-name-403"),
    pytest.param("/.%3Bx/admin", "path_dot_parameter", id="dot-encoded-semicolon-403"),
    pytest.param("/public/%2e%2e;/admin", "path_parameter", id="encoded-dot-dot-semicolon-403"),
    pytest.param("/public/..%3b/admin", "path_dot_parameter", id="dot-dot-encoded-semicolon-403"),
    pytest.param("/a//../b", "path_ambiguous_dot_segment", id="dot-dot-after-double-slash-403"),
    pytest.param("/a//./../b", "path_ambiguous_dot_segment", id="dot-dot-after-double-slash-and-dot-403"),
    pytest.param("/%c0%ae%c0%ae/admin", "path_overlong_utf8", id="overlong-utf8-dot-403"),
    # Issue 12: what a backend that decodes twice, or normalizes Unicode, reads another way.
    pytest.param("/public/%252e%252e/admin/x", "path_double_encoded", id="double-encoded-dot-dot-403"),
    pytest.param("/%252F", "path_double_encoded", id="double-encoded-slash-403"),
    pytest.param("/%25%32%65", "path_double_encoded", id="double-encoding-with-encoded-digits-403"),
    pytest.param("/%2525", "path_double_encoded", id="triple-encoding-403"),
    pytest.param("/public/..%EF%BC%8Fadmin/x", "path_unicode_delimiter", id="fullwidth-solidus-403"),
    pytest.param("/a%EF%BC%BCb", "path_unicode_delimiter", id="fullwidth-reverse-solidus-403"),
    pytest.param("/%EF%BC%8E%EF%BC%8E/admin", "path_unicode_delimiter", id="fullwidth-full-stops-403"),
    pytest.param("/%E2%80%A4%E2%80%A4/admin", "path_unicode_delimiter", id="one-dot-leaders-403"),
    pytest.param("/x%E2%80%A5/admin", "path_unicode_delimiter", id="two-dot-leader-403"),
    pytest.param("/a%EF%BC%9Bb", "path_unicode_delimiter", id="fullwidth-semicolon-403"),
    pytest.param("/a%EF%BC%85%32%65", "path_unicode_delimiter", id="fullwidth-percent-403"),
    pytest.param("/a%FFb", "path_invalid_utf8", id="invalid-utf8-byte-403"),
    pytest.param("/a%C3", "path_invalid_utf8", id="truncated-utf8-403"),
    pytest.param("/a%E2%82", "path_invalid_utf8", id="truncated-three-byte-utf8-403"),
    pytest.param("/a%ED%A0%80", "path_invalid_utf8", id="utf8-surrogate-403"),
    pytest.param("/a%80b", "path_invalid_utf8", id="lone-continuation-byte-403"),
    pytest.param("/a%c0%afb", "path_overlong_utf8", id="overlong-utf8-slash-403"),
]


@pytest.mark.parametrize(("raw", "reason"), REJECTED)
def test_rejects_ambiguous(raw: str, reason: str) -> None:
    with pytest.raises(RequestRejected) as caught:
        normalize_path(raw)
    assert caught.value.reason == reason
    assert caught.value.status == 403


def _nfkc_delimiters(limit: int = 0x30000) -> list[str]:
    """Every character (planes 0-2) whose compatibility form contains `/`, `\\` or `.`: computed, not listed."""
    return [chr(c) for c in range(0x80, limit) if set(unicodedata.normalize("NFKC", chr(c))) & {"/", "\\", "."}]


def test_every_character_nfkc_turns_into_a_slash_backslash_or_dot_is_refused() -> None:
    found = _nfkc_delimiters()
    assert {"\uff0f", "\uff3c", "\uff0e", "\u2024", "\ufe52"} <= set(found)  # the computation finds the known ones
    for char in found:
        escaped = "".join(f"%{byte:02X}" for byte in char.encode())
        with pytest.raises(RequestRejected) as caught:
            normalize_path(f"/public/..{escaped}admin")
        assert caught.value.reason == "path_unicode_delimiter", char
