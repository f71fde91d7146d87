"""Launching one step of a TaskRun try: its argv, env, working dir, mounts and time limit; its ending."""

from __future__ import annotations

from datetime import timedelta
from typing import TYPE_CHECKING

from retrain.engine import artifacts, reasons, step_hooks
from retrain.engine.applets import with_applets
from retrain.engine.breakpoints import run_with_breakpoints
from retrain.engine.images import entrypoint_argv, known_images
from retrain.engine.process import StepLaunch
from retrain.engine.scripts import materialize_script
from retrain.engine.step_template import step_names
from retrain.engine.taskrun_types import Phase
from retrain.runs.status import StepState
from retrain.tekton.durations import format_duration, parse_duration
from retrain.tekton.model import Step

if TYPE_CHECKING:
    from retrain.engine.attempt import Attempt


async def run_one_step(
    attempt: Attempt, index: int, name: str, step: Step, deadline: float | None
) -> tuple[Phase, str, str, StepState]:
    step = artifacts.prepare_step(attempt, name, step)  # $(step.artifacts.path), earlier steps' artifacts
    if step.script is not None:
        _, argv = materialize_script(
            step.script,
            attempt.dirs["/tekton/scripts"],
            index,
            name,
            visible_dir=attempt.visible("/tekton/scripts"),
        )
        argv = [*argv, *(step.args or [])]
    elif step.command:
        argv = [*step.command, *(step.args or [])]
    else:
        known = entrypoint_argv(step.image, step.args or [])
        if known is None:
            message = (
                f'step "{name}" has neither script nor command, and the entrypoint of image '
                f"{step.image!r} is not known locally (known: {', '.join(known_images())}); "
                "add command: or script:"
            )
            return "failed", reasons.TR_FAILED, message, StepState.skipped(name, step.image or "")
        argv = known
    env = dict(attempt.pod.envs[index])  # envFrom, env and env valueFrom, resolved when the pod started
    env = step_hooks.runtime_env(env, attempt.dirs["/tekton/steps"])  # $(steps.S.results.R)
    env = artifacts.fill_env(attempt, name, env)  # $(steps.S.outputs.NAME) in env values
    env.setdefault("HOME", attempt.visible("/tekton/home"))
    working_dir = step.working_dir or "/workspace"
    _ensure_working_dir(attempt, working_dir)
    step_timeout = parse_duration(step.timeout, field=f"steps[{index}].timeout") if step.timeout else None
    limit = step_timeout.total_seconds() if step_timeout else None
    if deadline is not None:
        # Never 0: the process runner reads a zero timeout as none (Tekton's "0" means no timeout).
        remaining = max(0.001, deadline - attempt.env.clock.monotonic())
        limit = remaining if limit is None else min(limit, remaining)
    on_line = attempt.env.on_line
    mine = step_hooks.step_mounts(
        attempt.mounts, attempt.workspace_targets, step_hooks.isolated_workspaces(attempt.req.spec), step,
        dirs=attempt.dirs, names=step_names(attempt.req.spec), index=index, sandbox=attempt.env.sandbox,
    )  # fmt: skip
    launch = StepLaunch(
        argv=step_hooks.with_stdio(argv, step),
        env=env,
        working_dir=working_dir,
        mounts=with_applets([*mine, *attempt.pod.step_mounts[index]], attempt.env.run_dir, step.image),
        log_path=attempt.env.log_path(attempt.req.name, name),
        name=name,
        timeout_s=limit,
        run_as=attempt.run_as[index],
    )
    result = await run_with_breakpoints(  # plain run_step unless the TaskRun has debug breakpoints
        attempt,
        index,
        launch,
        deadline,
        cancel=attempt.cancel.event,
        on_line=(lambda line: on_line(attempt.req.name, name, line)) if on_line else None,
        clock=attempt.env.clock.now,
    )
    exit_dir = attempt.dirs["/tekton/steps"] / f"step-{name}"
    (exit_dir / "exitCode").write_text(str(result.exit_code))
    continued = result.exit_code != 0 and step.on_error == "continue" and result.reason == "Error"
    state = StepState(
        name=name,
        image=step.image or "",
        exit_code=result.exit_code,
        reason="Completed" if result.exit_code == 0 else result.reason,
        termination_reason="Continued" if continued else result.reason,
        started_at=result.started_at,
        finished_at=result.finished_at,
    )
    if result.reason == "Cancelled":
        # Stopped by the pipeline's timeout: Tekton counts that TaskRun as failed, not cancelled.
        phase: Phase = "timed_out" if attempt.cancel.reason == reasons.TR_TIMEOUT else "cancelled"
        return phase, attempt.cancel.reason, attempt.cancel.message, state
    if result.reason == "TimeoutExceeded":
        if deadline is not None and attempt.env.clock.monotonic() >= deadline - 0.05:
            timeout = format_duration(attempt.req.timeout or timedelta(0))
            return (
                "timed_out",
                reasons.TR_TIMEOUT,
                f'TaskRun "{attempt.req.name}" failed to finish within "{timeout}"',
                state,
            )
        return (
            "failed",
            reasons.TR_FAILED,
            f'"step-{name}" exited because the step timeout of {step.timeout} was exceeded',
            state,
        )
    if result.exit_code != 0 and not continued:
        return "failed", reasons.TR_FAILED, f'"step-{name}" exited with code {result.exit_code}', state
    return "succeeded", reasons.TR_SUCCEEDED, "", state


def _ensure_working_dir(attempt: Attempt, working_dir: str) -> None:
    """Tekton creates a step's workingDir; create it inside the mount it falls in (bwrap makes others)."""
    if working_dir in attempt.dirs:
        return
    for mount in sorted(attempt.mounts, key=lambda m: len(m.target), reverse=True):
        if working_dir == mount.target or working_dir.startswith(mount.target + "/"):
            if not mount.read_only:
                (mount.host / working_dir[len(mount.target) :].lstrip("/")).mkdir(parents=True, exist_ok=True)
            return
