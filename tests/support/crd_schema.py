"""Validate a manifest against the openAPIV3Schema of its CustomResourceDefinition, as the API
server does: structural schemas reject (kubectl's strict field validation) or prune unknown fields.

The vendored CRDs (k8s/gateway/crds/) are turned into JSON Schema draft 4, the dialect OpenAPI
3.0 schemas follow (boolean exclusiveMinimum/Maximum). The `x-kubernetes-*` extensions:

- `x-kubernetes-preserve-unknown-fields: true` keeps that object open (unknown fields allowed);
- `x-kubernetes-int-or-string: true` accepts an integer or a string;
- `x-kubernetes-validations` (CEL rules), list/map types and `embedded-resource` are not checked:
  the rules need a CEL evaluator with Kubernetes' extension library, which is not used here;
- every other object that lists `properties` and has no `additionalProperties` gets
  `additionalProperties: false`: that is how a structural schema treats a field it does not list.
`format` is not asserted (no format checker).

`metadata` is checked against Kubernetes' own ObjectMeta (strict) from kubernetes-validate.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jsonschema
import kubernetes_validate
import yaml

Schema = dict[str, Any]
OBJECT_META_VERSION = "v1.36.0"  # any recent Kubernetes: ObjectMeta has not changed in years


@dataclass(frozen=True)
class CrdVersion:
    group: str
    version: str
    kind: str
    served: bool
    schema: Schema
    source: Path


def load_crds(paths: Iterable[Path]) -> dict[tuple[str, str], CrdVersion]:
    """(apiVersion, kind) -> that version of the CRD, for every CRD document in `paths`."""
    found: dict[tuple[str, str], CrdVersion] = {}
    for path in paths:
        for doc in yaml.safe_load_all(path.read_text()):
            if not doc or doc.get("kind") != "CustomResourceDefinition":
                continue
            spec = doc["spec"]
            for version in spec["versions"]:
                crd = CrdVersion(
                    spec["group"],
                    version["name"],
                    spec["names"]["kind"],
                    bool(version.get("served")),
                    version["schema"]["openAPIV3Schema"],
                    path,
                )
                found[f"{crd.group}/{crd.version}", crd.kind] = crd
    return found


def json_schema(crd: CrdVersion) -> Schema:
    """The CRD version's schema as a closed JSON Schema, with ObjectMeta for `metadata`."""
    schema: Schema = _convert(copy.deepcopy(crd.schema))
    schema["$schema"] = "http://json-schema.org/draft-04/schema#"
    # The API server always allows these three at the root, listed or not (Istio's are not).
    schema["properties"].setdefault("apiVersion", {"type": "string"})
    schema["properties"].setdefault("kind", {"type": "string"})
    schema["properties"]["metadata"] = object_meta()
    schema.setdefault("required", [])
    for key in ("apiVersion", "kind", "metadata"):
        if key not in schema["required"]:
            schema["required"].append(key)
    return schema


def validate(doc: Mapping[str, Any], crds: Mapping[tuple[str, str], CrdVersion]) -> None:
    """Raise jsonschema.ValidationError (the first, most relevant error) or LookupError."""
    key = (doc.get("apiVersion", ""), doc.get("kind", ""))
    crd = crds.get(key)
    if crd is None:
        raise LookupError(f"no vendored CRD serves {key[0]} {key[1]}")
    if not crd.served:
        raise LookupError(f"{key[0]} {key[1]} is not a served version in {crd.source.name}")
    validator = jsonschema.Draft4Validator(json_schema(crd))
    error = jsonschema.exceptions.best_match(validator.iter_errors(doc))
    if error is not None:
        raise error


def object_meta() -> Schema:
    """Kubernetes' strict ObjectMeta schema, its references to other types left open."""
    folder = (
        Path(kubernetes_validate.__file__).parent / "kubernetes-json-schema" / f"{OBJECT_META_VERSION}-local-strict"
    )
    meta: Schema = json.loads((folder / "objectmeta-meta-v1.json").read_text())
    meta.pop("$schema", None)
    meta.pop("$id", None)
    for name, prop in meta["properties"].items():
        if "$ref" in prop:
            meta["properties"][name] = {}
        elif "$ref" in prop.get("items", {}):
            prop["items"] = {}
    return meta


_IGNORED = (
    "x-kubernetes-validations",
    "x-kubernetes-list-type",
    "x-kubernetes-list-map-keys",
    "x-kubernetes-map-type",
    "x-kubernetes-embedded-resource",
)


def _convert(node: Any, closed: bool = True) -> Any:
    """`closed`: False inside allOf/anyOf/oneOf/not, whose branches only add checks to fields
    the enclosing schema lists (a structural schema may not declare fields there)."""
    if isinstance(node, list):
        return [_convert(item, closed) for item in node]
    if not isinstance(node, dict):
        return node
    for key in _IGNORED:
        node.pop(key, None)
    preserve = node.pop("x-kubernetes-preserve-unknown-fields", False)
    if node.pop("x-kubernetes-int-or-string", False):
        node.pop("type", None)
        node["anyOf"] = [{"type": "integer"}, {"type": "string"}]
    if node.pop("nullable", False) and "type" in node:
        node["type"] = [node["type"], "null"]
    for key in ("properties", "patternProperties"):
        if isinstance(node.get(key), dict):
            node[key] = {name: _convert(sub) for name, sub in node[key].items()}
    for key in ("items", "additionalProperties"):
        if isinstance(node.get(key), dict | list):
            node[key] = _convert(node[key])
    for key in ("allOf", "anyOf", "oneOf", "not"):
        if key in node:
            node[key] = _convert(node[key], closed=False)
    if closed and "properties" in node and "additionalProperties" not in node and not preserve:
        node["additionalProperties"] = False
    return node
