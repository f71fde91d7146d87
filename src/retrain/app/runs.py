"""The runs use cases: list runs, describe one, select its logs, re-run it. Frozen results, no formatting.

A run's model and trigger come from the labels `retrain trigger` and the service set (`retrain.dev/model`,
`retrain.dev/trigger`); a run started otherwise still names its model through the `model-name` param.
None where neither says (the CLI shows "-").
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from retrain.app.debug import paused_steps
from retrain.app.failures import Failure, failure_of, last_tries
from retrain.app.run_tasks import TaskView, seconds_between, task_views, text_of
from retrain.app.trigger import SUMMARY_EVENT
from retrain.runs.logs import LogSource, log_sources
from retrain.runs.records import RUN_STATES, RunRecord, TaskRunRecord

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, Submission
    from retrain.runs.store import RunStore

__all__ = [
    "Failure",
    "ListRunsRequest",
    "LogsRequest",
    "RerunRequest",
    "RunDescription",
    "RunList",
    "RunSummary",
    "StartRequest",
    "TaskView",
    "describe_run",
    "failure_of",
    "list_runs",
    "log_sources_of",
    "prepare_rerun",
    "prepare_start",
    "source_lines",
]

MODEL_LABEL = "retrain.dev/model"
TRIGGER_LABEL = "retrain.dev/trigger"
MODEL_PARAM = "model-name"


# --- list ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ListRunsRequest:
    model: str | None = None
    trigger: str | None = None
    state: str | None = None  # Pending, Running, Succeeded, Failed, Cancelled
    kind: str | None = None  # PipelineRun or TaskRun
    pipeline: str | None = None
    labels: Mapping[str, str] = field(default_factory=dict)
    last: int | None = 50  # the newest N runs that match; None: all
    before: str | None = None  # only runs older than this one (the dashboard's keyset paging)


@dataclass(frozen=True)
class RunSummary:
    name: str
    kind: str
    pipeline: str | None
    model: str | None
    trigger: str | None
    state: str
    reason: str | None
    created_at: datetime
    started_at: datetime | None
    completed_at: datetime | None
    duration_s: float | None  # so far, for a run still running


@dataclass(frozen=True)
class RunList:
    runs: tuple[RunSummary, ...]


def list_runs(store: RunStore, req: ListRunsRequest) -> RunList:
    """Runs matching every filter, newest first."""
    from retrain.errors import InvalidInput, Location

    if req.state is not None and req.state not in RUN_STATES:
        raise InvalidInput(
            f"unknown state {req.state!r}",
            location=Location(field="--state"),
            hint=f"use one of {', '.join(sorted(RUN_STATES))}",
        )
    if req.last is not None and req.last < 1:
        raise InvalidInput(f"--last must be 1 or more, got {req.last}", location=Location(field="--last"))
    # model and trigger may come from a param, not a label: filtered here, so the limit applies after them.
    needs_scan = req.model is not None or req.trigger is not None
    records = store.list_runs(
        kind=req.kind,  # type: ignore[arg-type]
        pipeline=req.pipeline,
        state=req.state,  # type: ignore[arg-type]
        label=dict(req.labels) or None,
        limit=None if needs_scan else req.last,
        before=req.before,
    )
    summaries = [summary_of(r) for r in records]
    if req.model is not None:
        summaries = [s for s in summaries if s.model == req.model]
    if req.trigger is not None:
        summaries = [s for s in summaries if s.trigger == req.trigger]
    return RunList(tuple(summaries[: req.last] if req.last is not None else summaries))


def summary_of(record: RunRecord) -> RunSummary:
    return RunSummary(
        name=record.name,
        kind=record.kind,
        pipeline=record.pipeline,
        model=model_of(record),
        trigger=record.labels.get(TRIGGER_LABEL),
        state=record.state,
        reason=record.reason,
        created_at=record.created_at,
        started_at=record.started_at,
        completed_at=record.completed_at,
        duration_s=seconds_between(record.started_at, record.completed_at, running=not record.finished),
    )


def model_of(record: RunRecord) -> str | None:
    label = record.labels.get(MODEL_LABEL)
    if label:
        return label
    value = given_params(record).get(MODEL_PARAM)
    return value if isinstance(value, str) and value else None


def given_params(record: RunRecord) -> dict[str, Any]:
    params = record.manifest.get("spec", {}).get("params") or []
    return {p["name"]: p.get("value") for p in params if isinstance(p, dict) and "name" in p}


# --- describe --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RunDescription:
    name: str
    kind: str
    pipeline: str | None
    model: str | None
    trigger: str | None
    state: str
    reason: str | None
    message: str | None
    created_at: datetime
    started_at: datetime | None
    duration_s: float | None
    params: tuple[tuple[str, str], ...]
    tasks: tuple[TaskView, ...]
    results: tuple[tuple[str, str], ...]
    failure: Failure | None
    rerun_of: str | None  # the run this one re-ran, when it is a re-run
    outcome: str | None = None  # a training run's read-back summary (which version serves), when recorded
    paused: tuple[str, ...] = ()  # steps waiting at a debug breakpoint, and how to resume them


def describe_run(store: RunStore, run: str, *, lines: int = 15) -> RunDescription:
    """What `retrain runs show RUN` tells: params, tasks with state and duration, results, the failure."""
    return describe_record(store, store.get_run(run), last_tries(store, run), lines=lines)


def describe_record(
    store: RunStore, record: RunRecord, tries: list[TaskRunRecord], *, lines: int = 15
) -> RunDescription:
    """`describe_run` from a record and its TaskRuns' last tries already read (the dashboard reads them once
    and also draws the graph from them)."""
    status = record.status
    condition: dict[str, Any] = next(
        (c for c in status.get("conditions", []) if c.get("type") == "Succeeded"), {}
    )
    summary = summary_of(record)
    annotations = record.manifest.get("metadata", {}).get("annotations") or {}
    return RunDescription(
        name=record.name,
        kind=record.kind,
        pipeline=record.pipeline,
        model=summary.model,
        trigger=summary.trigger,
        state=record.state,
        reason=record.reason,
        message=condition.get("message") or None,
        created_at=record.created_at,
        started_at=record.started_at,
        duration_s=summary.duration_s,
        params=tuple((k, text_of(v)) for k, v in given_params(record).items()),
        tasks=task_views(record, tries),
        results=tuple((r["name"], text_of(r.get("value"))) for r in status.get("results", [])),
        failure=failure_of(store, record.name, lines=lines) if record.state == "Failed" else None,
        rerun_of=annotations.get("retrain.dev/rerun-of"),
        outcome=next(
            (e.message for e in reversed(store.events(record.name)) if e.reason == SUMMARY_EVENT), None
        ),
        paused=tuple(p.message for p in paused_steps(store, record.name))
        if record.state == "Running"
        else (),
    )


# --- logs ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LogsRequest:
    run: str
    task: str | None = None  # a pipeline task or TaskRun name
    step: str | None = None


def log_sources_of(store: RunStore, req: LogsRequest, *, strict: bool = True) -> list[LogSource]:
    """The run's step log files, in run order, narrowed to one task and/or step. `strict`: a task or step
    the finished run never had is NotFound with the names it had (a running run may still start it)."""
    record = store.get_run(req.run)
    owners = {tr.name: tr.pipeline_task or tr.name for tr in store.taskruns(req.run)}
    sources = log_sources(store, req.run)
    if req.task is not None:
        sources = [s for s in sources if req.task in (s.taskrun, owners.get(s.taskrun))]
        if strict and not sources and record.finished:
            _not_found("task", req.task, [*dict.fromkeys(owners.values())], req.run)
    if req.step is not None:
        steps = [*dict.fromkeys(s.step for s in sources)]
        sources = [s for s in sources if s.step == req.step]
        if strict and not sources and record.finished:
            _not_found("step", req.step, steps, req.run)
    return sources


def source_lines(source: LogSource) -> Iterator[str]:
    with source.path.open("rb") as f:
        for raw in f:
            yield raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")


def _not_found(what: str, name: str, known: list[str], run: str) -> None:
    import difflib

    from retrain.errors import NotFound

    close = difflib.get_close_matches(name, known, n=1)
    hint = f"did you mean {close[0]!r}? " if close else ""
    raise NotFound(
        f"run {run!r} has no {what} {name!r} with logs",
        hint=f"{hint}its {what}s with logs: {', '.join(known) or 'none'}",
    )


# --- rerun -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RerunRequest:
    run: str
    from_failed: bool = False


def prepare_rerun(engine: Engine, req: RerunRequest) -> Submission:
    """A new run from a recorded one (recorded, not started: the caller executes it). With `from_failed`,
    the tasks that succeeded keep their results and are not run again. Runs started from files re-run
    with the Pipelines and Tasks they resolved then, which the run store keeps."""
    from retrain.engine.rerun import prepare_rerun as prepare

    return prepare(engine, req.run, from_failed=req.from_failed)


# --- start -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StartRequest:
    run: str  # a PipelineRun recorded with spec.status PipelineRunPending


def prepare_start(engine: Engine, req: StartRequest) -> Submission:
    """Clear a pending run's `spec.status` (what a user edits on a cluster to start it) and prepare it to run
    under its own name, with what it resolved when it was created (the caller executes it). Conflict when the
    run is not pending (running, ended, or never pending), NotFound when there is no such run."""
    from retrain.engine.spec_status import start_pending

    return start_pending(engine, req.run)
