"""`authcheck schema`: the config file's JSON Schema (draft 2020-12), for YAML language servers.

Built from the tables `authcheck.config.schema` walks, each key's fragment given beside its
check, so the two cannot drift apart. What only the walk can tell (a rule's issuers must be
configured ones, a capture used must be defined, names unique) is `authcheck check`'s job.
"""

from __future__ import annotations

from typing import Any

from authcheck import __version__
from authcheck.config.schema import ACCESS_KEYS, TABLES, TOKEN_KEYS, json_fragment, table_id

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"


def config_json_schema() -> dict[str, Any]:
    top, *others = TABLES
    schema: dict[str, Any] = {
        "$schema": SCHEMA_DIALECT,
        "title": f"authcheck config (authcheck {__version__})",
        **_object(top),
        "$defs": {table_id(table): _object(table) for table in others},
    }
    schema["$defs"]["rule"].update(_rule_access())
    return schema


def _object(table: Any) -> dict[str, Any]:
    fragment: dict[str, Any] = {
        "type": "object",
        "properties": {key: json_fragment(check) for key, check in table.checks.items()},
        "additionalProperties": False,
    }
    if table.required:
        fragment["required"] = list(table.required)
    return fragment


def _rule_access() -> dict[str, Any]:
    """Exactly one of allow, scopes, any_scopes (or none, with a key that implies a token);
    an anonymous rule has none of the keys that need a token."""
    pairs = [[a, b] for i, a in enumerate(ACCESS_KEYS) for b in ACCESS_KEYS[i + 1 :]]
    return {
        "anyOf": [{"required": [key]} for key in (*ACCESS_KEYS, *TOKEN_KEYS)],
        "not": {"anyOf": [{"required": pair} for pair in pairs]},
        "if": {"properties": {"allow": {"const": "anonymous"}}, "required": ["allow"]},
        "then": {"not": {"anyOf": [{"required": [key]} for key in TOKEN_KEYS]}},
    }
