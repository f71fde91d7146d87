"""Resolver refs reached from a PipelineRun (engine/resolvers.py resolves each; this walks the Pipeline).

A pipeline task's taskRef and its steps' refs take the Pipeline's params; a pipeline task that runs a
Pipeline (pipelines in pipelines, engine/child_pipelines.py) has its `pipelineRef` resolved the same way,
with the enclosing Pipeline's params, and that child Pipeline's tasks are walked in turn with the params the
task gives it (an inline pipelineSpec also gets the parent's params), so a resolver anywhere below is
resolved before the run is recorded. A child's ref is kept under its params as written (resolver_keys.py),
which `Catalog.pipeline` and `child_pipelines.child_spec` look up when the child starts. A pipelineRef
cycle or a missing child Pipeline is left to child_pipelines.check_children, which refuses it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING

from retrain.engine import reasons
from retrain.engine.params import param_replacements, resolve_params
from retrain.engine.resolver_keys import ref_key
from retrain.engine.resolvers import EMPTY, Resolution, has_resolver_steps
from retrain.tekton.model import (
    Param,
    ParamValue,
    Pipeline,
    PipelineRun,
    PipelineSpec,
    PipelineTask,
    Task,
    TaskSpec,
)
from retrain.tekton.substitution import Replacements, substitute_model

if TYPE_CHECKING:
    from retrain.engine.prepare import Catalog

__all__ = ["resolve_pipelinerun_refs"]


def resolve_pipelinerun_refs(run: PipelineRun, catalog: Catalog, resolution: Resolution) -> None:
    ref, spec, prefix = run.spec.pipeline_ref, run.spec.pipeline_spec, "spec.pipelineSpec."
    if ref is not None and ref.resolver:
        pipeline = resolution.ref(ref, "Pipeline", reasons.PR_COULDNT_GET_PIPELINE, "spec.pipelineRef", EMPTY)
        assert isinstance(pipeline, Pipeline)
        spec, prefix = pipeline.spec, f'Pipeline "{pipeline.metadata.name}" spec.'
    elif ref is not None:
        named = catalog.pipelines.get(ref.name or "")
        spec, prefix = (named.spec if named is not None else None), f'Pipeline "{ref.name}" spec.'
    if spec is not None:
        _pipeline_tasks(run.spec.params, spec, prefix, catalog=catalog, resolution=resolution)


def _inline(task: PipelineTask) -> PipelineSpec | None:
    try:
        return PipelineSpec.model_validate(task.pipeline_spec) if task.pipeline_spec is not None else None
    except ValueError:
        return None  # refused with its problem when the child is checked (child_pipelines.check_children)


def _uses_resolvers(spec: PipelineSpec, catalog: Catalog, seen: frozenset[str] = frozenset()) -> bool:
    """Whether a resolver ref is reached from `spec` (cheap: the common pipeline has none)."""
    for task in [*spec.tasks, *spec.finally_]:
        ref = task.task_ref or task.pipeline_ref
        if ref is not None and ref.resolver:
            return True
        if task.pipeline_ref is not None:
            name = task.pipeline_ref.name or ""
            child = catalog.pipelines.get(name)
            if child is not None and name not in seen and _uses_resolvers(child.spec, catalog, seen | {name}):
                return True
            continue
        inline = _inline(task)
        if inline is not None:
            if _uses_resolvers(inline, catalog, seen):
                return True
            continue
        named = catalog.tasks.get(task.task_ref.name or "") if task.task_ref is not None else None
        if has_resolver_steps(named.spec if named else task.task_spec):
            return True
    return False


def _pipeline_tasks(
    given: Sequence[Param],
    spec: PipelineSpec,
    prefix: str,
    *,
    catalog: Catalog,
    resolution: Resolution,
    seen: tuple[str, ...] = (),
) -> None:
    """Resolve the resolver refs of `spec`'s tasks (taskRef, step refs, and a child Pipeline's pipelineRef,
    then its own tasks, with the child's params), `given` being the params this Pipeline runs with."""
    if not _uses_resolvers(spec, catalog):
        return
    pipeline_values = resolve_params(spec.params, given, owner="Pipeline", propagate_undeclared=True)
    outer = param_replacements(pipeline_values)
    for section, tasks in (("tasks", spec.tasks), ("finally", spec.finally_)):
        for i, task in enumerate(tasks):
            where = f"{prefix}{section}[{i}]"
            if task.pipeline_ref is not None or task.pipeline_spec is not None:
                _child_pipeline(
                    task, where, pipeline_values=pipeline_values, outer=outer, catalog=catalog,
                    resolution=resolution, seen=seen,
                )  # fmt: skip
                continue
            inner: TaskSpec | None = task.task_spec
            ref = task.task_ref
            named = catalog.tasks.get(ref.name or "") if ref is not None and not ref.resolver else None
            steps_at = f"{where}.taskSpec"
            if ref is not None and ref.resolver:
                found = resolution.ref(ref, "Task", reasons.PR_COULDNT_GET_TASK, f"{where}.taskRef", outer)
                assert isinstance(found, Task)
                inner, steps_at = found.spec, f'Task "{found.metadata.name}" spec'
            elif named is not None:
                inner, steps_at = named.spec, f'Task "{named.metadata.name}" spec'
            if inner is None or not has_resolver_steps(inner):
                continue
            params_given = [substitute_model(p, outer) for p in task.params]
            owner = f'pipeline task "{task.name}"'
            params = resolve_params(inner.params, params_given, owner=owner, propagate_undeclared=True)
            if task.task_spec is not None:  # an embedded spec also sees the pipeline's params
                params = {**pipeline_values, **params}
            resolution.steps(inner, params, reasons.PR_COULDNT_GET_TASK, steps_at)


def _child_pipeline(
    task: PipelineTask,
    where: str,
    *,
    pipeline_values: Mapping[str, ParamValue],
    outer: Replacements,
    catalog: Catalog,
    resolution: Resolution,
    seen: tuple[str, ...],
) -> None:
    """A pipeline task that runs a Pipeline (engine/child_pipelines.py): its pipelineRef resolved with the
    enclosing Pipeline's params (as a taskRef is), then its tasks with the params the task gives it."""
    ref, child, prefix = task.pipeline_ref, None, f"{where}.pipelineSpec."
    identity = ""
    if ref is not None and ref.resolver:
        found = resolution.ref(
            ref, "Pipeline", reasons.PR_COULDNT_GET_PIPELINE, f"{where}.pipelineRef", outer
        )
        assert isinstance(found, Pipeline)
        child, identity = found.spec, ref_key(ref.resolver, ref.params)
        prefix = f'Pipeline "{found.metadata.name}" spec.'
    elif ref is not None:
        named = catalog.pipelines.get(ref.name or "")
        child, identity, prefix = (
            (named.spec if named else None),
            ref.name or "",
            f'Pipeline "{ref.name}" spec.',
        )
    else:
        child = _inline(task)
    if child is None or (identity and identity in seen):
        return  # a missing Pipeline or a pipelineRef cycle: refused by child_pipelines.check_children
    given = [substitute_model(p, outer) for p in task.params]
    if task.pipeline_spec is not None:  # an inline pipelineSpec also gets the parent's params
        declared = {p.name for p in given}
        given += [Param(name=k, value=v) for k, v in pipeline_values.items() if k not in declared]
    seen = (*seen, identity) if identity else seen
    _pipeline_tasks(given, child, prefix, catalog=catalog, resolution=resolution, seen=seen)
