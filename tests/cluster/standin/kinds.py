"""The resources the stand-in serves, with the schema each body is validated against."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

SHARED = Path(__file__).resolve().parents[3].parent / "shared"
TEKTON_CRDS = SHARED / "tekton" / "crds-v1.15.0"
# The Jupyter Notebook Validator Operator's published CRD (a verbatim copy; its header names the commit).
NVJ_CRD = Path(__file__).parent / "crds" / "mlops.mlops.dev_notebookvalidationjobs.yaml"
PRESERVE: dict[str, Any] = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
STRINGS: dict[str, Any] = {"type": "object", "additionalProperties": {"type": "string"}}


@dataclass(frozen=True)
class Kind:
    group: str
    version: str
    plural: str
    kind: str
    namespaced: bool = True
    status: bool = True  # has a status subresource
    schema: str = "none"  # "crd:<file>", "builtin:<name>", "operator:nvj", "core", "none" (anything goes)

    @property
    def api_version(self) -> str:
        return f"{self.group}/{self.version}" if self.group else self.version

    @property
    def gr(self) -> str:  # group-resource, as the API server names it in messages
        return f"{self.plural}.{self.group}" if self.group else self.plural


KINDS: tuple[Kind, ...] = (
    Kind("tekton.dev", "v1", "pipelineruns", "PipelineRun", schema="crd:300-pipelinerun.yaml"),
    Kind("tekton.dev", "v1", "taskruns", "TaskRun", schema="crd:300-taskrun.yaml"),
    Kind("tekton.dev", "v1", "pipelines", "Pipeline", schema="crd:300-pipeline.yaml"),
    Kind("tekton.dev", "v1", "tasks", "Task", schema="crd:300-task.yaml"),
    Kind("serving.kserve.io", "v1beta1", "inferenceservices", "InferenceService", schema="builtin:isvc"),
    Kind(
        "mlops.mlops.dev",
        "v1alpha1",
        "notebookvalidationjobs",
        "NotebookValidationJob",
        schema="operator:nvj",
    ),
    Kind("", "v1", "pods", "Pod", schema="core"),
    Kind("", "v1", "persistentvolumeclaims", "PersistentVolumeClaim", schema="core"),
    Kind("", "v1", "serviceaccounts", "ServiceAccount", status=False, schema="core"),
    Kind("", "v1", "secrets", "Secret", status=False, schema="core"),
    Kind("", "v1", "configmaps", "ConfigMap", status=False, schema="core"),
    Kind("rbac.authorization.k8s.io", "v1", "roles", "Role", status=False, schema="core"),
    Kind("rbac.authorization.k8s.io", "v1", "rolebindings", "RoleBinding", status=False, schema="core"),
    Kind("batch", "v1", "cronjobs", "CronJob", schema="core"),
    # Served without a schema (as if their CRDs preserved unknown fields): Tekton Triggers.
    Kind("triggers.tekton.dev", "v1beta1", "eventlisteners", "EventListener"),
    Kind("triggers.tekton.dev", "v1beta1", "triggerbindings", "TriggerBinding", status=False),
    Kind("triggers.tekton.dev", "v1beta1", "triggertemplates", "TriggerTemplate", status=False),
)


def find(group: str, version: str, plural: str) -> Kind | None:
    return next((k for k in KINDS if (k.group, k.version, k.plural) == (group, version, plural)), None)


@cache
def crd_schema(file: str, version: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all((TEKTON_CRDS / file).read_text(encoding="utf-8")):
        for served in doc["spec"]["versions"]:
            if served["name"] == version:
                return dict(served["schema"]["openAPIV3Schema"])
    raise KeyError(f"{file} has no version {version}")


@cache
def operator_crd_schema(path: Path, version: str) -> dict[str, Any]:
    for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")):
        for served in doc["spec"]["versions"]:
            if served["name"] == version:
                return dict(served["schema"]["openAPIV3Schema"])
    raise KeyError(f"{path.name} has no version {version}")


def schema_for(kind: Kind) -> dict[str, Any] | None:
    """The openAPIV3Schema for a CRD-backed kind; None for core kinds (validated apart) and schemaless "
    "ones."""
    if kind.schema.startswith("crd:"):
        return crd_schema(kind.schema[4:], kind.version) if TEKTON_CRDS.is_dir() else PRESERVE_DOC
    if kind.schema == "builtin:isvc":
        return ISVC
    if kind.schema == "operator:nvj":
        return operator_crd_schema(NVJ_CRD, kind.version)
    return None


def _obj(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    node: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        node["required"] = list(required)
    return node


PRESERVE_DOC = _obj(
    {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": PRESERVE,
        "status": PRESERVE,
    }
)

# A strict subset of KServe's InferenceService CRD (v1beta1): the predictor's model fields retrain writes.
_MODEL = _obj(
    {
        "modelFormat": _obj({"name": {"type": "string"}, "version": {"type": "string"}}, ("name",)),
        "storageUri": {"type": "string"},
        "runtime": {"type": "string"},
        "protocolVersion": {"type": "string", "enum": ["v1", "v2", "grpc-v1", "grpc-v2"]},
        "args": {"type": "array", "items": {"type": "string"}},
        "env": {"type": "array", "items": PRESERVE},
        "resources": PRESERVE,
        "name": {"type": "string"},
        "image": {"type": "string"},
    },
    ("modelFormat",),
)
ISVC = _obj(
    {
        "apiVersion": {"type": "string"},
        "kind": {"type": "string"},
        "metadata": {"type": "object"},
        "spec": _obj(
            {
                "predictor": _obj(
                    {
                        "model": _MODEL,
                        "sklearn": PRESERVE,
                        "containers": {"type": "array", "items": PRESERVE},
                        "minReplicas": {"type": "integer"},
                        "maxReplicas": {"type": "integer"},
                        "serviceAccountName": {"type": "string"},
                        "timeout": {"type": "integer"},
                        "canaryTrafficPercent": {"type": "integer"},
                        "nodeSelector": STRINGS,
                        "tolerations": {"type": "array", "items": PRESERVE},
                        "volumes": {"type": "array", "items": PRESERVE},
                        "annotations": STRINGS,
                        "labels": STRINGS,
                    }
                ),
                "transformer": PRESERVE,
                "explainer": PRESERVE,
            },
            ("predictor",),
        ),
        "status": PRESERVE,
    }
)
