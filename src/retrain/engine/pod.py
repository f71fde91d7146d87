"""What a TaskRun's pod brings beyond its Task: Kubernetes objects, volumes, env from objects, credentials.

`PodSpec` travels with a TaskRun request (the objects loaded with -f, the ServiceAccount, the podTemplate's
volumes). `start_pod` is one try's pod: it materialises the pod volumes, resolves every step's environment
(`envFrom`, then `env` with `valueFrom`, as the kubelet builds it) and writes the ServiceAccount's
credentials, all before the first step starts, because the kubelet fails the whole pod on a config error
(CreateContainerConfigError) rather than a step. A task that uses none of it costs a few attribute reads.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.engine.credentials import copy_to_home, write_credentials
from retrain.engine.sandbox import Mount
from retrain.engine.volumes import PodVolume, container_mounts, pod_volumes
from retrain.errors import InvalidInput, Location
from retrain.tekton.kube import KubeObjects
from retrain.tekton.model import PipelineTaskRunSpec, PipelineTaskRunTemplate, Step, TaskSpec
from retrain.tekton.substitution import Replacements, substitute_model

__all__ = [
    "CONFIG_ERROR",
    "NO_POD",
    "NO_PODS",
    "Pod",
    "PodSpec",
    "PodSpecs",
    "pipeline_pod_specs",
    "pod_spec",
]
__all__ += ["start_pod"]

CONFIG_ERROR = "CreateContainerConfigError"  # Tekton's TaskRun reason when the kubelet cannot configure a pod
_NO_OBJECTS = KubeObjects()


@dataclass(frozen=True, eq=False)
class PodSpec:
    objects: KubeObjects = _NO_OBJECTS
    service_account: str | None = None
    template_volumes: tuple[Mapping[str, Any], ...] = ()
    security_context: Mapping[str, Any] | None = None  # podTemplate.securityContext (security_context.py)


NO_POD = PodSpec()


@dataclass(frozen=True, eq=False)
class PodSpecs:
    """A PipelineRun's pods: taskRunTemplate for all, taskRunSpecs[] per pipeline task."""

    default: PodSpec = NO_POD
    per_task: Mapping[str, PodSpec] = field(default_factory=dict)

    def for_task(self, pipeline_task: str) -> PodSpec:
        return self.per_task.get(pipeline_task, self.default)


NO_PODS = PodSpecs()


def pod_spec(
    objects: KubeObjects, service_account: str | None, pod_template: Mapping[str, Any] | None
) -> PodSpec:
    volumes = (pod_template or {}).get("volumes") or []
    context = (pod_template or {}).get("securityContext")
    context = context if isinstance(context, dict) and context else None
    if not objects and not service_account and not volumes and context is None:
        return NO_POD
    return PodSpec(objects, service_account, tuple(v for v in volumes if isinstance(v, dict)), context)


@dataclass
class Pod:
    """One try's pod, started: its volumes, each step's environment, the credentials mount."""

    volumes: dict[str, PodVolume] = field(default_factory=dict)
    envs: list[dict[str, str]] = field(default_factory=list)
    mounts: list[Mount] = field(default_factory=list)  # extra mounts for every container (none yet)
    step_mounts: list[list[Mount]] = field(default_factory=list)


def start_pod(
    pod: PodSpec,
    spec: TaskSpec,
    steps: Sequence[Step],
    replacements: Replacements,
    *,
    root: Path,
    run_dir: Path,
    home: Path,
    pod_name: str,
) -> Pod:
    """Start one try's pod (`steps` already substituted). InvalidInput names the field at fault."""
    started = Pod()
    if spec.volumes:  # $(params.x) in a volume's configMap name, ...
        spec = substitute_model(TaskSpec(volumes=spec.volumes), replacements)
    fields = {
        "metadata.name": pod_name,
        "metadata.namespace": "default",
        "spec.serviceAccountName": pod.service_account or "default",
    }
    declared = [*(spec.volumes or []), *pod.template_volumes]
    if declared:
        for i, extra in enumerate(pod.template_volumes):
            if any(v.get("name") == extra.get("name") for v in spec.volumes or []):
                raise InvalidInput(
                    f'podTemplate volume "{extra.get("name")}" has the name of a Task volume',
                    location=Location(field=f"podTemplate.volumes[{i}].name"),
                )
        started.volumes = pod_volumes(
            declared, pod.objects, root, run_dir=run_dir, field_prefix="spec.volumes", pod_fields=fields
        )
    for index, step in enumerate(steps):
        at = f"steps[{index}]"
        started.step_mounts.append(
            container_mounts(step.volume_mounts, started.volumes, field_prefix=f"{at}.volumeMounts")
            if step.volume_mounts
            else []
        )
        started.envs.append(step_env(step, pod.objects, fields, at))
    if pod.service_account:
        creds = root / "creds"  # the try's /tekton/creds ($(credentials.path)), mounted in every container
        if write_credentials(pod.service_account, pod.objects, creds, field_path="spec.serviceAccountName"):
            copy_to_home(creds, home)
    return started


def step_env(step: Step, objects: KubeObjects, fields: Mapping[str, str], at: str) -> dict[str, str]:
    """A container's environment as the kubelet builds it: envFrom sources in order, then env entries."""
    env: dict[str, str] = {}
    for i, source in enumerate(step.env_from or []):
        prefix = str(source.get("prefix") or "")
        for kind, key in (("ConfigMap", "configMapRef"), ("Secret", "secretRef")):
            ref = source.get(key)
            if not isinstance(ref, dict):
                continue
            where = f"{at}.envFrom[{i}].{key}.name"
            obj = _lookup(objects, kind, ref, where)
            for name, value in (obj.data if obj is not None else {}).items():
                if "=" not in name:  # the kubelet skips keys that cannot be variable names
                    env[prefix + name] = value.decode("utf-8", errors="replace")
    for i, var in enumerate(step.env or []):
        if var.value_from is None:
            env[var.name] = var.value or ""
            continue
        value = _value_from(var.value_from, objects, fields, f"{at}.env[{i}].valueFrom")
        if value is not None:
            env[var.name] = value
    return env


def _lookup(objects: KubeObjects, kind: str, ref: Mapping[str, Any], where: str) -> Any:
    name = ref.get("name")
    if not isinstance(name, str) or not name:
        raise InvalidInput(f"a {kind} reference needs a name", location=Location(field=where))
    optional = ref.get("optional") is True
    if kind == "ConfigMap":
        return objects.config_map(name, field_path=where, optional=optional)
    return objects.secret(name, field_path=where, optional=optional)


def _value_from(
    source: Mapping[str, Any], objects: KubeObjects, fields: Mapping[str, str], at: str
) -> str | None:
    for kind, key in (("ConfigMap", "configMapKeyRef"), ("Secret", "secretKeyRef")):
        ref = source.get(key)
        if not isinstance(ref, dict):
            continue
        obj = _lookup(objects, kind, ref, f"{at}.{key}.name")
        wanted = ref.get("key")
        if obj is None:
            return None  # optional, and the object is absent: the variable is not set
        if wanted not in obj.data:
            if ref.get("optional") is True:
                return None
            raise InvalidInput(
                f'{kind} "{obj.name}" has no key {wanted!r} (keys: {", ".join(sorted(obj.data)) or "none"})',
                location=Location(field=f"{at}.{key}.key"),
                hint="name an existing key, or mark the reference optional: true",
            )
        value: bytes = obj.data[wanted]
        return value.decode("utf-8", errors="replace")
    ref = source.get("fieldRef")
    if isinstance(ref, dict):
        path = ref.get("fieldPath")
        if isinstance(path, str) and path in fields:
            return fields[path]
        raise InvalidInput(
            f"the local engine does not support fieldRef {path!r}: a local step has no pod object "
            f"(known: {', '.join(sorted(fields))})",
            location=Location(field=f"{at}.fieldRef.fieldPath"),
        )
    raise InvalidInput(
        "the local engine does not support this valueFrom source (resourceFieldRef needs a node's "
        "resources); it reads configMapKeyRef, secretKeyRef and fieldRef",
        location=Location(field=at),
    )


def pipeline_pod_specs(
    objects: KubeObjects,
    template: PipelineTaskRunTemplate | None,
    task_run_specs: Sequence[PipelineTaskRunSpec] | None,
) -> PodSpecs:
    """A PipelineRun's taskRunTemplate and taskRunSpecs[] (the per-task one wins, field by field)."""
    account = template.service_account_name if template else None
    pod_template = template.pod_template if template else None
    default = pod_spec(objects, account, pod_template)
    per_task = {
        trs.pipeline_task_name: pod_spec(
            objects, trs.service_account_name or account, trs.pod_template or pod_template
        )
        for trs in task_run_specs or []
    }
    return PodSpecs(default, per_task)
