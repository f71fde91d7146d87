"""Helpers for the engine's tests: a run store in a temp dir, an engine, and `run_yaml` that runs Tekton
YAML text through `Engine.submit/execute` and hands back the result with everything the store recorded."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from retrain.engine.clock import Clock
from retrain.engine.engine import Engine, RunResult, Submission
from retrain.engine.pipelinerun import RunControl
from retrain.engine.sandbox import Sandbox
from retrain.runs.records import RunRecord, TaskRunRecord
from retrain.runs.store import RunStore
from retrain.tekton.loader import load_text
from retrain.tekton.model import Pipeline, PipelineRun, Task, TaskRun

REPO = Path(__file__).resolve().parents[2]
SHARED = REPO.parent / "shared"


class RecordingStore(RunStore):
    """A RunStore that remembers every TaskRun status the engine wrote, in order (to see ToBeRetried)."""

    def __init__(self, home: Path) -> None:
        super().__init__(home)
        self.taskrun_updates: list[TaskRunRecord] = []

    def upsert_taskrun(self, rec: TaskRunRecord) -> None:
        self.taskrun_updates.append(rec)
        super().upsert_taskrun(rec)


@dataclass
class Ran:
    """What one run left behind."""

    result: RunResult
    store: RecordingStore
    lines: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def status(self) -> dict[str, Any]:
        return self.result.status_doc

    @property
    def record(self) -> RunRecord:
        return self.store.get_run(self.result.name)

    @property
    def condition(self) -> dict[str, Any]:
        cond: dict[str, Any] = self.status["conditions"][0]
        return cond

    def taskruns(self) -> dict[str, TaskRunRecord]:
        """The last record of each TaskRun, by pipeline task (or TaskRun name for a bare TaskRun)."""
        out: dict[str, TaskRunRecord] = {}
        for tr in self.store.taskruns(self.result.name):
            out[tr.pipeline_task or tr.name] = tr
        return out

    def skipped(self) -> dict[str, dict[str, Any]]:
        return {s["name"]: s for s in self.status.get("skippedTasks", [])}

    def results(self) -> dict[str, Any]:
        return {r["name"]: r["value"] for r in self.status.get("results", [])}

    def task_results(self, pipeline_task: str) -> dict[str, Any]:
        return dict(self.taskruns()[pipeline_task].results)

    def log(self, taskrun: str, step: str, retry: int = 0) -> str:
        path = self.store.step_log_path(self.result.name, taskrun, step, retry=retry)
        return path.read_text() if path.exists() else ""

    def output(self, taskrun: str) -> list[str]:
        """The lines every step of `taskrun` printed (as streamed to on_line)."""
        return [line for tr, _, line in self.lines if tr == taskrun]


def make_engine(
    home: Path, sandbox: Sandbox, *, clock: Clock | None = None
) -> tuple[Engine, list[tuple[str, str, str]]]:
    lines: list[tuple[str, str, str]] = []
    engine = Engine(
        RecordingStore(home),
        sandbox=sandbox,
        clock=clock,
        on_line=lambda tr, step, line: lines.append((tr, step, line)),
    )
    return engine, lines


def submit_yaml(
    engine: Engine, text: str, *, host_dirs: Mapping[str, Path] | None = None, run: str | None = None
) -> Submission:
    """Load the documents, add Tasks/Pipelines to the engine's catalog and submit the (named or only) run."""
    loaded = load_text(text, "test.yaml")
    runs: list[PipelineRun | TaskRun] = []
    for doc in loaded.documents:
        if isinstance(doc.obj, Task | Pipeline):
            engine.catalog.add(doc.obj)
        elif run is None or doc.obj.metadata.name == run:
            runs.append(doc.obj)
    assert len(runs) == 1, f"expected one run in the YAML, found {len(runs)}"
    return engine.submit(runs[0], host_dirs=host_dirs)


def run_yaml(
    home: Path,
    sandbox: Sandbox,
    text: str,
    *,
    host_dirs: Mapping[str, Path] | None = None,
    clock: Clock | None = None,
    control: RunControl | None = None,
) -> Ran:
    engine, lines = make_engine(home, sandbox, clock=clock)
    assert isinstance(engine.store, RecordingStore)
    sub = submit_yaml(engine, text, host_dirs=host_dirs)

    async def go() -> RunResult:
        return await engine.execute(sub, control)

    result = asyncio.run(go())
    return Ran(result, engine.store, lines)


RunYaml = Callable[..., Ran]


# --- the real CLI in subprocesses -------------------------------------------------------------------------


def cli(
    *args: str | Path, timeout: float = 60, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """`retrain ARGS...` as a subprocess (the real entry point), captured."""
    return subprocess.run(
        [sys.executable, "-m", "retrain.cli.main", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
        env={**os.environ, **(env or {})},
    )


def cli_popen(*args: str | Path, **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "retrain.cli.main", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        **kwargs,
    )


def wait_for(predicate: Callable[[], bool], *, timeout: float = 20, what: str = "condition") -> None:
    """Bounded polling of real processes (the only waiting the tests do)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def pgrep(marker: str) -> list[int]:
    """Pids of live processes whose command line contains `marker` (for orphan checks)."""
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True, check=False)
    return [int(p) for p in found.stdout.split() if int(p) != os.getpid()]
