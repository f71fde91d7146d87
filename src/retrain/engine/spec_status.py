"""A run submitted with `spec.status`, as Tekton's reconcilers treat one (pkg/reconciler/pipelinerun
pipelinerun.go and cancel.go, pkg/reconciler/taskrun/taskrun.go).

- `PipelineRunPending`: recorded, not started. Tekton neither initializes its conditions nor sets a start
  time; it marks it Succeeded=Unknown, reason `PipelineRunPending`, message `PipelineRun "<name>" is
  pending`, and starts it when the user clears the field. Locally that edit is `retrain runs start NAME`
  (`start_pending`): the run keeps its name and what was resolved when it was created (resolved.json,
  objects.json), its manifest loses `spec.status`, and it runs as any other. Until then it holds no engine
  process and no concurrency slot (its key is taken when it is admitted).
- `Cancelled`: Tekton's `cancelPipelineRun` runs before anything is scheduled: nothing starts, the run
  ends Succeeded=False `Cancelled`, `PipelineRun "<name>" was cancelled`.
- `CancelledRunFinally` / `StoppedRunFinally`: no task of the DAG is scheduled (skipped as gracefully
  cancelled / stopped), the finally tasks run, and the run ends `Cancelled`. The engine gets these three
  as a stop request already made when it starts (the same path as `retrain runs cancel --mode`).
- `TaskRunCancelled` (TaskRun): `failTaskRun` before any pod: Succeeded=False `TaskRunCancelled`,
  `TaskRun "<name>" was cancelled. <spec.statusMessage>`, no steps run.
"""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.engine import reasons
from retrain.errors import Conflict
from retrain.runs.status import Condition, TaskRunStatus
from retrain.tekton.model import PipelineRun, TaskRun

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, RunResult, Submission
    from retrain.engine.pipelinerun_types import RunControl
    from retrain.runs.store import RunStore

__all__ = ["PENDING", "STOP_MODES", "before_execute", "is_pending", "record_pending", "start_pending"]

PENDING = "PipelineRunPending"
STOP_MODES = ("Cancelled", "CancelledRunFinally", "StoppedRunFinally")
TASKRUN_CANCELLED = "TaskRunCancelled"


def is_pending(run: PipelineRun | TaskRun) -> bool:
    return isinstance(run, PipelineRun) and run.spec.status == PENDING


def pending_message(name: str) -> str:
    return f'PipelineRun "{name}" is pending'


def record_pending(store: RunStore, name: str, now: datetime) -> None:
    """The status Tekton gives a pending PipelineRun (no startTime: it has not started)."""
    doc = {"conditions": [Condition("Unknown", reasons.PR_PENDING, pending_message(name), now).render()]}
    store.update_run(name, state="Pending", reason=reasons.PR_PENDING, status=doc)
    store.add_event(
        name, "Normal", reasons.PR_PENDING, f"{pending_message(name)}: `retrain runs start {name}`"
    )


def before_execute(engine: Engine, sub: Submission, control: RunControl) -> RunResult | None:
    """What `spec.status` does before the run would start: a result when nothing is to run, else None
    (a stop mode is then already requested on `control`)."""
    from retrain.engine.engine import RunResult

    status = sub.spec_status
    if status is None:
        return None
    if status == PENDING:
        record = engine.store.get_run(sub.name)
        return RunResult(
            sub.name, sub.kind, "Unknown", reasons.PR_PENDING, pending_message(sub.name), record.status
        )
    if status == TASKRUN_CANCELLED:
        now = engine.clock.now()
        message = f'TaskRun "{sub.name}" was cancelled. {sub.status_message or ""}'
        spec = sub.request.spec.model_dump(by_alias=True, exclude_none=True)
        doc = TaskRunStatus(
            "", spec, Condition("False", TASKRUN_CANCELLED, message, now), now, completion_time=now
        ).render()
        engine.store.update_run(
            sub.name, state="Cancelled", reason=TASKRUN_CANCELLED, status=doc, completed=True
        )
        return RunResult(sub.name, sub.kind, "False", TASKRUN_CANCELLED, message, doc)
    control.local_mode = status  # type: ignore[assignment]  # one of STOP_MODES (the model's Literal)
    control.local.set()
    return None


def start_pending(engine: Engine, name: str) -> Submission:
    """Clear a pending PipelineRun's `spec.status` and prepare it to run (the caller executes it)."""
    from retrain.engine.engine import HOST_WORKSPACES_ANNOTATION, Submission, concurrency_spec
    from retrain.engine.feature_flags import flags_of
    from retrain.engine.feature_gates import check_gates
    from retrain.engine.prepare import prepare_pipelinerun
    from retrain.engine.resolved import resolved_catalog
    from retrain.engine.resolvers import resolve_refs

    record = engine.store.get_run(name)
    manifest: dict[str, Any] = {k: v for k, v in record.manifest.items() if k != "status"}
    status = manifest.get("spec", {}).get("status")
    if record.kind != "PipelineRun" or status != PENDING or record.state != "Pending":
        what = f"it is {record.state}" + (f" ({record.reason})" if record.reason else "")
        raise Conflict(
            f"run {name!r} is not pending: {what}",
            hint="only a PipelineRun created with spec.status PipelineRunPending waits for `retrain runs "
            "start`; `retrain runs rerun` runs a finished run again",
        )
    started = {**manifest, "spec": {k: v for k, v in manifest["spec"].items() if k != "status"}}
    run = PipelineRun.model_validate(started)
    run_dir = engine.store.run_dir(name)
    catalog = resolve_refs(run, resolved_catalog(run_dir, engine.catalog))  # what it resolved when created
    annotations = run.metadata.annotations
    bound = annotations.get(HOST_WORKSPACES_ANNOTATION)
    host_dirs = {k: Path(v) for k, v in json.loads(bound).items()} if bound else None
    request = prepare_pipelinerun(run, name, catalog, run_dir, host_dirs=host_dirs)
    flags = flags_of(annotations)
    check_gates(request, flags)
    concurrency = concurrency_spec(
        request.annotations, default_key=request.pipeline_name, params=request.params
    )
    engine.store.replace_manifest(name, record.manifest, started)  # Conflict if another start came first
    engine.store.add_event(
        name, "Normal", "Started", "spec.status PipelineRunPending cleared (`retrain runs start`)"
    )
    return Submission(name, "PipelineRun", request, concurrency, flags)
