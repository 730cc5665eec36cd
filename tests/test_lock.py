"""The lock files stay in step with pyproject.toml: every declared dependency is pinned at a
version its specifier allows, and the image's runtime pins are the ones CI tests with.
A failure here means: run scripts/lock (docs/development.md)."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from packaging.version import Version

REPO = Path(__file__).resolve().parent.parent
PROJECT = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)", re.MULTILINE)


def pins(lock: str) -> dict[str, Version]:
    text = (REPO / "requirements" / lock).read_text()
    return {canonicalize_name(name): Version(version) for name, version in PIN.findall(text)}


def assert_pinned(requirements: list[str], lock: str) -> None:
    locked = pins(lock)
    for line in requirements:
        requirement = Requirement(line)
        name = canonicalize_name(requirement.name)
        if name == PROJECT["name"]:  # authcheck[grpc]: its requirements are checked with their extra
            continue
        assert name in locked, f"{requirement.name} is not in requirements/{lock}: run scripts/lock"
        assert requirement.specifier.contains(locked[name], prereleases=True), (
            f"requirements/{lock} pins {name}=={locked[name]}, outside {requirement.specifier}: run scripts/lock"
        )


def test_runtime_lock_pins_every_runtime_dependency_and_the_grpc_extra() -> None:
    """The image serves `--grpc-port` too (k8s/gateway/grpc-port uses it)."""
    assert_pinned(PROJECT["dependencies"] + PROJECT["optional-dependencies"]["grpc"], "runtime.lock")


@pytest.mark.parametrize("extra", sorted(PROJECT["optional-dependencies"]))
def test_test_lock_pins_every_extra(extra: str) -> None:
    assert_pinned(PROJECT["dependencies"] + PROJECT["optional-dependencies"][extra], "test.lock")


def test_image_and_ci_run_the_same_runtime_versions() -> None:
    runtime, test = pins("runtime.lock"), pins("test.lock")
    assert {name: test.get(name) for name in runtime} == runtime


def test_pin_reader_sees_every_locked_package() -> None:
    """Guards the regex above: it must find one pin per hash-carrying entry, or the tests above
    would pass on a lock they cannot read."""
    text = (REPO / "requirements" / "test.lock").read_text()
    entries = [line for line in text.splitlines() if line and not line.startswith((" ", "#"))]
    assert len(entries) == len(pins("test.lock")) > 10
