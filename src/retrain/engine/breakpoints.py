"""TaskRun `debug` breakpoints (Tekton's alpha feature): a step paused until the user decides.

As Tekton's entrypoint does (cmd/entrypoint, pkg/entrypoint/entrypointer.go):
- onFailure: a step that exits non-zero does not end; it waits for `/tekton/run/<i>/out.breakpointexit`
  and then ends with the code written there (`debug-continue` writes 0 and `out`, `debug-fail-continue`
  writes 1 and `out.err`);
- beforeSteps: a named step waits before it starts for `/tekton/run/<i>/out.beforestepexit`
  (`debug-beforestep-continue`: the step runs) or `out.beforestepexit.err` (`-fail-continue`: the step
  does not run and fails with exit code 1, so the later steps are skipped).
The scripts are Tekton's, under `/tekton/debug/scripts`; `/tekton/debug/info` names the paused step's
number (Tekton mounts one info directory per step; steps run one at a time here, so the marker of the
paused step is the only one there). The TaskRun's timeout and cancel end a pause as they end a step.
`paused.json` in the try's debug directory tells `retrain runs debug` which step waits and what it sees.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import tempfile
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from retrain.engine.clock import Clock
from retrain.engine.process import StepLaunch, StepOutcome, run_step
from retrain.engine.reasons import TR_VALIDATION_FAILED, RunRejected
from retrain.engine.sandbox import Mount
from retrain.errors import Location

if TYPE_CHECKING:
    from retrain.engine.attempt import Attempt

logger = logging.getLogger("retrain.engine")

DEBUG_TARGET = "/tekton/debug"
PAUSED_FILE = "paused.json"
_POLL_S = 0.1
Kind = Literal["onFailure", "beforeStep"]

_HEAD = """#!/bin/sh
set -e
numberOfSteps={steps}
debugInfo={info}
tektonRun={run}

postFile="$(ls ${{debugInfo}} | grep -E '[0-9]+' | tail -1)"
stepNumber="$(echo ${{postFile}} | sed 's/[^0-9]*//g')"

if [ $stepNumber -lt $numberOfSteps ]; then
"""
_TAIL = """\techo "Executing step $stepNumber..."
else
\techo "Last step (no. $stepNumber) has already been executed, {what} exiting !"
\texit 0
fi
"""
# What each of Tekton's scripts writes for the paused step (pkg/pod/script.go).
_ACTIONS = {
    "debug-continue": (
        "\ttouch ${tektonRun}/${stepNumber}/out # Mark step as success\n"
        '\techo "0" > ${tektonRun}/${stepNumber}/out.breakpointexit\n',
        "breakpoint",
    ),
    "debug-fail-continue": (
        "\ttouch ${tektonRun}/${stepNumber}/out.err # Mark step as a failure\n"
        '\techo "1" > ${tektonRun}/${stepNumber}/out.breakpointexit\n',
        "breakpoint",
    ),
    "debug-beforestep-continue": (
        '\techo "0" > ${tektonRun}/${stepNumber}/out.beforestepexit\n',
        "before step breakpoint",
    ),
    "debug-beforestep-fail-continue": (
        '\techo "1" > ${tektonRun}/${stepNumber}/out.beforestepexit.err\n',
        "before step breakpoint",
    ),
}


@dataclass(frozen=True)
class Breakpoints:
    on_failure: bool
    before_steps: frozenset[str]


def breakpoints_of(breakpoints: Mapping[str, Any] | None) -> Breakpoints | None:
    """The TaskRun's `spec.debug.breakpoints` (validated at creation by tekton/local_support.py)."""
    if breakpoints is None:
        return None
    at = "spec.debug.breakpoints"
    on_failure = breakpoints.get("onFailure") or ""
    if on_failure != "enabled":  # Tekton's validateDebug, word for word
        problem = (
            "onFailure breakpoint is empty, it is only allowed to be set as enabled"
            if not on_failure
            else f"{on_failure} is not a valid onFailure breakpoint value, onFailure breakpoint is only "
            "allowed to be set as enabled"
        )
        raise _invalid(f"invalid value: {problem}", f"{at}.onFailure", 'write onFailure: "enabled"')
    before = breakpoints.get("beforeSteps") or []
    if not isinstance(before, list):
        raise _invalid("beforeSteps must be a list of step names", f"{at}.beforeSteps", "list step names")
    seen: set[str] = set()
    for i, step in enumerate(before):
        if step in seen:
            raise _invalid(
                f"before step must be unique, the same step: {step} is defined multiple times at",
                f"{at}.beforeSteps[{i}]",
                "name each step once",
            )
        seen.add(str(step))
    unknown = breakpoints.keys() - {"onFailure", "beforeSteps"}
    if unknown:
        raise _invalid(f"unknown field {sorted(unknown)[0]!r}", at, "use onFailure and beforeSteps")
    return Breakpoints(True, frozenset(seen))


def _invalid(message: str, path: str, hint: str) -> RunRejected:
    return RunRejected(TR_VALIDATION_FAILED, message, location=Location(field=path), hint=hint)


class DebugDir:
    """`<try>/debug` (mounted at /tekton/debug): Tekton's four scripts, the info marker, paused.json."""

    def __init__(self, root: Path, run_dir: Path) -> None:
        self.root, self.run_dir = root / "debug", run_dir
        self.info = self.root / "info"
        self.info.mkdir(parents=True, exist_ok=True)

    def write_scripts(self, steps: int, visible: Callable[[str], str]) -> None:
        """Tekton's scripts, with the paths this step sees (the host's, in host mode)."""
        scripts = self.root / "scripts"
        scripts.mkdir(exist_ok=True)
        head = _HEAD.format(steps=steps, info=visible(f"{DEBUG_TARGET}/info"), run=visible("/tekton/run"))
        for name, (action, what) in _ACTIONS.items():
            path = scripts / name
            path.write_text(head + action + _TAIL.format(what=what))
            path.chmod(0o755)

    def mount(self) -> Mount:
        return Mount(self.root, DEBUG_TARGET)

    async def pause(
        self,
        kind: Kind,
        index: int,
        where: Mapping[str, Any],
        *,
        clock: Clock,
        deadline: float | None,
        cancel: asyncio.Event,
    ) -> int | None:
        """Wait for the user's decision on step `index`: its exit code (0 or 1), None if the TaskRun ended."""
        step_run = self.run_dir / str(index)
        step_run.mkdir(parents=True, exist_ok=True)
        marker = self.info / str(index)
        marker.touch()
        _write_private(self.root / PAUSED_FILE, json.dumps({"kind": kind, "index": index, **where}, indent=1))
        script = "debug-continue" if kind == "onFailure" else "debug-beforestep-continue"
        logger.warning(
            "TaskRun %s: step %s is paused at its %s breakpoint; resume it with `retrain runs debug %s "
            "--task %s` (then /tekton/debug/scripts/%s or debug-%sfail-continue), or add --continue or "
            "--fail-continue",
            where["taskrun"], where["step"], kind, where["run"], where["task"], script,
            "" if kind == "onFailure" else "beforestep-",
        )  # fmt: skip
        try:
            while True:
                code = _decision(kind, step_run)
                if code is not None:
                    return code
                if cancel.is_set() or (deadline is not None and clock.monotonic() >= deadline):
                    return None
                await asyncio.sleep(_POLL_S)  # a real wait: the user's decision is a file
        finally:
            marker.unlink(missing_ok=True)
            (self.root / PAUSED_FILE).unlink(missing_ok=True)


def _decision(kind: Kind, step_run: Path) -> int | None:
    if kind == "beforeStep":
        if (step_run / "out.beforestepexit.err").exists():
            return 1
        return 0 if (step_run / "out.beforestepexit").exists() else None
    exit_file = step_run / "out.breakpointexit"
    if not exit_file.exists():
        return None
    text = exit_file.read_text().strip()
    if not text:  # the script's `echo` has created the file but not written it yet
        return None
    try:  # Tekton: an unreadable exit code counts as 0, "to encourage to continue"
        return int(text)
    except ValueError:
        return 0


def pause_message(kind: Kind, step: str, run: str, task: str) -> str:
    """The Running condition's message while a step waits (what `runs show` prints)."""
    flag = "--continue or --fail-continue"
    return (
        f'step "{step}" is paused at its {kind} breakpoint: run `retrain runs debug {run} --task {task}` '
        f"for a shell in the step, or add {flag}"
    )


async def run_with_breakpoints(
    attempt: Attempt, index: int, launch: StepLaunch, deadline: float | None, **kw: Any
) -> StepOutcome:
    """`run_step`, with the TaskRun's breakpoints around it; without breakpoints, just `run_step`.

    A pause lasts until the user decides or the TaskRun ends (`deadline`, its timeout; or cancel)."""
    bp, debug = attempt.req.breakpoints, attempt.debug
    if bp is None or debug is None:
        return await run_step(launch, attempt.env.sandbox, **kw)
    clock, cancel = attempt.env.clock, attempt.cancel.event
    task = attempt.req.name  # debug is a TaskRun field: a PipelineRun cannot set it
    run = attempt.env.run_dir.name
    where: dict[str, Any] = {
        "run": run, "taskrun": attempt.req.name, "task": task, "step": launch.name,
        "env": dict(launch.env), "workingDir": launch.working_dir, "mounts": [
            {"host": str(m.host.absolute()), "target": m.target, "readOnly": m.read_only,
             "freshWhenAbsent": m.fresh_when_absent}
            for m in launch.mounts
        ],
    }  # fmt: skip

    async def decide(kind: Kind) -> int | None:
        attempt.on_pause(pause_message(kind, launch.name, run, task))
        try:
            return await debug.pause(kind, index, where, clock=clock, deadline=deadline, cancel=cancel)
        finally:
            attempt.on_pause(None)

    if launch.name in bp.before_steps:
        started = clock.now()
        code = await decide("beforeStep")
        if code is None or code != 0:  # fail-continue: the step does not run and fails (exit code 1)
            why = "Error" if code is not None else ("Cancelled" if cancel.is_set() else "TimeoutExceeded")
            return StepOutcome(1, why, started, clock.now(), "")  # type: ignore[arg-type]
        if deadline is not None:  # the step's own timeout, within what the TaskRun has left
            left = max(0.001, deadline - clock.monotonic())
            launch = replace(launch, timeout_s=min(launch.timeout_s or left, left))
    result = await run_step(launch, attempt.env.sandbox, **kw)
    if not bp.on_failure or result.exit_code == 0 or result.reason != "Error":
        return result
    code = await decide("onFailure")
    if code is None:
        return replace(result, reason="Cancelled" if cancel.is_set() else "TimeoutExceeded")
    return replace(result, exit_code=code, reason="Error" if code else "Completed", finished_at=clock.now())


def _write_private(path: Path, text: str) -> None:
    """Atomically, readable by the owner only (0600, from mkstemp): paused.json holds the step's environment,
    which may carry values from Secrets."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".tmp-{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(text)
        Path(tmp).replace(path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
