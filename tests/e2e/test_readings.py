"""The readings the differential tests judge app paths by: each liberal reading is really made,
and the strict one stays RFC 3986. Without a proxy: a reading that silently went missing would
make the property in test_differential.py pass on paths it should catch."""

from __future__ import annotations

import pytest

from .readings import is_public, readings, strict_readings, under

ADMIN_UNDER_ONE_READING = [
    ("/public/../admin", "dot-segment"),
    ("/public/%2e%2e/admin", "decoded once"),
    ("/public/%252e%252e/admin", "decoded twice"),
    ("/public/%ef%bc%8e%ef%bc%8e/admin", "NFKC of fullwidth full stops"),
    ("/public/..%ef%bc%8fadmin", "NFKC of a fullwidth solidus"),
    ("/public/%e2%80%a4%e2%80%a4/admin", "NFKC of one dot leaders"),
    ("/public/%c0%ae%c0%ae/admin", "lenient UTF-8, 2-byte overlong"),
    ("/public/%e0%80%ae%e0%80%ae/admin", "lenient UTF-8, 3-byte overlong"),
    ("/public/\udcc0\udcae\udcc0\udcae/admin", "lenient UTF-8 of raw bytes"),
    ("/public/..\\admin", "backslash as slash"),
    ("/public/..%5Cadmin", "encoded backslash as slash"),
    ("/public;x/../admin", "`;params` stripped"),
    ("/public/..;/admin", "`..;` read as `..`"),
    ("/public/x#/../../admin", "cut at `#`, or not"),
    ("/public//../admin", "slashes merged before dot-segments"),
    ("/admin%00/../public/x", "cut at NUL"),
    ("/public/x/../..//admin", "above the root stays at the root"),
]


@pytest.mark.parametrize(("target", "why"), ADMIN_UNDER_ONE_READING, ids=[why for _, why in ADMIN_UNDER_ONE_READING])
def test_some_reading_reaches_admin(target: str, why: str) -> None:
    assert any(under(r, "/admin") for r in readings(target)), readings(target)
    assert not is_public(target)


@pytest.mark.parametrize("target", ["/public/x", "/public/%78", "/public/a%2Fb", "/public/%c3%bc", "/public/100%25"])
def test_public_paths_stay_public(target: str) -> None:
    assert is_public(target), readings(target)


def test_strict_reading_is_rfc_3986_only() -> None:
    assert strict_readings("/public/%2e%2e/admin") == {"/admin"}
    assert strict_readings("/public//../admin") == {"/public/admin", "/admin"}  # the two orders
    for liberal in ("/public/%252e%252e/admin", "/public/%ef%bc%8e%ef%bc%8e/admin", "/public/..\\admin"):
        assert not any(under(r, "/admin") for r in strict_readings(liberal)), liberal


def test_under_is_a_segment_prefix() -> None:
    assert under("/admin", "/admin") and under("/admin/x", "/admin")
    assert not under("/administrator", "/admin")
