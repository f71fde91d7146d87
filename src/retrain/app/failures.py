"""Why a run failed: the failing pipeline task, TaskRun and step, and the step's last log lines.

The last lines name host paths, not the sandbox's container paths (`/workspace/<ws>/...` becomes the directory
that workspace was bound to), so that a reader can open the files they mention.
"""

from __future__ import annotations

import shlex
from collections import deque
from dataclasses import dataclass
from pathlib import Path

from retrain.engine.mounts import HostView, attempt_dir, read_mounts
from retrain.runs.logs import step_log_file
from retrain.runs.records import TaskRunRecord
from retrain.runs.store import RunStore

# A step that ended like this is not the one that failed the TaskRun.
_NOT_FAILING = frozenset({"Completed", "Skipped", "Continued"})
_IGNORED = frozenset({"FailureIgnored"})


@dataclass(frozen=True)
class Failure:
    """What failed in a run. task/taskrun/step are None when the run failed before (or outside) any step,
    e.g. a pipeline that could not be resolved or a result reference that does not exist."""

    task: str | None  # the pipeline task's name (None for a TaskRun run on its own)
    taskrun: str | None
    step: str | None
    reason: str
    message: str
    log_tail: tuple[str, ...]
    log_command: str


def last_tries(store: RunStore, run: str) -> list[TaskRunRecord]:
    """The last try of each of the run's TaskRuns, in the order they started."""
    last: dict[str, TaskRunRecord] = {}
    for tr in store.taskruns(run):
        if tr.name not in last or tr.retry >= last[tr.name].retry:
            last[tr.name] = tr
    return list(last.values())


def failing_step(status: dict[str, object]) -> str | None:
    """The first step of a TaskRun status that ended in error (not skipped, not `onError: continue`)."""
    steps = status.get("steps")
    for step in steps if isinstance(steps, list) else []:
        if isinstance(step, dict) and step.get("terminationReason") not in _NOT_FAILING:
            name = step.get("name")
            return name if isinstance(name, str) else None
    return None


def logs_command(store: RunStore, run: str, *, task: str | None = None, step: str | None = None) -> str:
    """The `retrain runs logs` command line that shows a run's (or one task's, one step's) whole log."""
    words = ["retrain", "runs", "logs", run]
    if task:
        words += ["--task", task]
    if step:
        words += ["--step", step]
    from retrain.runs.home import default_home

    if store.home.resolve() != default_home().resolve():
        words += ["--home", str(store.home.absolute())]
    return shlex.join(words)


def tail_of(path: Path, lines: int) -> tuple[str, ...]:
    if lines <= 0:
        return ()
    try:
        with path.open("rb") as f:
            kept = deque(f, maxlen=lines)
    except FileNotFoundError:
        return ()
    return tuple(raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace") for raw in kept)


def failure_of(store: RunStore, run: str, *, lines: int = 15) -> Failure | None:
    """Why `run` failed; None when it did not fail (it succeeded, was cancelled, or has not ended)."""
    record = store.get_run(run)
    if record.state != "Failed":
        return None
    run_dir = store.home / "runs" / run
    for tr in last_tries(store, run):
        if tr.state != "Failed" or tr.reason in _IGNORED:
            continue
        condition = _condition(tr.status)
        view = HostView(read_mounts(attempt_dir(run_dir, tr.name, tr.retry)))
        step = failing_step(tr.status)
        tail = tail_of(step_log_file(run_dir, tr.name, step, tr.retry), lines) if step else ()
        task = tr.pipeline_task if record.kind == "PipelineRun" else None
        return Failure(
            task=task,
            taskrun=tr.name,
            step=step,
            reason=tr.reason or condition.get("reason", "Failed"),
            message=view(condition.get("message", "")),
            log_tail=tuple(view(line) for line in tail),
            log_command=logs_command(store, run, task=task or None, step=step),
        )
    condition = _condition(record.status)
    return Failure(
        task=None,
        taskrun=None,
        step=None,
        reason=record.reason or condition.get("reason", "Failed"),
        message=condition.get("message", ""),
        log_tail=(),
        log_command=logs_command(store, run),
    )


def _condition(status: dict[str, object]) -> dict[str, str]:
    conditions = status.get("conditions")
    if isinstance(conditions, list):
        for cond in conditions:
            if isinstance(cond, dict) and cond.get("type") == "Succeeded":
                return {k: v for k, v in cond.items() if isinstance(k, str) and isinstance(v, str)}
    return {}
