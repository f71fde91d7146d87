"""Step logs: where they live, in which order a run's logs are read, and following them while a run runs.

`<home>/runs/<run>/logs/<taskrun>/<step>.log` (a retry n > 0 of a task run: `<taskrun>/retry-<n>/<step>.log`).
Order: task runs in start order (the store's), steps in the order the task declares them (from the task
run's Tekton status: `taskSpec.steps`, else `steps`), then log files no status names yet, by name; last, log
directories of task runs the store does not know yet.
"""

from __future__ import annotations

import os
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.runs.records import check_name

if TYPE_CHECKING:
    from retrain.runs.store import RunStore

_RETRY_DIR = "retry-"


@dataclass(frozen=True)
class LogSource:
    """One step's log file, and the label its lines are shown with (`task/step`)."""

    taskrun: str
    step: str
    retry: int
    label: str
    path: Path


def step_log_file(run_dir: Path, taskrun: str, step: str, retry: int = 0) -> Path:
    if retry < 0:
        raise ValueError(f"retry must be 0 or more, not {retry}")
    directory = run_dir / "logs" / check_name(taskrun, field="taskrun name")
    if retry:
        directory /= f"{_RETRY_DIR}{retry}"
    return directory / f"{check_name(step, field='step name')}.log"


def step_order(status: Mapping[str, Any], on_disk: Iterable[str]) -> list[str]:
    """The steps that have a log file, in the order the task run's status declares them, then the rest."""
    present = set(on_disk)
    declared: list[str] = []
    spec_steps = (status.get("taskSpec") or {}).get("steps") or []
    for entry in [*spec_steps, *(status.get("steps") or [])]:
        name = entry.get("name") if isinstance(entry, Mapping) else None
        if isinstance(name, str) and name in present and name not in declared:
            declared.append(name)
    return declared + sorted(present.difference(declared))


def log_sources(store: RunStore, run_name: str) -> list[LogSource]:
    """The run's step log files that exist now, in run order (NotFound for an unknown run)."""
    records = store.taskruns(run_name)
    logs_dir = store.home / "runs" / check_name(run_name, field="run name") / "logs"
    sources: list[LogSource] = []
    known: set[tuple[str, int]] = set()
    for rec in records:
        known.add((rec.name, rec.retry))
        sources += _sources_in(logs_dir, rec.name, rec.retry, rec.pipeline_task or rec.name, rec.status)
    if logs_dir.is_dir():
        for taskrun_dir in sorted(p for p in logs_dir.iterdir() if p.is_dir()):
            for retry in [0, *_retries(taskrun_dir)]:
                if (taskrun_dir.name, retry) not in known:
                    sources += _sources_in(logs_dir, taskrun_dir.name, retry, taskrun_dir.name, {})
    return sources


def read_logs(store: RunStore, run_name: str) -> Iterator[tuple[str, str, str]]:
    """Every line logged so far, as (taskrun, step, line), in run order."""
    for source in log_sources(store, run_name):
        with source.path.open("rb") as f:
            for raw in f:
                yield source.taskrun, source.step, _decode(raw)


async def follow(
    sources: Callable[[], Sequence[LogSource]],
    is_done: Callable[[], bool],
    emit: Callable[[str], None],
    *,
    poll_s: float = 0.1,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """Emit `[task/step] line` for every line already written, then for new lines and new log files as they
    appear, until `is_done()`; lines written before `is_done()` turned true are never lost."""
    if sleep is None:
        import asyncio

        sleep = asyncio.sleep
    tails: dict[Path, _Tail] = {}
    while True:
        done = is_done()  # asked before the last read, so everything written before the end is read
        for source in sources():
            tail = tails.setdefault(source.path, _Tail(source))
            for line in tail.read_new():
                emit(f"[{source.label}] {line}")
        if done:
            for tail in tails.values():
                if tail.partial:
                    emit(f"[{tail.source.label}] {_decode(tail.partial)}")
            return
        await sleep(poll_s)


async def follow_run(
    store: RunStore,
    run_name: str,
    emit: Callable[[str], None],
    *,
    poll_s: float = 0.1,
    sleep: Callable[[float], Awaitable[None]] | None = None,
) -> None:
    """`retrain runs logs -f RUN`: follow the run's step logs until the run has finished."""
    await follow(
        lambda: log_sources(store, run_name),
        lambda: store.get_run(run_name).finished,
        emit,
        poll_s=poll_s,
        sleep=sleep,
    )


@dataclass
class _Tail:
    """Where we are in one log file; an unfinished last line waits for its newline."""

    source: LogSource
    offset: int = 0
    partial: bytes = field(default=b"")

    def read_new(self) -> list[str]:
        try:
            with self.source.path.open("rb") as f:
                if os.fstat(f.fileno()).st_size < self.offset:  # truncated: start again
                    self.offset, self.partial = 0, b""
                f.seek(self.offset)
                data = f.read()
        except FileNotFoundError:
            return []
        self.offset += len(data)
        *complete, self.partial = (self.partial + data).split(b"\n")
        return [_decode(line) for line in complete]


def _sources_in(
    logs_dir: Path, taskrun: str, retry: int, task: str, status: Mapping[str, Any]
) -> list[LogSource]:
    directory = logs_dir / taskrun / (f"{_RETRY_DIR}{retry}" if retry else "")
    if not directory.is_dir():
        return []
    steps = step_order(status, (p.stem for p in directory.glob("*.log") if p.is_file()))
    label_suffix = f", retry {retry}" if retry else ""
    return [
        LogSource(taskrun, step, retry, f"{task}/{step}{label_suffix}", directory / f"{step}.log")
        for step in steps
    ]


def _retries(taskrun_dir: Path) -> list[int]:
    found = []
    for p in taskrun_dir.iterdir():
        number = p.name.removeprefix(_RETRY_DIR)
        if p.is_dir() and p.name.startswith(_RETRY_DIR) and number.isdigit():
            found.append(int(number))
    return sorted(found)


def _decode(raw: bytes) -> str:
    return raw.rstrip(b"\n").rstrip(b"\r").decode("utf-8", errors="replace")
