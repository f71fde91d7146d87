"""Which pod-level fields (volumes, volumeMounts, env from objects) the local engine cannot honour.

The engine materialises emptyDir, configMap, secret, projected (configMap/secret/downwardAPI sources),
downwardAPI and persistentVolumeClaim volumes, mounts them where containers ask, and reads env values from
ConfigMaps, Secrets and a few pod fields. What it cannot do is found here at creation, with the field path:
each problem is `(path, feature, why, hint)`, the arguments of `local_support.Unsupported`.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from retrain.tekton.model import PipelineRun, Sidecar, Step, StepTemplate, TaskRun
from retrain.tekton.problems import FieldPath

__all__ = ["POD_FIELDS", "binding_problems", "container_problems", "pod_template_problems", "volume_problems"]

Problem = tuple[FieldPath, str, str, str | None]

POD_FIELDS = frozenset({"metadata.name", "metadata.namespace", "spec.serviceAccountName"})
_VOLUMES = frozenset({"emptyDir", "configMap", "secret", "projected", "downwardAPI", "persistentVolumeClaim"})
_WHY = {
    "hostPath": "a node's directory: a local step sees only its run's directories",
    "csi": "a CSI driver needs a Kubernetes cluster",
    "ephemeral": "a generic ephemeral volume needs a cluster's storage provisioner",
    "serviceAccountToken": "a ServiceAccount token is issued by a Kubernetes API server",
    "clusterTrustBundle": "a ClusterTrustBundle lives in a Kubernetes cluster",
}
_NO_CLUSTER = "it needs a Kubernetes cluster"


def _kind(source: Mapping[str, Any]) -> str | None:
    return next((k for k, v in source.items() if k not in ("name", "subPath") and v is not None), None)


def _downward(items: Any, path: FieldPath) -> Iterator[Problem]:
    for j, item in enumerate(items or []):
        if not isinstance(item, dict):
            continue
        ref = item.get("fieldRef")
        field_path = ref.get("fieldPath") if isinstance(ref, dict) else None
        if field_path not in POD_FIELDS:
            yield (
                (*path, "items", j),
                f"the downward API field {field_path or 'resourceFieldRef'!r}",
                f"a local step has no pod object; only {', '.join(sorted(POD_FIELDS))} are known",
                None,
            )


def _projected(body: Any, path: FieldPath) -> Iterator[Problem]:
    sources = body.get("sources") if isinstance(body, dict) else None
    for j, source in enumerate(sources or []):
        kind = _kind(source) if isinstance(source, dict) else None
        if kind == "downwardAPI":
            yield from _downward(source[kind].get("items"), (*path, "sources", j, kind))
        elif kind not in ("configMap", "secret"):
            yield (
                (*path, "sources", j, kind or ""),
                f"a projected {kind} source",
                _WHY.get(kind or "", _NO_CLUSTER),
                "project only configMap, secret and downwardAPI sources",
            )


def volume_problems(volumes: Sequence[Mapping[str, Any]] | None, path: FieldPath) -> Iterator[Problem]:
    """Pod volumes (a Task's spec.volumes, a podTemplate's volumes) the engine cannot materialise."""
    for i, volume in enumerate(volumes or []):
        kind = _kind(volume)
        at = (*path, i)
        if kind is None:
            continue  # a volume with no source is an emptyDir, as the API server defaults it
        if kind not in _VOLUMES:
            yield (
                (*at, kind),
                f"a {kind} volume (volume {volume.get('name')!r})",
                _WHY.get(kind, _NO_CLUSTER),
                "use an emptyDir, configMap, secret or projected volume, or a workspace",
            )
        elif kind == "projected":
            yield from _projected(volume[kind], (*at, kind))
        elif kind == "downwardAPI" and isinstance(volume[kind], dict):
            yield from _downward(volume[kind].get("items"), (*at, kind))


def binding_problems(binding: Mapping[str, Any], path: FieldPath) -> Iterator[Problem]:
    """A workspace binding's projected sources the engine cannot write (csi is refused by local_support)."""
    if binding.get("projected") is not None:
        yield from _projected(binding["projected"], (*path, "projected"))


def container_problems(prefix: FieldPath, c: Step | StepTemplate | Sidecar) -> Iterator[Problem]:
    """volumeMounts and env sources of one container that a local step cannot have."""
    for j, mount in enumerate(c.volume_mounts or []):
        if mount.get("subPathExpr"):
            yield (
                (*prefix, "volumeMounts", j, "subPathExpr"),
                "volumeMounts subPathExpr",
                "it expands the container's environment at mount time, which a local step does not have",
                "use subPath (with $(params.*) if needed)",
            )
        if mount.get("mountPropagation") not in (None, "None"):
            yield (
                (*prefix, "volumeMounts", j, "mountPropagation"),
                "volumeMounts mountPropagation",
                "mount propagation needs privileges a local step does not have",
                None,
            )
    for j, env in enumerate(c.env or []):
        source = env.value_from or {}
        if "resourceFieldRef" in source:
            yield (
                (*prefix, "env", j, "valueFrom", "resourceFieldRef"),
                f"env valueFrom resourceFieldRef (variable {env.name!r})",
                "container resources are a node's, and a local step has none",
                "give the variable a literal value",
            )
        ref = source.get("fieldRef")
        if isinstance(ref, dict) and ref.get("fieldPath") not in POD_FIELDS:
            yield (
                (*prefix, "env", j, "valueFrom", "fieldRef"),
                f"env valueFrom fieldRef {ref.get('fieldPath')!r} (variable {env.name!r})",
                f"a local step has no pod object; only {', '.join(sorted(POD_FIELDS))} are known",
                "give the variable a literal value",
            )


def pod_template_problems(run: TaskRun | PipelineRun) -> Iterator[Problem]:
    """The podTemplate volumes of a run (TaskRun podTemplate, taskRunTemplate, taskRunSpecs[])."""
    if isinstance(run, TaskRun):
        volumes = (run.spec.pod_template or {}).get("volumes")
        yield from volume_problems(volumes, ("spec", "podTemplate", "volumes"))
        return
    template = run.spec.task_run_template
    if template is not None:
        volumes = (template.pod_template or {}).get("volumes")
        yield from volume_problems(volumes, ("spec", "taskRunTemplate", "podTemplate", "volumes"))
    for i, trs in enumerate(run.spec.task_run_specs or []):
        volumes = (trs.pod_template or {}).get("volumes")
        yield from volume_problems(volumes, ("spec", "taskRunSpecs", i, "podTemplate", "volumes"))
