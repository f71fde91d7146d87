"""Executes one TaskRun on this machine: its tries in order, with retries, backoff, timeouts and status.

The steps are local processes in a sandbox that gives them Tekton's container paths (see sandbox.py). One
try is attempt.py; the types a TaskRun is run with are taskrun_types.py. The outcome carries a
Tekton-shaped TaskRun status; persisting it is the caller's business (`on_status`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from retrain.engine import artifacts, reasons, step_hooks
from retrain.engine.attempt import Attempt
from retrain.engine.clock import Clock
from retrain.engine.result_limits import is_size_error
from retrain.engine.task_results import collect_results, result_list
from retrain.engine.taskrun_types import CancelSignal, ExecEnv, TaskRunOutcome, TaskRunRequest
from retrain.runs.status import Condition, TaskRunStatus


async def execute_taskrun(
    req: TaskRunRequest, env: ExecEnv, cancel: CancelSignal, *, deadline: float | None = None
) -> TaskRunOutcome:
    """Run a TaskRun to completion, retrying as asked. `deadline` (monotonic) bounds it from outside."""
    clock = env.clock
    started = clock.now()
    tries: list[TaskRunStatus] = []  # the tries that failed and were retried (retriesStatus)
    spec_doc = step_hooks.status_spec(req.spec, req.step_actions, req.params).model_dump(
        by_alias=True, exclude_none=True
    )  # with StepActions resolved, as Tekton stores it
    running = Condition(
        "Unknown", reasons.TR_RUNNING, "Not all Steps in the Task have finished executing", started
    )
    env.on_status(req.name, TaskRunStatus(f"{req.name}-pod", spec_doc, running, started).render())
    retry = 0
    while True:
        attempt_started = clock.now()
        own_deadline = None  # every try gets the whole timeout: Tekton resets startTime for a retry
        if req.timeout and req.timeout.total_seconds() > 0:
            own_deadline = clock.monotonic() + req.timeout.total_seconds()
        attempt_req = req
        if deadline is not None and (own_deadline is None or deadline < own_deadline):
            # As Tekton does for a pipeline's TaskRuns: the timeout is what the pipeline has left (messages).
            attempt_req = replace(req, timeout=timedelta(seconds=max(0.0, deadline - clock.monotonic())))
        limits = [d for d in (own_deadline, deadline) if d is not None]
        attempt = Attempt(attempt_req, env, retry, cancel)
        if req.breakpoints is not None:  # a paused step says so in the Running condition (breakpoints.py)
            attempt.on_pause = _pause_status(req, env, spec_doc, started, tuple(tries))
        phase, reason, message, steps = await attempt.run(min(limits) if limits else None)
        results, result_error = collect_results(attempt)
        if phase == "succeeded" and result_error is not None:
            phase, reason, message = (
                "failed",
                (reasons.TR_RESULT_TOO_LARGE if is_size_error(result_error) else reasons.TR_FAILED),
                result_error,
            )
        finished = clock.now()
        this_try = TaskRunStatus(
            pod_name=f"{req.name}-pod" + (f"-retry{retry}" if retry else ""),
            task_spec=spec_doc,
            condition=Condition("False", reason, message, finished),
            start_time=attempt_started,
            completion_time=finished,
            steps=tuple(steps),
            results=result_list(req.spec, results),
            sidecars=attempt.sidecar_states,
        )
        retryable = phase in ("failed", "timed_out") and retry < req.retries and not cancel.event.is_set()
        if not retryable:
            if phase == "failed" and req.ignore_failure:  # Tekton marks the TaskRun itself FailureIgnored
                reason = reasons.TR_FAILURE_IGNORED
            outcome = Condition("True" if phase == "succeeded" else "False", reason, message, finished)
            final = replace(this_try, condition=outcome, start_time=started, retries=tuple(tries))
            status = artifacts.add_to_status(final.render(), attempt)
            env.on_status(req.name, status)
            return TaskRunOutcome(req.name, phase, reason, message, results, status, retry)
        tries.append(this_try)
        retry += 1
        delay = req.backoff.delay(retry)
        waiting = Condition(
            "Unknown",
            reasons.TR_TO_BE_RETRIED,
            f"{message} (retry {retry} of {req.retries} in {delay:g}s)",
            finished,
        )
        pending = TaskRunStatus(f"{req.name}-pod", spec_doc, waiting, started, retries=tuple(tries))
        env.on_status(req.name, pending.render())
        if delay > 0:
            await _sleep_unless_cancelled(clock, delay, cancel)
        if cancel.event.is_set():
            now = clock.now()
            cancelled = replace(
                pending, condition=Condition("False", cancel.reason, cancel.message, now), completion_time=now
            )
            status = cancelled.render()
            env.on_status(req.name, status)
            return TaskRunOutcome(req.name, "cancelled", cancel.reason, cancel.message, {}, status, retry)


async def _sleep_unless_cancelled(clock: Clock, seconds: float, cancel: CancelSignal) -> None:
    sleeper = asyncio.ensure_future(clock.sleep(seconds))
    waiter = asyncio.ensure_future(cancel.event.wait())
    done, pending = await asyncio.wait({sleeper, waiter}, return_when=asyncio.FIRST_COMPLETED)
    for task in pending:
        task.cancel()
    del done


def _pause_status(
    req: TaskRunRequest,
    env: ExecEnv,
    spec_doc: dict[str, Any],
    started: datetime,
    tries: tuple[TaskRunStatus, ...],
) -> Callable[[str | None], None]:
    """The Running status a paused step records: its message says how to resume (None: as before)."""

    def note(message: str | None) -> None:
        text = message or "Not all Steps in the Task have finished executing"
        cond = Condition("Unknown", reasons.TR_RUNNING, text, env.clock.now())
        env.on_status(
            req.name, TaskRunStatus(f"{req.name}-pod", spec_doc, cond, started, retries=tries).render()
        )

    return note


def taskrun_dir(run_dir: Path, name: str) -> Path:
    return run_dir / "taskruns" / name
