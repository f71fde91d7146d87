"""The task rows of a run's description: every pipeline task in the Pipeline's order, with what became of it
(ran, skipped and why, reused by a `--from-failed` re-run, or never reached)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from retrain.runs.records import RunRecord, TaskRunRecord, status_time

REUSED_ANNOTATION = "retrain.dev/reused-results"  # engine.rerun's; read here without importing the engine


@dataclass(frozen=True)
class TaskView:
    """One pipeline task (one row per TaskRun of a matrix task) as `tkn pipelinerun describe` lists it."""

    name: str
    taskrun: str | None
    state: str  # Succeeded, Failed, Cancelled, Running, Pending, Skipped, Reused, NotRun
    reason: str | None
    message: str | None
    is_finally: bool
    started_at: datetime | None
    duration_s: float | None
    retries: int
    results: tuple[tuple[str, str], ...]


def text_of(value: object) -> str:
    """A param or result value as one line: strings as they are, arrays and objects as compact JSON."""
    return value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))


def seconds_between(start: datetime | None, end: datetime | None, *, running: bool) -> float | None:
    """How long something ran; up to now while it still runs; None when it never started."""
    if start is None:
        return None
    if end is None:
        if not running:
            return None
        end = datetime.now(UTC)
    return max(0.0, (end - start).total_seconds())


def task_views(record: RunRecord, tries: Sequence[TaskRunRecord]) -> tuple[TaskView, ...]:
    """One row per pipeline task (per TaskRun of a matrix task), DAG tasks first, then finally tasks."""
    if record.kind != "PipelineRun":
        return tuple(_ran(tr.name, tr, is_finally=False) for tr in tries)
    spec = record.status.get("pipelineSpec") or {}
    dag = [t["name"] for t in spec.get("tasks") or [] if isinstance(t, dict) and "name" in t]
    finally_ = [t["name"] for t in spec.get("finally") or [] if isinstance(t, dict) and "name" in t]
    by_task: dict[str, list[TaskRunRecord]] = {}
    for tr in tries:
        by_task.setdefault(tr.pipeline_task or tr.name, []).append(tr)
    skipped = {s["name"]: s.get("reason") for s in record.status.get("skippedTasks") or []}
    annotations = record.manifest.get("metadata", {}).get("annotations") or {}
    reused: dict[str, dict[str, Any]] = json.loads(annotations.get(REUSED_ANNOTATION, "{}"))
    rows: list[TaskView] = []
    names = [*dag, *finally_, *(n for n in by_task if n not in dag and n not in finally_)]
    for name in names:
        is_finally = name in finally_
        if name in by_task:
            rows += [_ran(name, tr, is_finally=is_finally) for tr in by_task[name]]
        elif name in skipped:
            rows.append(_row(name, "Skipped", skipped[name], is_finally=is_finally))
        elif name in reused:
            source = annotations.get("retrain.dev/rerun-of")
            reason = f"succeeded in {source}" if source else "succeeded in the run re-run"
            rows.append(_row(name, "Reused", reason, is_finally=is_finally, results=reused[name]))
        else:
            state = "NotRun" if record.finished else "Pending"
            rows.append(_row(name, state, None, is_finally=is_finally))
    return tuple(rows)


def _ran(name: str, tr: TaskRunRecord, *, is_finally: bool) -> TaskView:
    condition: dict[str, Any] = next(
        (c for c in tr.status.get("conditions", []) if c.get("type") == "Succeeded"), {}
    )
    start = tr.started_at or status_time(tr.status, "startTime")
    end = tr.completed_at or status_time(tr.status, "completionTime")
    return TaskView(
        name=name,
        taskrun=tr.name,
        state=tr.state,
        reason=tr.reason,
        message=condition.get("message") or None,
        is_finally=is_finally,
        started_at=start,
        duration_s=seconds_between(start, end, running=tr.state in ("Running", "Pending")),
        retries=tr.retry,
        results=tuple((k, text_of(v)) for k, v in tr.results.items()),
    )


def _row(
    name: str,
    state: str,
    reason: str | None,
    *,
    is_finally: bool,
    results: dict[str, Any] | None = None,
) -> TaskView:
    return TaskView(
        name=name,
        taskrun=None,
        state=state,
        reason=reason,
        message=None,
        is_finally=is_finally,
        started_at=None,
        duration_s=None,
        retries=0,
        results=tuple((k, text_of(v)) for k, v in (results or {}).items()),
    )
