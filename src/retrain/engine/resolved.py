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
from retrain.tekton.model import Pipeline, PipelineRun, PipelineSpec, Task, TaskRef, TaskRun

RESOLVED_FILE = "resolved.json"


def _task_names(spec: PipelineSpec) -> list[str]:
    tasks = [*spec.tasks, *spec.finally_]
    return [
        t.task_ref.name for t in tasks if t.task_ref is not None and _local(t.task_ref) and t.task_ref.name
    ]


def _local(ref: TaskRef | None) -> bool:
    return ref is not None and not ref.resolver and ref.kind in (None, "Task") and bool(ref.name)


def referenced(run: PipelineRun | TaskRun, catalog: Catalog) -> list[Task | Pipeline]:
    """The catalog objects `run` refers to by name (a remote resolver's are not local: left out)."""
    found: list[Task | Pipeline] = []
    task_names: list[str] = []
    if isinstance(run, PipelineRun):
        spec = run.spec.pipeline_spec
        ref = run.spec.pipeline_ref
        if ref is not None and not ref.resolver and ref.name in catalog.pipelines:
            pipeline = catalog.pipelines[ref.name]
            found.append(pipeline)
            spec = pipeline.spec
        if spec is not None:
            task_names = _task_names(spec)
    elif run.spec.task_ref is not None and _local(run.spec.task_ref) and run.spec.task_ref.name:
        task_names = [run.spec.task_ref.name]
    found += [catalog.tasks[n] for n in dict.fromkeys(task_names) if n in catalog.tasks]
    return found


def save_resolved(run_dir: Path, objects: list[Task | Pipeline]) -> None:
    docs = [obj.model_dump(by_alias=True, exclude_none=True, mode="json") for obj in objects]
    (run_dir / RESOLVED_FILE).write_text(json.dumps(docs))


def resolved_catalog(run_dir: Path, base: Catalog) -> Catalog:
    """`base`, with the objects a recorded run resolved in its place (so a re-run runs what ran)."""
    catalog = Catalog(tasks=dict(base.tasks), pipelines=dict(base.pipelines))
    catalog.objects = load_objects(run_dir) or base.objects  # the ConfigMaps/Secrets it was given (-f)
    path = run_dir / RESOLVED_FILE
    if not path.is_file():
        return catalog
    for doc in json.loads(path.read_text()):
        catalog.add(Task.model_validate(doc) if doc.get("kind") == "Task" else Pipeline.model_validate(doc))
    return catalog
