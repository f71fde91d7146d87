"""Turns a submitted PipelineRun/TaskRun into a validated request, before anything starts.

Every problem Tekton would report when it creates a run (CouldntGetPipeline, ParameterMissing,
InvalidWorkspaceBindings, PipelineInvalidGraph, ...) is raised here as `RunRejected`, so a bad run never
starts half-way.
"""

from __future__ import annotations

import difflib
import uuid
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path

from retrain.engine import reasons
from retrain.engine.backoff import backoff_for
from retrain.engine.breakpoints import breakpoints_of
from retrain.engine.params import check_array_indexing, resolve_params
from retrain.engine.pipelinerun_types import PipelineRunRequest, PipelineTimeouts
from retrain.engine.pod import pipeline_pod_specs, pod_spec
from retrain.engine.reasons import RunRejected
from retrain.engine.resolver_keys import ref_key
from retrain.engine.stepactions import check_step_actions
from retrain.engine.taskrun_types import TaskRunRequest
from retrain.engine.workspaces import bind_run_workspaces, check_declared, task_workspaces
from retrain.errors import InvalidInput, Location
from retrain.tekton.dag import build_dag
from retrain.tekton.durations import DEFAULT_TIMEOUT, parse_duration
from retrain.tekton.kube import KubeObjects
from retrain.tekton.local_support import (
    Unsupported,
    unsupported_in_object,
    unsupported_in_pipeline,
    unsupported_in_task,
)
from retrain.tekton.model import (
    ParamValue,
    Pipeline,
    PipelineRun,
    PipelineSpec,
    StepAction,
    StepActionSpec,
    Task,
    TaskRef,
    TaskRun,
    TaskSpec,
    WorkspaceDeclaration,
)
from retrain.tekton.substitution import find_references


@dataclass
class Catalog:
    """Tasks and Pipelines that refs resolve against: the loaded files first, then the built-in catalog."""

    tasks: dict[str, Task] = field(default_factory=dict)
    pipelines: dict[str, Pipeline] = field(default_factory=dict)
    objects: KubeObjects = field(default_factory=KubeObjects)  # ConfigMaps, Secrets, ServiceAccounts (-f)

    step_actions: dict[str, StepActionSpec] = field(default_factory=dict)  # what step refs name (-f)
    # what refs with a resolver resolved to, by ref_key (engine/resolvers.py, filled when a run is created)
    resolved: dict[str, Task | Pipeline | StepAction] = field(default_factory=dict)

    def add(self, obj: Task | Pipeline | StepAction) -> None:
        name = obj.metadata.name or ""
        if isinstance(obj, StepAction):
            self.step_actions[name] = obj.spec
        elif isinstance(obj, Task):
            self.tasks[name] = obj
        else:
            self.pipelines[name] = obj

    def task(self, ref: TaskRef) -> TaskSpec:
        found = self.resolved.get(ref_key(ref.resolver, ref.params)) if ref.resolver else None
        if isinstance(found, Task):
            return found.spec
        if ref.resolver:
            raise RunRejected(
                reasons.PR_COULDNT_GET_TASK,
                f'remote resolution ("{ref.resolver}" resolver) is not available locally',
                hint="pass the Task's YAML with another -f FILE and refer to it by name",
            )
        if ref.kind not in (None, "Task"):
            raise RunRejected(
                reasons.PR_COULDNT_GET_TASK, f"kind {ref.kind!r} cannot run locally (only Task)"
            )
        task = self.tasks.get(ref.name or "")
        if task is None:
            raise RunRejected(
                reasons.PR_COULDNT_GET_TASK,
                f'Task "{ref.name}" not found',
                hint=_did_you_mean(ref.name, self.tasks),
            )
        return task.spec

    def pipeline(self, name: str | None) -> Pipeline:
        """A Pipeline by name, or by the key a resolver ref was kept under (engine/pipeline_refs.py)."""
        resolved = self.resolved.get(name or "")
        if isinstance(resolved, Pipeline):
            return resolved
        pipeline = self.pipelines.get(name or "")
        if pipeline is None:
            raise RunRejected(
                reasons.PR_COULDNT_GET_PIPELINE,
                f'Pipeline "{name}" not found',
                hint=_did_you_mean(name, self.pipelines),
            )
        return pipeline


@contextmanager
def _at(field_path: str) -> Iterator[None]:
    """A ref the catalog cannot give is refused at the run's field naming it (the CLI adds file:line)."""
    try:
        yield
    except RunRejected as exc:
        if exc.location is not None:
            raise
        raise RunRejected(exc.reason, exc.detail, location=Location(field=field_path), hint=exc.hint) from exc


def _did_you_mean(name: str | None, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name or "", list(known), n=1)
    if close:
        return f'did you mean "{close[0]}"?'
    return f"known: {', '.join(sorted(known)) or 'none'}; load it with -f FILE"


def _refuse_unsupported(found: Sequence[Unsupported], reason: str) -> None:
    """A field the engine would have to ignore stops the run at creation (never a vacuous success)."""
    if found:
        first = found[0]
        more = f" (and {len(found) - 1} more such fields)" if len(found) > 1 else ""
        raise RunRejected(
            reason,
            first.message + more,
            location=Location(field=first.field_path),
            hint=first.hint,
        )


def _timeout(text: str | None, field_path: str, default: timedelta | None) -> timedelta | None:
    if not text:
        return default
    value = parse_duration(text, field=field_path)
    if value < timedelta(0):  # Go parses "-1s"; Tekton's validation refuses a negative timeout
        raise InvalidInput(
            f"invalid timeout {text!r}: it must be 0 (no timeout) or more",
            location=Location(field=field_path),
            hint='e.g. "90s" or "1h30m"',
        )
    return value


def prepare_pipelinerun(
    run: PipelineRun,
    name: str,
    catalog: Catalog,
    run_dir: Path,
    *,
    host_dirs: Mapping[str, Path] | None = None,
) -> PipelineRunRequest:
    spec: PipelineSpec
    annotations = dict(run.metadata.annotations)
    if run.spec.pipeline_spec is not None:
        spec, pipeline_name = run.spec.pipeline_spec, name
    elif run.spec.pipeline_ref is not None:
        ref = run.spec.pipeline_ref
        found = catalog.resolved.get(ref_key(ref.resolver, ref.params)) if ref.resolver else None
        if ref.resolver and not isinstance(found, Pipeline):
            raise RunRejected(
                reasons.PR_COULDNT_GET_PIPELINE,
                f'remote resolution ("{run.spec.pipeline_ref.resolver}" resolver) is not available locally',
                location=Location(field="spec.pipelineRef"),
            )
        with _at("spec.pipelineRef"):
            pipeline = found if isinstance(found, Pipeline) else catalog.pipeline(ref.name)
        spec, pipeline_name = pipeline.spec, pipeline.metadata.name or ""
        annotations = {**pipeline.metadata.annotations, **annotations}
    else:
        raise RunRejected(reasons.PR_VALIDATION_FAILED, "spec needs pipelineRef or pipelineSpec")
    try:
        build_dag(spec)
    except InvalidInput as exc:
        raise RunRejected(reasons.PR_INVALID_GRAPH, exc.message) from exc
    owner = f'Pipeline "{pipeline_name}"'
    # Tekton's ApplyParameters offers every param the PipelineRun gives, declared or not (propagated params).
    params = resolve_params(spec.params, run.spec.params, owner=owner, propagate_undeclared=True)
    check_array_indexing(find_references(spec.model_dump_json(by_alias=True)), params, owner=owner)
    workspaces = bind_run_workspaces(
        run.spec.workspaces, run_dir, host_dirs=host_dirs, objects=catalog.objects
    )
    check_declared([(w.name, w.optional) for w in spec.workspaces], workspaces, owner=owner)
    unsupported = unsupported_in_object(run)  # the inline pipelineSpec, bindings, spec.status, managedBy
    if run.spec.pipeline_spec is None:
        owner = f'Pipeline "{pipeline_name}"'
        unsupported += [replace(u, owner=owner) for u in unsupported_in_pipeline(spec, ("spec",))]
    for task in [*spec.tasks, *spec.finally_]:  # fail early on a missing referenced Task
        if task.task_ref is not None:  # by name, or resolved by a resolver (engine/resolvers.py)
            referenced = catalog.task(task.task_ref)
            owner = f'Task "{task.task_ref.name or task.name}"'
            unsupported += [replace(u, owner=owner) for u in unsupported_in_task(referenced, ("spec",))]
    _refuse_unsupported(unsupported, reasons.PR_VALIDATION_FAILED)
    for task in [*spec.tasks, *spec.finally_]:
        inner = catalog.task(task.task_ref) if task.task_ref is not None else task.task_spec
        if inner is not None:  # a missing StepAction or wrong step params: refused before anything starts
            owner = f'pipeline task "{task.name}"'
            check_step_actions(inner, catalog.step_actions, owner=owner, reason=reasons.PR_VALIDATION_FAILED)
    timeouts = run.spec.timeouts
    pipeline_timeout = _timeout(
        timeouts.pipeline if timeouts else None, "spec.timeouts.pipeline", DEFAULT_TIMEOUT
    )
    task_timeouts: dict[str, timedelta] = {}
    known = {t.name for t in [*spec.tasks, *spec.finally_]}
    for i, trs in enumerate(run.spec.task_run_specs or []):
        if trs.pipeline_task_name not in known:
            raise RunRejected(
                reasons.PR_INVALID_TASKRUN_SPECS,
                f'taskRunSpecs[{i}] names pipeline task "{trs.pipeline_task_name}", '
                "which the pipeline does not have",
            )
        timeout = _timeout(trs.timeout, f"spec.taskRunSpecs[{i}].timeout", None)
        if timeout is not None:
            task_timeouts[trs.pipeline_task_name] = timeout
    for task in [*spec.tasks, *spec.finally_]:
        backoff_for(task.name, annotations)  # malformed backoff annotations fail before the run starts
    return PipelineRunRequest(
        name=name,
        pipeline_name=pipeline_name,
        spec=spec,
        params=params,
        workspaces=workspaces,
        timeouts=PipelineTimeouts(
            pipeline=pipeline_timeout,
            tasks=_timeout(timeouts.tasks if timeouts else None, "spec.timeouts.tasks", None),
            finally_=_timeout(timeouts.finally_ if timeouts else None, "spec.timeouts.finally", None),
        ),
        resolve_task=catalog.task,
        resolve_pipeline=catalog.pipeline,
        annotations=annotations,
        task_timeouts=task_timeouts,
        uid=str(uuid.uuid4()),
        step_actions=catalog.step_actions,
        pods=pipeline_pod_specs(catalog.objects, run.spec.task_run_template, run.spec.task_run_specs),
    )


def prepare_taskrun(
    run: TaskRun, name: str, catalog: Catalog, run_dir: Path, *, host_dirs: Mapping[str, Path] | None = None
) -> TaskRunRequest:
    inline = run.spec.task_spec is not None
    if run.spec.task_spec is not None:
        spec, task_name = run.spec.task_spec, name
    elif run.spec.task_ref is not None:
        with _at("spec.taskRef"):
            spec, task_name = catalog.task(run.spec.task_ref), run.spec.task_ref.name or name
    else:
        raise RunRejected(reasons.PR_VALIDATION_FAILED, "spec needs taskRef or taskSpec")
    owner = f'Task "{task_name}"'
    unsupported = unsupported_in_object(run)  # the inline taskSpec, bindings, debug, spec.status, managedBy
    if not inline:
        unsupported += [replace(u, owner=owner) for u in unsupported_in_task(spec, ("spec",))]
    _refuse_unsupported(unsupported, reasons.TR_VALIDATION_FAILED)
    check_step_actions(spec, catalog.step_actions, owner=owner)  # a missing StepAction: before anything
    params = resolve_params(spec.params, run.spec.params, owner=owner, propagate_undeclared=inline)
    check_array_indexing(find_references(spec.model_dump_json(by_alias=True)), params, owner=owner)
    bound = bind_run_workspaces(run.spec.workspaces, run_dir, host_dirs=host_dirs, objects=catalog.objects)
    if inline:  # Tekton propagates the run's workspaces into an embedded spec that does not declare them
        declared = {w.name for w in spec.workspaces}
        extra = [WorkspaceDeclaration(name=n) for n in bound if n not in declared]
        if extra:
            spec = spec.model_copy(update={"workspaces": [*spec.workspaces, *extra]})
    workspaces = task_workspaces(spec.workspaces, bound, owner=owner)
    context = {
        "context.taskRun.name": name,
        "context.taskRun.namespace": "default",
        "context.taskRun.uid": str(uuid.uuid4()),
        "context.task.name": task_name,
    }
    return TaskRunRequest(
        name=name,
        spec=spec,
        params=params,
        workspaces=workspaces,
        context=context,
        timeout=_timeout(run.spec.timeout, "spec.timeout", DEFAULT_TIMEOUT),
        retries=run.spec.retries,
        backoff=backoff_for(name, run.metadata.annotations),
        step_actions=catalog.step_actions,
        pod=pod_spec(catalog.objects, run.spec.service_account_name, run.spec.pod_template),
        breakpoints=breakpoints_of(run.spec.debug.breakpoints if run.spec.debug else None),
    )


def pipelinerun_for(
    pipeline: str,
    params: Mapping[str, ParamValue],
    *,
    empty_dirs: Sequence[str] = (),
    generate_name: str | None = None,
) -> PipelineRun:
    """A PipelineRun for a named Pipeline (what `retrain run --pipeline NAME -p k=v` submits)."""
    return PipelineRun.model_validate(
        {
            "metadata": {"generateName": generate_name or f"{pipeline}-run-"},
            "spec": {
                "pipelineRef": {"name": pipeline},
                "params": [{"name": k, "value": v} for k, v in params.items()],
                "workspaces": [{"name": w, "emptyDir": {}} for w in empty_dirs],
            },
        }
    )
