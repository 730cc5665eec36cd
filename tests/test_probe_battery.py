"""The probe's judgement (authcheck/probe/battery.py), without a network: the verdict on
each answer. The same battery runs through real proxies in tests/e2e/test_probe.py."""

from __future__ import annotations

import json

import pytest

from authcheck.probe.battery import ECHO_MARKER, Attack, Seen, Target, attacks, lands_on, let_through, path_variants

TARGET = Target(protected="/admin/x", public="/public/x", nonce="probe-1234")


def echoed(path: str, headers: list[tuple[str, str]] = ()) -> Seen:  # type: ignore[assignment]
    body = json.dumps({ECHO_MARKER: True, "method": "GET", "path": path, "headers": list(headers)}).encode()
    return Seen.read(200, body)


@pytest.mark.parametrize("variant", path_variants(TARGET), ids=lambda attack: attack.name)
def test_every_path_trick_lands_on_the_protected_path_for_some_backend(variant: Attack) -> None:
    assert lands_on(variant.path, TARGET.protected)


@pytest.mark.parametrize("path", ["/public/x", "/public/admin/x", "/admin/xy", "/admin", "/public/x/%2e/admin/x"])
def test_other_paths_do_not_land_on_it(path: str) -> None:
    assert not lands_on(path, TARGET.protected)


def test_a_trick_the_app_received_is_let_through_only_if_it_lands_on_the_protected_path() -> None:
    trick = path_variants(TARGET)[0]
    assert let_through(trick, echoed(trick.path), TARGET)
    assert not let_through(trick, echoed("/public/x"), TARGET)  # a proxy that resolved it to the public path
    assert not let_through(trick, Seen.read(403, b'{"code": "auth.request_rejected"}'), TARGET)


def test_without_an_echo_any_answer_below_400_counts_as_reaching_the_app() -> None:
    spoof = next(a for a in attacks(TARGET) if a.attack_class == "spoofed-forwarding")
    assert let_through(spoof, Seen.read(200, b"<html>the admin page</html>"), TARGET)
    assert not let_through(spoof, Seen.read(401, b""), TARGET)


@pytest.mark.parametrize("name", ["X-Auth-Subject", "x_auth_subject", "X_AUTH_SUBJECT", "x-auth-subject"])
def test_an_injected_identity_header_is_found_in_any_spelling(name: str) -> None:
    injection = next(a for a in attacks(TARGET) if a.attack_class == "identity-injection")
    assert let_through(injection, echoed("/public/x", [(name, "probe-1234")]), TARGET)


def test_a_real_identity_value_or_an_unrelated_header_is_not_an_injection() -> None:
    injection = next(a for a in attacks(TARGET) if a.attack_class == "identity-injection")
    assert not let_through(injection, echoed("/public/x", [("X-Auth-Subject", "user-1")]), TARGET)
    assert not let_through(injection, echoed("/public/x", [("X-Other", "probe-1234")]), TARGET)


def test_an_upstream_echoing_in_its_own_format_is_read_for_the_nonce() -> None:
    injection = next(a for a in attacks(TARGET) if a.attack_class == "identity-injection")
    assert let_through(injection, Seen.read(200, b"X-Auth-Subject=probe-1234"), TARGET)


def test_the_battery_covers_every_class_and_marks_injections_with_the_nonce() -> None:
    battery = attacks(Target(protected="/admin/x", nonce="probe-9", identity_headers=("X-Auth-Email",)))
    assert {a.attack_class for a in battery} == {
        "path-tricks",
        "spoofed-forwarding",
        "identity-injection",
        "duplicate-authorization",
        "oversized-token",
    }
    injections = [a for a in battery if a.attack_class == "identity-injection"]
    assert {name for a in injections for name, _ in a.headers} == {
        "X-Auth-Email",
        "x-auth-email",
        "X_Auth_Email",
        "X_AUTH_EMAIL",
    }
    assert all(value == "probe-9" for a in injections for _, value in a.headers)
