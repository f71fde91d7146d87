"""Published schemas a rendered document must pass, with every error at file:line and its field path.

- Tekton's own CRDs (`openAPIV3Schema` of the v1 version, from `../shared/tekton/crds-v1.15.0` or a given
  directory): made strict where the API server would prune, so a field a real cluster would silently drop is
  an error here. The Pipeline CRD leaves embedded `taskSpec`s open; they are checked against the Task CRD's
  spec, as Tekton's admission webhook does.
- Kubernetes' core kinds through the `kubernetes-validate` package (strict schemas, shipped with the package,
  no network): PersistentVolumeClaim, ServiceAccount, Role(Binding), CronJob, ConfigMap; and containers and
  volumes embedded in CRDs (a KServe predictor's) against the same definitions.

`jsonschema` and `kubernetes-validate` are imported lazily; without them the check says it was skipped.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import os
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml

from retrain.errors import InvalidInput, Location
from retrain.tekton.loader import SourceMap, format_field_path

__all__ = ["CRD_DIR_NAME", "CrdSchemas", "KubernetesSchemas", "find_crds"]

CRD_DIR_NAME = "crds-v1.15.0"
CRD_ENV = "RETRAIN_TEKTON_CRDS"
FieldPath = tuple[str | int, ...]
_MAX_MESSAGE = 160


def find_crds(explicit: Path | None, *, cwd: Path | None = None) -> Path | None:
    """--crds, else $RETRAIN_TEKTON_CRDS, else `../shared/tekton/crds-v1.15.0` beside the working directory
    or beside this source checkout; None when none exists."""
    if explicit is not None:
        return explicit
    if os.environ.get(CRD_ENV):
        return Path(os.environ[CRD_ENV])
    here = Path(__file__).resolve()
    roots = [(cwd or Path.cwd()).resolve(), *(here.parents[i] for i in range(2, 5) if i < len(here.parents))]
    for root in roots:
        candidate = root.parent / "shared" / "tekton" / CRD_DIR_NAME
        if candidate.is_dir():
            return candidate
    return None


def _strict(schema: Any) -> Any:
    """Forbid unknown fields wherever Kubernetes would prune them (structural schemas without
    x-kubernetes-preserve-unknown-fields)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _short(text: str) -> str:
    return text if len(text) <= _MAX_MESSAGE else text[: _MAX_MESSAGE - 3] + "..."


def _problems(
    errors: Iterable[Any], source: SourceMap, prefix: FieldPath, checker: str
) -> list[InvalidInput]:
    out: list[InvalidInput] = []
    for err in errors:
        path = (*prefix, *err.absolute_path)
        if (
            err.validator == "additionalProperties"
            and err.validator_value is False
            and isinstance(err.instance, dict)
        ):
            allowed = sorted(err.schema.get("properties", {}))
            for key in sorted(k for k in err.instance if k not in allowed):
                close = difflib.get_close_matches(key, allowed, n=1, cutoff=0.6)
                where = source.location(format_field_path((*path, key)))
                hint = f"did you mean {close[0]!r}?" if close else None
                out.append(InvalidInput(f"unknown field {key!r} [{checker}]", location=where, hint=hint))
            continue
        where = source.location(format_field_path(path))
        out.append(InvalidInput(f"{_short(err.message)} [{checker}]", location=where))
    return out


@functools.lru_cache(maxsize=4)
def _load_crds(directory: Path) -> dict[str, dict[str, Any]]:
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    schemas: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.yaml")):
        crd = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)  # noqa: S506 - a safe loader
        if not isinstance(crd, dict) or crd.get("kind") != "CustomResourceDefinition":
            continue
        for version in crd["spec"].get("versions", []):
            if version.get("name") == "v1":
                schemas[crd["spec"]["names"]["kind"]] = _strict(version["schema"]["openAPIV3Schema"])
    return schemas


class CrdSchemas:
    """Tekton's v1 CRD schemas from one directory."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._jsonschema = importlib.import_module("jsonschema")
        self.schemas = _load_crds(directory.resolve())
        if not self.schemas:
            raise InvalidInput(
                f"no Tekton CustomResourceDefinitions in {directory}",
                location=Location(str(directory)),
                hint="point --crds (or RETRAIN_TEKTON_CRDS) at Tekton's config/ CRD files",
            )

    def _validate(
        self, schema: dict[str, Any], data: Any, source: SourceMap, prefix: FieldPath
    ) -> list[InvalidInput]:
        validator = self._jsonschema.Draft7Validator(schema)
        return _problems(validator.iter_errors(data), source, prefix, "Tekton v1 CRD schema")

    def errors(self, data: dict[str, Any], source: SourceMap, prefix: FieldPath = ()) -> list[InvalidInput]:
        schema = self.schemas.get(str(data.get("kind")))
        if schema is None:
            return []
        problems = self._validate(schema, data, source, prefix)
        if data.get("kind") == "Pipeline" and "Task" in self.schemas:
            task_spec = self.schemas["Task"]["properties"]["spec"]
            spec = data.get("spec") or {}
            for section in ("tasks", "finally"):
                for i, task in enumerate(spec.get(section) or []):
                    if isinstance(task, dict) and isinstance(task.get("taskSpec"), dict):
                        embedded = {k: v for k, v in task["taskSpec"].items() if k != "metadata"}
                        where = (*prefix, "spec", section, i, "taskSpec")
                        problems += self._validate(task_spec, embedded, source, where)
        return problems


class KubernetesSchemas:
    """Kubernetes' own schemas (strict) for one version, from the kubernetes-validate package."""

    def __init__(self, version: str) -> None:
        self._kv = importlib.import_module("kubernetes_validate.utils")
        self._jsonschema = importlib.import_module("jsonschema")
        self._referencing = importlib.import_module("referencing")
        wanted = tuple(int(p) for p in version.split(".")[:2])
        known = [v for v in self._kv.all_versions() if tuple(int(p) for p in v.split(".")[:2]) <= wanted]
        if not known:
            raise InvalidInput(
                f"kubernetes-validate has no schemas for Kubernetes {version}",
                location=Location(field="--kubernetes-version"),
                hint="its versions: " + ", ".join(self._kv.all_versions()),
            )
        self.version = known[-1]
        self._dir = f"kubernetes-json-schema/v{self.version}-local-strict"
        self._definitions = self._kv.schema_contents(f"{self._dir}/_definitions.json", self.version)
        self._validators: dict[str, Any] = {}

    @property
    def label(self) -> str:
        return f"Kubernetes {'.'.join(self.version.split('.')[:2])} schema"

    def _validator(self, key: str, schema: dict[str, Any]) -> Any:
        if key not in self._validators:
            definitions = self._referencing.Resource.from_contents(self._definitions)
            registry = definitions @ self._referencing.Registry()
            if "$id" in schema:
                registry = self._referencing.Resource.from_contents(schema) @ registry
            self._validators[key] = self._jsonschema.Draft202012Validator(schema, registry=registry)
        return self._validators[key]

    def errors(self, data: dict[str, Any], source: SourceMap) -> list[InvalidInput] | None:
        """Problems of a core-kind document; None when Kubernetes has no schema for its kind."""
        group = re.sub(r"^([^./]*)(?:\.[^/]*)?/", r"\1-", str(data.get("apiVersion")))
        name = f"{str(data.get('kind')).lower()}-{group}"
        try:
            schema = self._kv.schema_contents(f"{self._dir}/{name}.json", self.version)
        except FileNotFoundError:
            return None
        return _problems(self._validator(name, schema).iter_errors(data), source, (), self.label)

    def definition_errors(
        self, definition: str, data: Any, source: SourceMap, prefix: FieldPath
    ) -> list[InvalidInput]:
        """An object embedded in a custom resource (a container, a volume) against a core definition."""
        schema = {
            "$schema": "https://json-schema.org/draft/2020-12/schema",
            "$ref": f"https://kubernetes.io/api/_definitions.json#/$defs/{definition}",
        }
        validator = self._validator(f"#{definition}", schema)
        return _problems(validator.iter_errors(data), source, prefix, self.label)


def describe(schemas: CrdSchemas | KubernetesSchemas) -> str:
    if isinstance(schemas, CrdSchemas):
        return f"Tekton v1 CRD schemas from {schemas.directory} ({', '.join(sorted(schemas.schemas))})"
    return f"{schemas.label}s (kubernetes-validate, strict)"
