"""A live task table while a PipelineRun runs (Rich on a terminal, one plain line per change otherwise)."""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.engine.engine import Engine, RunResult, Submission


@dataclass
class TaskRow:
    task: str
    state: str = "Pending"
    reason: str = ""
    started: float | None = None
    finished: float | None = None

    @property
    def duration(self) -> str:
        if self.started is None:
            return "-"
        end = self.finished if self.finished is not None else time.monotonic()
        return f"{end - self.started:.1f}s"


@dataclass
class TaskTable:
    """What the run's tasks are doing, as read from the run store."""

    order: list[str]
    rows: dict[str, TaskRow] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.rows = {name: TaskRow(name) for name in self.order}

    def update(self, taskruns: list[Any], status: dict[str, Any]) -> list[TaskRow]:
        """Fold the latest store contents in; returns the rows whose state changed."""
        changed: list[TaskRow] = []
        now = time.monotonic()
        latest: dict[str, Any] = {}  # each retry is a record of its own: only the newest try says the state
        for tr in taskruns:
            task = tr.pipeline_task or ""
            if task not in latest or tr.retry >= latest[task].retry:
                latest[task] = tr
        for tr in latest.values():
            row = self.rows.get(tr.pipeline_task or "")
            if row is None:
                continue
            state = {"Running": "Running", "Pending": "Running"}.get(tr.state, tr.state)
            if tr.reason == "ToBeRetried":
                state = "Retrying"
                tr_reason = f"try {tr.retry + 1} failed; retrying"
            else:
                tr_reason = tr.reason or ""
            if row.started is None:
                row.started = now
            if state != row.state:
                row.state, row.reason = state, tr_reason
                if state not in ("Running", "Retrying"):
                    row.finished = now
                changed.append(row)
        for skipped in status.get("skippedTasks", []):
            row = self.rows.get(skipped["name"])
            if row is not None and row.state != "Skipped":
                row.state, row.reason = "Skipped", skipped["reason"]
                changed.append(row)
        return changed

    def render(self, title: str) -> Any:
        from rich.table import Table

        table = Table("TASK", "STATE", "DURATION", "REASON", title=title, box=None)
        style = {"Succeeded": "green", "Failed": "red", "Skipped": "yellow", "Running": "cyan"}
        for row in self.rows.values():
            table.add_row(
                row.task, f"[{style.get(row.state, 'white')}]{row.state}[/]", row.duration, row.reason
            )
        return table


def plain_line(run: str, row: TaskRow) -> str:
    """`RUN: TASK STATE [DURATION] [(REASON)]`: the duration once a task has ended, the reason when it says
    something beyond the state."""
    ended = row.state not in ("Running", "Retrying")
    duration = f" {row.duration}" if ended and row.started is not None else ""
    reason = f" ({row.reason})" if row.reason and row.reason != row.state else ""
    return f"{run}: {row.task} {row.state}{duration}{reason}"


def task_order(sub: Submission) -> list[str]:
    spec = getattr(sub.request, "spec", None)
    tasks = [*getattr(spec, "tasks", []), *getattr(spec, "finally_", [])]
    return [t.name for t in tasks]


async def execute_with_table(engine: Engine, sub: Submission) -> tuple[RunResult, TaskTable]:
    """Run the submission while showing its tasks; returns the result and the final table."""
    table = TaskTable(task_order(sub))
    worker = asyncio.ensure_future(engine.execute(sub))
    tty = sys.stdout.isatty()
    live = None
    if tty:
        from rich.live import Live

        live = Live(table.render(sub.name), refresh_per_second=8)
        live.start()
    try:
        while True:
            done = worker.done()
            record = engine.store.get_run(sub.name)
            changed = table.update(engine.store.taskruns(sub.name), record.status)
            if live is not None:
                live.update(table.render(sub.name))
            else:
                for row in changed:  # one line per state change: a log file stays short
                    print(plain_line(sub.name, row), flush=True)
            if done:
                break
            await asyncio.wait({worker}, timeout=0.25)
    finally:
        if live is not None:
            live.stop()
    return worker.result(), table
