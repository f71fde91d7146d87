"""Body validation as an API server does it: CRD structural schemas, and the core kinds' OpenAPI schemas.

- CRDs: the `openAPIV3Schema` of the served version (Tekton's own CRDs from ../shared, read as they are),
  walked like the API server's structural-schema validation: types (with `x-kubernetes-int-or-string`),
  `required`, `enum`, `pattern`, `items`, `additionalProperties` maps, `anyOf`, and unknown fields wherever
  `x-kubernetes-preserve-unknown-fields` is not set. Unknown fields are reported apart (the server prunes
  them, warns, or refuses them under `fieldValidation=Strict`).
- Core kinds (Pod, PVC, ServiceAccount, Role, RoleBinding, CronJob): the strict JSON schemas shipped by the
  `kubernetes-validate` package, when it is installed (all errors, not only the first).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import cache
from typing import Any

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "object": (dict,),
    "array": (list,),
    "string": (str,),
    "boolean": (bool,),
    "integer": (int,),
    "number": (int, float),
}


@dataclass
class Problems:
    invalid: list[tuple[str, str, str]] = field(default_factory=list)  # (field, reason, message)
    unknown: list[str] = field(default_factory=list)  # field paths

    def __bool__(self) -> bool:
        return bool(self.invalid or self.unknown)


def _path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


def _type_ok(value: Any, kind: str) -> bool:
    if isinstance(value, bool) and kind in ("integer", "number"):
        return False
    return isinstance(value, JSON_TYPES.get(kind, (object,)))


def structural(value: Any, schema: dict[str, Any], where: str, out: Problems, *, prune: bool) -> Any:
    """Validate `value` against a CRD schema node; returns the value with unknown fields pruned if asked."""
    if value is None:
        if not schema.get("nullable"):
            kind = schema.get("type")
            if kind:
                out.invalid.append(
                    (
                        where,
                        "FieldValueTypeNotSupported",
                        f'Invalid value: "null": {where} in body must be of type {kind}: "null"',
                    )
                )
        return value
    if schema.get("x-kubernetes-int-or-string"):
        if not (_type_ok(value, "integer") or _type_ok(value, "string")):
            out.invalid.append(
                (
                    where,
                    "FieldValueInvalid",
                    f"Invalid value: {value!r}: {where} in body must be of type integer or string",
                )
            )
        return value
    if "anyOf" in schema and not schema.get("type"):
        return value
    kind = schema.get("type")
    if kind and not _type_ok(value, kind):
        out.invalid.append(
            (
                where,
                "FieldValueTypeNotSupported",
                f'Invalid value: "{type(value).__name__}": {where} in body must be of type {kind}: '
                f'"{type(value).__name__}"',
            )
        )
        return value
    if "enum" in schema and value not in schema["enum"]:
        allowed = ", ".join(f'"{v}"' for v in schema["enum"])
        out.invalid.append(
            (where, "FieldValueNotSupported", f'Unsupported value: "{value}": supported values: {allowed}')
        )
    if isinstance(value, str) and "pattern" in schema and not re.search(schema["pattern"], value):
        out.invalid.append(
            (
                where,
                "FieldValueInvalid",
                f"Invalid value: \"{value}\": {where} in body should match '{schema['pattern']}'",
            )
        )
    if isinstance(value, list) and "items" in schema:
        return [
            structural(v, schema["items"], _path(where, i), out, prune=prune) for i, v in enumerate(value)
        ]
    if isinstance(value, dict):
        for name in schema.get("required", []):
            if name not in value:
                out.invalid.append((_path(where, name), "FieldValueRequired", "Required value"))
        props: dict[str, Any] = schema.get("properties") or {}
        extra = schema.get("additionalProperties")
        preserve = bool(schema.get("x-kubernetes-preserve-unknown-fields"))
        kept: dict[str, Any] = {}
        for key, item in value.items():
            child = _path(where, key)
            if key in props:
                kept[key] = structural(item, props[key], child, out, prune=prune)
            elif isinstance(extra, dict):
                kept[key] = structural(item, extra, child, out, prune=prune)
            elif preserve or extra is True:
                kept[key] = item
            else:
                out.unknown.append(child)
                if not prune:
                    kept[key] = item
        return kept
    return value


def core_problems(obj: dict[str, Any]) -> Problems | None:
    """All problems of a core object under the strict schemas of `kubernetes-validate`; None: no schema."""
    validator = _core_validator(str(obj.get("apiVersion")), str(obj.get("kind")))
    if validator is None:
        return None
    out = Problems()
    for error in validator.iter_errors(obj):
        where = ""
        for part in error.absolute_path:
            where = _path(where, part)
        if error.validator == "additionalProperties":
            for name in re.findall(r"'([^']+)' was unexpected", error.message) or ["?"]:
                out.unknown.append(_path(where, name))
        else:
            out.invalid.append((where or "(object)", "FieldValueInvalid", f"Invalid value: {error.message}"))
    return out


@cache
def _core_validator(api_version: str, kind: str) -> Any:
    import importlib

    try:  # untyped packages: Any through import_module
        jsonschema: Any = importlib.import_module("jsonschema")
        kubernetes_validate: Any = importlib.import_module("kubernetes_validate")
        utils: Any = importlib.import_module("kubernetes_validate.utils")
        referencing: Any = importlib.import_module("referencing")
    except ImportError:
        return None
    version = str(kubernetes_validate.latest_version())
    api = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", api_version)
    folder = f"v{version}-local-strict"
    try:
        schema = utils.schema_contents(f"kubernetes-json-schema/{folder}/{kind.lower()}-{api}.json", version)
    except FileNotFoundError:
        return None
    defs = utils.schema_contents(f"kubernetes-json-schema/{folder}/_definitions.json", version)
    registry: Any = referencing.Resource.from_contents(schema) @ referencing.Registry()
    registry = referencing.Resource.from_contents(defs) @ registry
    return jsonschema.validators.Draft202012Validator(schema, registry=registry)
