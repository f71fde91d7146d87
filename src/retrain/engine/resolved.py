"""The Pipelines and Tasks a run resolved its references to, kept with the run.

A run started from files (`retrain run -f pipeline.yaml -f run.yaml`) names a Pipeline and Tasks that exist
only in those files. `runs rerun` must run the same definitions again, so `Engine.submit` writes the objects
the run referenced to `<run dir>/resolved.json`, and a re-run resolves against them first.
"""

from __future__ import annotations

import json
from pathlib import Path

from retrain.engine.kept_objects import load_objects
from retrain.engine.prepare import Catalog
from retrain.engine.resolvers import RESOLVED_REF_ANNOTATION
from retrain.tekton.model import (
    Pipeline,
    PipelineRun,
    PipelineSpec,
    StepAction,
    Task,
    TaskRef,
    TaskRun,
    TaskSpec,
)

RESOLVED_FILE = "resolved.json"


def _task_names(spec: PipelineSpec) -> list[str]:
    tasks = [*spec.tasks, *spec.finally_]
    return [
        t.task_ref.name for t in tasks if t.task_ref is not None and _local(t.task_ref) and t.task_ref.name
    ]


def _reachable(specs: list[PipelineSpec], catalog: Catalog) -> tuple[list[str], list[PipelineSpec]]:
    """Pipelines in pipelines: the child Pipelines `specs` name (by name, at any depth) and every spec
    reachable from them (`specs` themselves, named and inline children)."""
    names: list[str] = []
    seen: list[PipelineSpec] = []
    todo = list(specs)
    while todo:
        spec = todo.pop(0)
        seen.append(spec)
        for task in [*spec.tasks, *spec.finally_]:
            ref = task.pipeline_ref
            if (
                ref is not None
                and not ref.resolver
                and ref.name in catalog.pipelines
                and ref.name not in names
            ):
                names.append(ref.name)
                todo.append(catalog.pipelines[ref.name].spec)
            elif task.pipeline_spec is not None:
                try:
                    todo.append(PipelineSpec.model_validate(task.pipeline_spec))
                except ValueError:
                    continue  # refused when the run was prepared
    return names, seen


def _local(ref: TaskRef | None) -> bool:
    return ref is not None and not ref.resolver and ref.kind in (None, "Task") and bool(ref.name)


def referenced(run: PipelineRun | TaskRun, catalog: Catalog) -> list[Task | Pipeline | StepAction]:
    """The catalog objects `run` refers to by name, and what its resolver refs resolved to (annotated with
    their key, so that `resolved_catalog` puts them back under it)."""
    found: list[Task | Pipeline | StepAction] = []
    specs: list[TaskSpec] = []  # whose steps may refer to StepActions
    task_names: list[str] = []
    if isinstance(run, PipelineRun):
        spec = run.spec.pipeline_spec
        ref = run.spec.pipeline_ref
        if ref is not None and not ref.resolver and ref.name in catalog.pipelines:
            pipeline = catalog.pipelines[ref.name]
            found.append(pipeline)
            spec = pipeline.spec
        pipeline_specs = [spec] if spec is not None else []
        for resolved in catalog.resolved.values():  # a resolved Pipeline's children by name, too
            if isinstance(resolved, Pipeline):
                pipeline_specs.append(resolved.spec)
        children, reachable = _reachable(pipeline_specs, catalog)  # pipelines in pipelines
        found += [catalog.pipelines[n] for n in children if not (found and found[0].metadata.name == n)]
        for spec in reachable:
            task_names += _task_names(spec)
            specs += [t.task_spec for t in [*spec.tasks, *spec.finally_] if t.task_spec is not None]
    elif run.spec.task_ref is not None and _local(run.spec.task_ref) and run.spec.task_ref.name:
        task_names = [run.spec.task_ref.name]
    elif run.spec.task_spec is not None:
        specs.append(run.spec.task_spec)
    for obj in catalog.resolved.values():  # what a resolved Pipeline or Task refers to by name
        if isinstance(obj, Pipeline):
            task_names += _task_names(obj.spec)
            specs += [t.task_spec for t in [*obj.spec.tasks, *obj.spec.finally_] if t.task_spec is not None]
        elif isinstance(obj, Task):
            specs.append(obj.spec)
    tasks = [catalog.tasks[n] for n in dict.fromkeys(task_names) if n in catalog.tasks]
    found += tasks
    specs += [t.spec for t in tasks]
    actions = [
        s.ref.name for spec in specs for s in spec.steps if s.ref and not s.ref.resolver and s.ref.name
    ]
    found += [
        StepAction.model_validate({"metadata": {"name": n}, "spec": catalog.step_actions[n]})
        for n in dict.fromkeys(actions)
        if n in catalog.step_actions
    ]
    for key, obj in catalog.resolved.items():  # what its resolver refs resolved to (engine/resolvers.py)
        annotations = {**obj.metadata.annotations, RESOLVED_REF_ANNOTATION: key}
        found.append(
            obj.model_copy(update={"metadata": obj.metadata.model_copy(update={"annotations": annotations})})
        )
    return found


def save_resolved(run_dir: Path, objects: list[Task | Pipeline | StepAction]) -> None:
    docs = [obj.model_dump(by_alias=True, exclude_none=True, mode="json") for obj in objects]
    (run_dir / RESOLVED_FILE).write_text(json.dumps(docs))


def resolved_catalog(run_dir: Path, base: Catalog) -> Catalog:
    """`base`, with the objects a recorded run resolved in its place (so a re-run runs what ran)."""
    catalog = Catalog(
        tasks=dict(base.tasks),
        pipelines=dict(base.pipelines),
        step_actions=dict(base.step_actions),
        resolved=dict(base.resolved),
    )
    catalog.objects = load_objects(run_dir) or base.objects  # the ConfigMaps/Secrets it was given (-f)
    path = run_dir / RESOLVED_FILE
    if not path.is_file():
        return catalog
    for doc in json.loads(path.read_text()):
        kinds: dict[str, type[Task | Pipeline | StepAction]] = {"Task": Task, "StepAction": StepAction}
        obj = kinds.get(str(doc.get("kind")), Pipeline).model_validate(doc)
        key = obj.metadata.annotations.get(RESOLVED_REF_ANNOTATION)
        if key is None:
            catalog.add(obj)
            continue
        catalog.resolved[key] = obj  # a ref resolved by a resolver: the re-run uses it, never resolves again
        if isinstance(obj, StepAction):
            catalog.step_actions[key] = obj.spec
    return catalog
