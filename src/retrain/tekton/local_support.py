"""Which valid Tekton fields the local engine does not honour: each is an error at creation, never ignored.

The model accepts every Tekton v1 field (the same YAML must stay valid for a cluster: cluster/validate.py),
so this check is separate from `validation`: it runs only where the local engine is about to run a spec
(`retrain run`, and `engine.prepare` for whatever reaches the engine by another path). A field whose meaning
Tekton keeps without it locally (serviceAccountName, podTemplate, computeResources, stepSpecs) is accepted and
ignored; securityContext is honoured in the sandbox (engine/security_context.py) but for what
security_support.py refuses; see docs/ENGINE.md for the table of every feature.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from retrain.errors import InvalidInput, Location
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import (
    Pipeline,
    PipelineRun,
    PipelineSpec,
    PipelineTask,
    Sidecar,
    Step,
    StepAction,
    StepTemplate,
    Task,
    TaskRun,
    TaskSpec,
    TektonObject,
    WorkspaceBinding,
)
from retrain.tekton.pod_support import (
    binding_problems,
    container_problems,
    pod_template_problems,
    volume_problems,
)
from retrain.tekton.problems import FieldPath, format_field_path
from retrain.tekton.resolver_support import resolver_problems
from retrain.tekton.security_support import security_problems
from retrain.tekton.sidecar_support import sidecar_problems

__all__ = [
    "Unsupported",
    "local_support_problems",
    "unsupported_in_bindings",
    "unsupported_in_object",
    "unsupported_in_pipeline",
    "unsupported_in_task",
]

_NO_CLUSTER = "it needs a Kubernetes cluster, which this machine does not have"


@dataclass(frozen=True)
class Unsupported:
    """A field the local engine would have to ignore: where, which feature, and why not on this machine."""

    path: FieldPath
    feature: str
    why: str
    hint: str | None = None
    owner: str | None = None  # e.g. 'Task "build"' when the field is in a Task referenced by name

    @property
    def field_path(self) -> str:
        path = format_field_path(self.path)
        return f"{self.owner} {path}" if self.owner else path

    @property
    def message(self) -> str:
        return f"the local engine does not support {self.feature}: {self.why}"

    def problem(self, where: SourceMap | None) -> InvalidInput:
        location = where.location(self.field_path) if where else Location(field=self.field_path)
        return InvalidInput(self.message, location=location, hint=self.hint)


def _container(prefix: FieldPath, c: Step | StepTemplate | Sidecar) -> Iterator[Unsupported]:
    yield from (Unsupported(*problem) for problem in container_problems(prefix, c))
    yield from (Unsupported(*problem) for problem in security_problems(prefix, c))  # privileged, caps
    if c.volume_devices:
        yield Unsupported((*prefix, "volumeDevices"), "volumeDevices", f"block devices: {_NO_CLUSTER}")


def _step(prefix: FieldPath, step: Step) -> Iterator[Unsupported]:
    # StepActions (ref by name, params, results, when, CEL in when), stdoutConfig/stderrConfig and
    # step-level workspaces are honoured (engine/stepactions.py, step_results.py, step_when.py, stdio.py,
    # step_mounts.py).
    yield from _container(prefix, step)
    if step.ref is not None and step.ref.resolver:  # git and cluster run locally: engine/resolvers.py
        yield from (Unsupported(*p) for p in resolver_problems((*prefix, "ref"), step.ref, "a StepAction"))


def unsupported_in_task(spec: TaskSpec, path: FieldPath) -> list[Unsupported]:
    """Every field of a Task spec that the local engine would not honour."""
    found: list[Unsupported] = []
    for i, sidecar in enumerate(spec.sidecars or []):
        found.extend(_container((*path, "sidecars", i), sidecar))
        found.extend(Unsupported(*problem) for problem in sidecar_problems((*path, "sidecars", i), sidecar))
    found.extend(Unsupported(*problem) for problem in volume_problems(spec.volumes, (*path, "volumes")))
    if spec.step_template is not None:
        found.extend(_container((*path, "stepTemplate"), spec.step_template))
    for i, step in enumerate(spec.steps):
        found.extend(_step((*path, "steps", i), step))
    return found


def _pipeline_task(prefix: FieldPath, task: PipelineTask) -> Iterator[Unsupported]:
    if task.pipeline_ref is not None or task.pipeline_spec is not None:  # engine/child_pipelines.py
        for name, used in (("retries", task.retries), ("matrix", task.matrix)):
            if used:
                yield Unsupported(
                    (*prefix, name),
                    f"{name} on a pipeline task that runs a Pipeline",
                    "Tekton does not retry or fan out child PipelineRuns either",
                )
    if task.task_ref is not None and task.task_ref.resolver:
        yield from (Unsupported(*p) for p in resolver_problems((*prefix, "taskRef"), task.task_ref, "a Task"))
    if task.pipeline_ref is not None and task.pipeline_ref.resolver:  # git, cluster: engine/pipeline_refs.py
        ref = task.pipeline_ref
        yield from (Unsupported(*p) for p in resolver_problems((*prefix, "pipelineRef"), ref, "a Pipeline"))
    spec = task.task_spec
    if spec is not None:
        if spec.api_version is not None or spec.kind is not None or spec.spec is not None:
            yield Unsupported(
                (*prefix, "taskSpec"), "custom tasks", f"a custom task's controller: {_NO_CLUSTER}"
            )
        yield from unsupported_in_task(spec, (*prefix, "taskSpec"))


def unsupported_in_pipeline(spec: PipelineSpec, path: FieldPath) -> list[Unsupported]:
    """Every field of a Pipeline spec (embedded taskSpecs included) the local engine would not honour."""
    found: list[Unsupported] = []
    for section, tasks in (("tasks", spec.tasks), ("finally", spec.finally_)):
        for i, task in enumerate(tasks):
            found.extend(_pipeline_task((*path, section, i), task))
    return found


def unsupported_in_bindings(bindings: Sequence[WorkspaceBinding], path: FieldPath) -> list[Unsupported]:
    found: list[Unsupported] = []
    for i, binding in enumerate(bindings):
        if binding.csi is not None:
            found.append(
                Unsupported(
                    (*path, i, "csi"),
                    f"a workspace bound to a csi volume (workspace {binding.name!r})",
                    _NO_CLUSTER,
                    "bind it to an emptyDir, a configMap/secret, or a host directory (-w NAME=DIR)",
                )
            )
        bound = {"projected": binding.projected}
        found.extend(Unsupported(*problem) for problem in binding_problems(bound, (*path, i)))
    return found


def unsupported_in_object(obj: TektonObject) -> list[Unsupported]:
    """What the local engine would not honour in one loaded document (refs by name are checked in prepare)."""
    if isinstance(obj, Task):
        return unsupported_in_task(obj.spec, ("spec",))
    if isinstance(obj, Pipeline):
        return unsupported_in_pipeline(obj.spec, ("spec",))
    if isinstance(obj, StepAction):
        fields = obj.spec.model_dump(
            include={"image", "env", "volume_mounts", "security_context"}, exclude_none=True
        )
        return list(_container(("spec",), Step.model_validate(fields)))
    found = unsupported_in_bindings(obj.spec.workspaces, ("spec", "workspaces"))
    found += [Unsupported(*problem) for problem in pod_template_problems(obj)]  # podTemplate volumes
    # spec.status (PipelineRunPending, Cancelled, ..., TaskRunCancelled) is honoured: engine/spec_status.py
    if obj.spec.managed_by not in (None, "tekton.dev/pipeline"):
        found.append(
            Unsupported(
                ("spec", "managedBy"),
                f"a run managed by {obj.spec.managed_by!r}",
                "the local engine would run what another controller is meant to manage",
            )
        )
    if isinstance(obj, TaskRun):
        if obj.spec.task_spec is not None:
            found += unsupported_in_task(obj.spec.task_spec, ("spec", "taskSpec"))
        # spec.debug (breakpoints) is honoured: engine/breakpoints.py
        if obj.spec.task_ref is not None and obj.spec.task_ref.resolver:
            found += [
                Unsupported(*p) for p in resolver_problems(("spec", "taskRef"), obj.spec.task_ref, "a Task")
            ]
    elif isinstance(obj, PipelineRun):
        if obj.spec.pipeline_spec is not None:
            found += unsupported_in_pipeline(obj.spec.pipeline_spec, ("spec", "pipelineSpec"))
        if obj.spec.pipeline_ref is not None and obj.spec.pipeline_ref.resolver:
            ref = obj.spec.pipeline_ref
            found += [Unsupported(*p) for p in resolver_problems(("spec", "pipelineRef"), ref, "a Pipeline")]
    return found


def local_support_problems(obj: TektonObject, *, where: SourceMap | None = None) -> list[InvalidInput]:
    """The fields of `obj` the local engine would not honour, as problems with field path and file:line."""
    return [u.problem(where) for u in unsupported_in_object(obj)]
