"""One vocabulary of refusal reasons: every reason the code can raise is listed in
authcheck.core.reasons (and explained in docs/reasons.md), and nothing listed is stale.

Read from the source (ast), so a new `raise InvalidToken(..., "new_reason")` anywhere fails
here until it is listed. A reason passed as a variable must come from one of the known
tables, which are read too.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

from authcheck.core import errors
from authcheck.core.reasons import REASONS

PACKAGE = Path(__file__).resolve().parent.parent / "authcheck"
DOCS = Path(__file__).resolve().parent.parent / "docs" / "reasons.md"
# (module, function) where a reason is a variable, and the module-level table it comes from.
TABLE_DRIVEN = {
    ("core/paths.py", "_decode_unreserved"): "_FORBIDDEN_ESCAPES",
    ("core/tokens.py", "_describe"): "_PYJWT_ERRORS",
}


def _denial_classes() -> set[str]:
    """Denial and every class of authcheck.core.errors derived from it."""
    classes = {"Denial"}
    tree = ast.parse((PACKAGE / "core/errors.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.ClassDef) and any(isinstance(b, ast.Name) and b.id in classes for b in node.bases):
            classes.add(node.name)
    return classes


def _targets(node: ast.stmt) -> list[ast.expr]:
    if isinstance(node, ast.Assign):
        return node.targets
    return [node.target] if isinstance(node, ast.AnnAssign) else []


def _class_reasons() -> set[str]:
    """The `reason = "..."` of each class in authcheck.core.errors."""
    tree = ast.parse((PACKAGE / "core/errors.py").read_text())
    return {
        stmt.value.value
        for node in tree.body
        if isinstance(node, ast.ClassDef)
        for stmt in node.body
        if isinstance(stmt, ast.AnnAssign | ast.Assign)
        and isinstance(stmt.value, ast.Constant)
        and any(isinstance(t, ast.Name) and t.id == "reason" for t in _targets(stmt))
    }


def _table_reasons(tree: ast.Module, table: str) -> set[str]:
    """The last string of each row of a module-level table of (..., reason) tuples."""
    for node in tree.body:
        target = (
            node.target
            if isinstance(node, ast.AnnAssign)
            else node.targets[0]
            if isinstance(node, ast.Assign)
            else None
        )
        if isinstance(target, ast.Name) and target.id == table and node.value is not None:
            rows = node.value.values if isinstance(node.value, ast.Dict) else getattr(node.value, "elts", [])
            return {row.elts[-1].value for row in rows if isinstance(row, ast.Tuple)}  # type: ignore[attr-defined]
    raise AssertionError(f"no table {table}")


def _reason_position(name: str) -> int | None:
    """Where the class's constructor takes `reason` among its positional arguments (None: it takes none)."""
    parameters = list(inspect.signature(getattr(errors, name)).parameters)
    return parameters.index("reason") if "reason" in parameters else None


def raised_reasons() -> set[str]:
    classes = _denial_classes()
    found = _class_reasons()
    for path in PACKAGE.rglob("*.py"):
        module = str(path.relative_to(PACKAGE))
        tree = ast.parse(path.read_text())
        for function in [n for n in ast.walk(tree) if isinstance(n, ast.FunctionDef)]:
            for call in [n for n in ast.walk(function) if isinstance(n, ast.Call)]:
                name = getattr(call.func, "id", getattr(call.func, "attr", None))
                if name not in classes:
                    continue
                position = _reason_position(name)
                reason = next((k.value for k in call.keywords if k.arg == "reason"), None)
                if reason is None and position is not None and len(call.args) > position:
                    reason = call.args[position]
                if reason is None:
                    continue  # the class's own reason
                if isinstance(reason, ast.Constant):
                    found.add(reason.value)
                elif isinstance(reason, ast.Subscript) and isinstance(reason.value, ast.Name):
                    found |= _dict_values(tree, reason.value.id)
                else:
                    table = TABLE_DRIVEN.get((module, function.name))
                    assert table, f"{module}:{call.lineno}: a reason from a variable; list its table in TABLE_DRIVEN"
                    found |= _table_reasons(tree, table)
    return found


def _dict_values(tree: ast.Module, table: str) -> set[str]:
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == table for t in node.targets):
            assert isinstance(node.value, ast.Dict)
            return {value.value for value in node.value.values if isinstance(value, ast.Constant)}
    raise AssertionError(f"no table {table}")


def test_every_reason_raised_is_listed() -> None:
    unlisted = raised_reasons() - set(REASONS)
    assert not unlisted, f"add these to authcheck/core/reasons.py and docs/reasons.md: {sorted(unlisted)}"


def test_every_reason_listed_is_raised() -> None:
    stale = set(REASONS) - raised_reasons()
    assert not stale, f"listed but never raised: {sorted(stale)}"


def test_the_scan_finds_reasons_of_every_kind() -> None:
    """Literal arguments, keyword arguments, class defaults, tables and dict lookups."""
    assert {"token_expired", "path_empty", "route_denied", "path_encoded_slash", "token_audience_invalid"} <= (
        raised_reasons()
    )
    assert {"conflicting_uri", "path_unicode_delimiter", "token_too_deep"} <= raised_reasons()


def test_docs_explain_every_reason() -> None:
    text = DOCS.read_text()
    missing = [reason for reason in REASONS if f"`{reason}`" not in text]
    assert not missing, f"docs/reasons.md does not explain {missing}"
