"""`retrain runs rerun RUN [--from-failed]`: a new run from a recorded one, optionally reusing successes.

With --from-failed the tasks that succeeded keep their results and are not run again; the new run starts
with a copy of the old run's volumes, so what those tasks wrote to their workspaces is there too.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

from retrain.engine.engine import HOST_WORKSPACES_ANNOTATION, Engine, Submission
from retrain.engine.pipelinerun_types import PipelineRunRequest
from retrain.engine.resolved import resolved_catalog
from retrain.errors import Conflict, InvalidInput
from retrain.tekton.model import PipelineRun, TaskRun

REUSED_ANNOTATION = "retrain.dev/reused-results"  # pipeline task -> results a --from-failed re-run reused
RERUN_OF_ANNOTATION = "retrain.dev/rerun-of"  # the run a re-run was made from


def _succeeded_tasks(store: Any, name: str) -> dict[str, dict[str, Any]]:
    """pipeline task -> results, for each pipeline task whose TaskRun(s) all succeeded (in their last try)."""
    last: dict[str, Any] = {}
    for tr in store.taskruns(name):  # one record per try of each TaskRun
        if tr.pipeline_task and (tr.name not in last or tr.retry > last[tr.name].retry):
            last[tr.name] = tr
    by_task: dict[str, list[Any]] = {}
    for tr in last.values():
        by_task.setdefault(tr.pipeline_task, []).append(tr)
    reused: dict[str, dict[str, Any]] = {}
    for task, taskruns in by_task.items():
        if taskruns and all(tr.state == "Succeeded" for tr in taskruns) and len(taskruns) == 1:
            reused[task] = dict(taskruns[0].results)
    return reused


def prepare_rerun(engine: Engine, name: str, *, from_failed: bool) -> Submission:
    record = engine.store.get_run(name)
    if not record.finished:
        raise Conflict(f"run {name!r} is still {record.state}", hint="wait for it to end, or cancel it first")
    manifest = {k: v for k, v in record.manifest.items() if k != "status"}
    metadata = dict(manifest.get("metadata", {}))
    base = metadata.pop("name", name)
    metadata["generateName"] = f"{base.rsplit('-rerun', 1)[0]}-rerun-"
    annotations = dict(metadata.get("annotations", {}))
    earlier = json.loads(annotations.pop(REUSED_ANNOTATION, "{}"))  # reused by `name` itself, if a re-run
    metadata["annotations"] = annotations
    manifest["metadata"] = metadata
    annotations[RERUN_OF_ANNOTATION] = name
    # The Pipeline and Tasks the run used, even when they came from files this process has not loaded.
    catalog = resolved_catalog(engine.store.run_dir(name), engine.catalog)
    bound = annotations.get(HOST_WORKSPACES_ANNOTATION)
    host_dirs = {k: Path(v) for k, v in json.loads(bound).items()} if bound else None
    if record.kind == "TaskRun":
        if from_failed:
            raise InvalidInput("--from-failed applies to PipelineRuns", hint="re-run the TaskRun without it")
        return engine.submit(TaskRun.model_validate(manifest), host_dirs=host_dirs, catalog=catalog)
    if from_failed and record.state == "Succeeded":
        raise Conflict(f"run {name!r} succeeded; there is nothing to re-run from", hint="drop --from-failed")
    reused: dict[str, dict[str, Any]] = {}
    if from_failed:
        # What `name` reused counts as succeeded too (it has no TaskRun there), so a re-run of a re-run
        # does not run those tasks again; the annotation carries it on to the next re-run.
        reused = {**earlier, **_succeeded_tasks(engine.store, name)}
        annotations[REUSED_ANNOTATION] = json.dumps(reused, sort_keys=True)
    submission = engine.submit(PipelineRun.model_validate(manifest), host_dirs=host_dirs, catalog=catalog)
    if from_failed:
        old_volumes = engine.store.run_dir(name) / "volumes"
        new_volumes = engine.store.run_dir(submission.name) / "volumes"
        if old_volumes.is_dir():
            shutil.copytree(old_volumes, new_volumes, dirs_exist_ok=True, symlinks=True)
        from dataclasses import replace

        assert isinstance(submission.request, PipelineRunRequest)
        submission = replace(submission, request=replace(submission.request, reuse=reused))
        engine.store.add_event(
            submission.name,
            "Normal",
            "RerunFromFailed",
            f"re-running {name}; reusing {', '.join(sorted(reused)) or 'no tasks'}",
        )
    return submission
