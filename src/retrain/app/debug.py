"""`retrain runs debug RUN`: a step paused at a TaskRun `debug` breakpoint, resumed or entered.

The engine (engine/breakpoints.py) writes `paused.json` beside the paused try while a step waits; this use
case finds it, and either does what Tekton's debug scripts do (`--continue`, `--fail-continue`) or says how
to open a shell with the step's mounts, environment and working directory, where the scripts under
`/tekton/debug/scripts` work. The shell itself is the CLI's business (it owns the terminal).
"""

from __future__ import annotations

import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from retrain.engine.breakpoints import PAUSED_FILE, pause_message
from retrain.engine.sandbox import Mount
from retrain.errors import Conflict, InvalidInput, NotFound
from retrain.runs.store import RunStore

Action = Literal["shell", "continue", "fail-continue"]


@dataclass(frozen=True)
class Pause:
    run: str
    taskrun: str
    task: str
    step: str
    kind: str  # onFailure or beforeStep
    index: int
    env: dict[str, str]
    working_dir: str | None
    mounts: tuple[Mount, ...]
    message: str


@dataclass(frozen=True)
class DebugRequest:
    run: str
    task: str | None = None  # the pipeline task or TaskRun; needed when several steps are paused
    action: Action = "shell"


@dataclass(frozen=True)
class DebugResult:
    outcome: Literal["resumed", "shell"]
    pause: Pause
    reason: str  # what was done, or what the shell offers
    argv: tuple[str, ...] = ()  # the shell to run (action "shell"), with env and cwd
    env: dict[str, str] | None = None
    cwd: str | None = None


def paused_steps(store: RunStore, run: str) -> list[Pause]:
    """The steps of `run` waiting at a breakpoint now (none once the run has ended)."""
    found = []
    for path in sorted(store.run_dir(run).glob(f"taskruns/*/attempt-*/debug/{PAUSED_FILE}")):
        try:
            doc: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):  # the pause ended while we looked
            continue
        mounts = tuple(
            Mount(
                Path(m["host"]),
                m["target"],
                read_only=bool(m.get("readOnly")),
                fresh_when_absent=bool(m.get("freshWhenAbsent")),
            )
            for m in doc["mounts"]
        )
        found.append(
            Pause(
                run,
                doc["taskrun"],
                doc["task"],
                doc["step"],
                doc["kind"],
                int(doc["index"]),
                dict(doc["env"]),
                doc.get("workingDir"),
                mounts,
                pause_message(doc["kind"], doc["step"], run, doc["task"]),
            )
        )
    return found


def debug_step(store: RunStore, req: DebugRequest, *, sandbox: str = "auto") -> DebugResult:
    """Resume the paused step as Tekton's scripts do, or describe the shell to open in it."""
    store.get_run(req.run)  # NotFound with suggestions for a wrong name
    pauses = paused_steps(store, req.run)
    if req.task is not None:
        pauses = [p for p in pauses if req.task in (p.task, p.taskrun)]
    if not pauses:
        which = f" in task {req.task!r}" if req.task else ""
        raise NotFound(
            f"no step of run {req.run!r}{which} is paused at a debug breakpoint",
            hint=f"see the run's state with: retrain runs show {req.run}",
        )
    if len(pauses) > 1:
        names = ", ".join(sorted(p.task for p in pauses))
        raise InvalidInput(f"several steps are paused ({names})", hint="choose one with --task TASK")
    pause = pauses[0]
    if req.action != "shell":
        return DebugResult("resumed", pause, resume(pause, fail=req.action == "fail-continue"))
    from retrain.engine.sandbox import detect_sandbox

    shell = "bash" if shutil.which("bash") else "sh"
    box = detect_sandbox(prefer=sandbox)  # type: ignore[arg-type]
    argv, env, cwd = box.wrap([shell], mounts=pause.mounts, working_dir=pause.working_dir or "/workspace",
                              env=pause.env)  # fmt: skip
    debug_dir = "/tekton/debug"
    if box.mode == "host":  # no container paths: the scripts are where the host keeps them
        debug_dir = next((str(m.host) for m in pause.mounts if m.target == debug_dir), debug_dir)
    scripts = f"{debug_dir}/scripts/" + ("debug-" if pause.kind == "onFailure" else "debug-beforestep-")
    offer = f"run {scripts}continue or {scripts}fail-continue to resume step {pause.step!r}"
    return DebugResult("shell", pause, offer, tuple(argv), env, cwd)


def resume(pause: Pause, *, fail: bool) -> str:
    """Write what Tekton's debug-[beforestep-][fail-]continue script writes for the paused step."""
    tekton_run = next((m.host for m in pause.mounts if m.target == "/tekton/run"), None)
    if tekton_run is None:
        raise Conflict(f"the paused step {pause.step!r} has no /tekton/run mount recorded")
    step_run = tekton_run / str(pause.index)
    step_run.mkdir(parents=True, exist_ok=True)
    if pause.kind == "beforeStep":
        name = "out.beforestepexit.err" if fail else "out.beforestepexit"
        _write(step_run / name, "1\n" if fail else "0\n")
        return f"step {pause.step!r} " + ("fails without running" if fail else "runs now")
    (step_run / ("out.err" if fail else "out")).touch()
    _write(step_run / "out.breakpointexit", "1\n" if fail else "0\n")
    return f"step {pause.step!r} ends with exit code {1 if fail else 0}"


def _write(path: Path, text: str) -> None:
    """Whole or not at all: the engine polls for the file and reads it at once."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
    tmp.replace(path)
