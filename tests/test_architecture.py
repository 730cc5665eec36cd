"""The tree's promise: the decision core does no I/O, so every road can share it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "authcheck"
# What the pure core may never import: the I/O edges and the libraries that do I/O.
FORBIDDEN_IN_CORE = (
    "authcheck.service",
    "authcheck.cli",
    "httpx",
    "starlette",
    "uvicorn",
    "structlog",
    "asyncio",
    "socket",
    "os",
    "subprocess",
    "grpc",
)


def imports_of(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


CORE_MODULES = sorted((PACKAGE / "core").glob("*.py"))


def test_the_core_has_modules() -> None:
    assert len(CORE_MODULES) > 10


@pytest.mark.parametrize("path", CORE_MODULES, ids=lambda p: p.stem)
def test_core_module_does_no_io(path: Path) -> None:
    bad = {
        name
        for name in imports_of(path)
        for forbidden in FORBIDDEN_IN_CORE
        if name == forbidden or name.startswith(forbidden + ".")
    }
    assert not bad, f"authcheck/core/{path.name} imports {sorted(bad)}: the core must stay pure"


def test_the_check_sees_a_forbidden_import(tmp_path: Path) -> None:
    module = tmp_path / "m.py"
    module.write_text("import httpx\nfrom authcheck.service.key_store import KeyStore\n")
    assert {"httpx", "authcheck.service.key_store"} <= imports_of(module)
