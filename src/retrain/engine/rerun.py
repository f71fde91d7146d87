"""`retrain runs rerun RUN [--from-failed]`: a new run from a recorded one, optionally reusing successes.

With --from-failed the tasks that succeeded keep their results and are not run again; the new run starts
with a copy of the old run's volumes, so what those tasks wrote to their workspaces is there too.
"""

from __future__ import annotations

import shutil
from typing import Any

from retrain.engine.engine import Engine, Submission
from retrain.engine.pipelinerun import PipelineRunRequest
from retrain.errors import Conflict, InvalidInput
from retrain.tekton.model import PipelineRun, TaskRun


def _succeeded_tasks(store: Any, name: str) -> dict[str, dict[str, Any]]:
    """pipeline task -> results, for each pipeline task whose TaskRun(s) all succeeded."""
    by_task: dict[str, list[Any]] = {}
    for tr in store.taskruns(name):
        if tr.pipeline_task:
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
    manifest["metadata"] = metadata
    if record.kind == "TaskRun":
        if from_failed:
            raise InvalidInput("--from-failed applies to PipelineRuns", hint="re-run the TaskRun without it")
        return engine.submit(TaskRun.model_validate(manifest))
    if from_failed and record.state == "Succeeded":
        raise Conflict(f"run {name!r} succeeded; there is nothing to re-run from", hint="drop --from-failed")
    submission = engine.submit(PipelineRun.model_validate(manifest))
    if from_failed:
        reused = _succeeded_tasks(engine.store, name)
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
