"""Executes one TaskRun on this machine: its steps in order, with retries, timeouts, results and status.

The steps are local processes in a sandbox that gives them Tekton's container paths (see sandbox.py). The
outcome carries a Tekton-shaped TaskRun status; persisting it is the caller's business (`on_status`).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from pathlib import Path
from typing import Any, Literal

from retrain.engine import artifacts, reasons, security_context, step_hooks
from retrain.engine.applets import with_applets
from retrain.engine.backoff import NO_BACKOFF, Backoff
from retrain.engine.clock import Clock
from retrain.engine.feature_flags import DEFAULT_FLAGS, FeatureFlags
from retrain.engine.images import entrypoint_argv, known_images
from retrain.engine.mounts import attempt_dir, write_mounts
from retrain.engine.params import fill_params, param_replacements
from retrain.engine.pod import CONFIG_ERROR, NO_POD, PodSpec, start_pod
from retrain.engine.process import StepLaunch, run_step
from retrain.engine.result_limits import is_size_error, result_size_error
from retrain.engine.sandbox import Mount, Sandbox
from retrain.engine.scripts import materialize_script
from retrain.engine.sidecars import sidecar_ending, start_sidecars
from retrain.engine.workspaces import BoundWorkspace
from retrain.errors import InvalidInput
from retrain.runs.status import Condition, SidecarState, StepState, TaskRunResult, TaskRunStatus
from retrain.tekton.durations import format_duration, parse_duration
from retrain.tekton.model import ParamValue, Step, StepActionSpec, TaskSpec
from retrain.tekton.substitution import Replacements

Phase = Literal["succeeded", "failed", "cancelled", "timed_out"]


@dataclass
class CancelSignal:
    """Set by the pipeline (or Ctrl-C) to stop a TaskRun; carries the reason and message Tekton would give."""

    event: asyncio.Event = field(default_factory=asyncio.Event)
    reason: str = reasons.TR_CANCELLED
    message: str = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."

    def fire(self, reason: str, message: str) -> None:
        if not self.event.is_set():
            self.reason, self.message = reason, message
            self.event.set()


@dataclass(frozen=True)
class TaskRunRequest:
    name: str
    spec: TaskSpec
    params: Mapping[str, ParamValue]
    workspaces: Mapping[str, BoundWorkspace]
    context: Mapping[str, str]  # "context.pipelineRun.name" -> value, ...
    timeout: timedelta | None  # None or 0: no timeout
    retries: int = 0
    backoff: Backoff = NO_BACKOFF
    manifest: Mapping[str, Any] = field(default_factory=dict)  # metadata/spec for the status document
    ignore_failure: bool = False  # the pipeline task has `onError: continue`: a failure is FailureIgnored
    pod: PodSpec = NO_POD  # Kubernetes objects, ServiceAccount, podTemplate volumes (pod.py)
    step_actions: Mapping[str, StepActionSpec] = field(default_factory=dict)  # what step refs name


@dataclass(frozen=True)
class TaskRunOutcome:
    name: str
    phase: Phase
    reason: str
    message: str
    results: dict[str, ParamValue]
    status: dict[str, Any]
    retries: int


@dataclass(frozen=True)
class ExecEnv:
    sandbox: Sandbox
    clock: Clock
    run_dir: Path  # the run's own directory; nothing is written outside it
    log_path: Callable[[str, str], Path]  # (taskrun, step) -> log file
    on_status: Callable[[str, dict[str, Any]], None] = lambda name, status: None
    on_line: Callable[[str, str, str], None] | None = None  # (taskrun, step, line)
    flags: FeatureFlags = DEFAULT_FLAGS  # the run's feature-flags (results-from, max-result-size, ...)


def step_names(spec: TaskSpec) -> list[str]:
    return [s.name or f"unnamed-{i}" for i, s in enumerate(spec.steps)]


def merge_step_template(spec: TaskSpec) -> list[Step]:
    """Tekton's MergeStepsWithStepTemplate: unset step fields come from the template; env merges by name."""
    if spec.step_template is None:
        return list(spec.steps)
    template = spec.step_template.model_dump(exclude_none=True)
    merged: list[Step] = []
    for step in spec.steps:
        own = step.model_dump(exclude_none=True)
        combined = {**template, **own}
        if "env" in template and "env" in own:
            env = {e["name"]: e for e in template["env"]}
            env.update({e["name"]: e for e in own["env"]})
            combined["env"] = list(env.values())
        if "volume_mounts" in template and "volume_mounts" in own:  # merged by mountPath, as Tekton does
            mounts = {m.get("mountPath"): m for m in template["volume_mounts"]}
            mounts.update({m.get("mountPath"): m for m in own["volume_mounts"]})
            combined["volume_mounts"] = list(mounts.values())
        if "security_context" in template and "security_context" in own:  # field by field, as Tekton
            combined["security_context"] = security_context.merge_contexts(
                template["security_context"], own["security_context"]
            )
        merged.append(Step.model_validate(combined))
    return merged


class _Attempt:
    """One try of a TaskRun: one 'pod'. Retries get a fresh one, as Tekton creates a fresh pod."""

    def __init__(self, req: TaskRunRequest, env: ExecEnv, retry: int, cancel: CancelSignal) -> None:
        self.req, self.env, self.retry, self.cancel = req, env, retry, cancel
        self.root = attempt_dir(env.run_dir, req.name, retry)
        self.dirs = {
            "/workspace": self.root / "workspace",
            "/tekton/home": self.root / "home",
            "/tekton/results": self.root / "results",
            "/tekton/scripts": self.root / "scripts",
            "/tekton/steps": self.root / "steps",
            "/tekton/run": self.root / "run",
            "/tekton/creds": self.root / "creds",  # creds-init's CredsDir, always there as in a pod
        }
        for d in self.dirs.values():
            d.mkdir(parents=True, exist_ok=True)
        self.mounts: list[Mount] = [Mount(host, target) for target, host in self.dirs.items()]
        decls = {d.name: d for d in req.spec.workspaces}
        self.workspace_targets: dict[str, str] = {}
        for name, ws in req.workspaces.items():
            decl = decls.get(name)
            target = (decl.mount_path if decl and decl.mount_path else None) or f"/workspace/{name}"
            self.workspace_targets[name] = target
            if ws.host is not None:
                self.mounts.append(Mount(ws.host, target, read_only=ws.read_only))
        write_mounts(self.root, self.mounts)  # so that reports can show host paths for this try's paths
        self.sidecar_states: tuple[SidecarState, ...] = ()

    def visible(self, target: str) -> str:
        """The path the step must be told for a container path under one of the mounts."""
        best = max(
            (m for m in self.mounts if target == m.target or target.startswith(m.target + "/")),
            key=lambda m: len(m.target),
            default=None,
        )
        if best is None:
            return target
        return self.env.sandbox.visible_path(best) + target[len(best.target) :]

    def replacements(self) -> Replacements:
        strings: dict[str, str] = dict(self.req.context)
        strings["context.task.retry-count"] = str(self.retry)
        strings["context.taskRun.retry-count"] = str(self.retry)
        strings["credentials.path"] = self.visible("/tekton/creds")
        for name, ws in self.req.workspaces.items():
            target = self.workspace_targets[name]
            strings[f"workspaces.{name}.path"] = self.visible(target) if ws.host else ""
            strings[f"workspaces.{name}.bound"] = "true" if ws.bound else "false"
            strings[f"workspaces.{name}.claim"] = ws.claim
            strings[f"workspaces.{name}.volume"] = ws.volume
        for result in self.req.spec.results:
            strings[f"results.{result.name}.path"] = self.visible(f"/tekton/results/{result.name}")
        for index, name in enumerate(step_names(self.req.spec)):
            exit_file = self.visible(f"/tekton/steps/step-{name}/exitCode")
            strings[f"steps.step-{name}.exitCode.path"] = exit_file
            strings[f"steps.{name}.exitCode.path"] = exit_file
            (self.dirs["/tekton/steps"] / f"step-{name}").mkdir(exist_ok=True)
            alias = self.dirs["/tekton/steps"] / str(index)  # Tekton links /tekton/steps/<index> too
            if not alias.is_symlink():
                alias.symlink_to(f"step-{name}")
        others = Replacements(strings=strings)
        # Tekton applies params first, then contexts, results, step exit codes and workspaces, so a param
        # value (a default such as "$(context.taskRun.name)" or "$(workspaces.src.path)/x") gets them too.
        return param_replacements(fill_params(self.req.params, others)).merged(others)

    async def run(self, deadline: float | None) -> tuple[Phase, str, str, list[StepState]]:
        replacements = self.replacements()
        names = step_names(self.req.spec)
        try:  # StepActions expanded, the stepTemplate merged, each step's own result and workspace paths
            spec, steps = step_hooks.expanded_steps(
                self.req.spec, self.req.step_actions, self.req.params, replacements, merge_step_template,
                names=names, visible=self.visible, bwrap=self.env.sandbox.mode == "bwrap",
                workspace_targets=self.workspace_targets, steps_dir=self.dirs["/tekton/steps"],
            )  # fmt: skip
        except step_hooks.StepActionError as exc:
            skipped = [StepState.skipped(n, "") for n in names]
            return "failed", step_hooks.TR_RESOLUTION_FAILED, str(exc), skipped
        states: list[StepState] = []
        try:  # pod volumes, env from objects, credentials: a config error stops the pod before any step
            home = self.dirs["/tekton/home"]
            self.pod = start_pod(
                self.req.pod, self.req.spec, steps, replacements, root=self.root, run_dir=self.env.run_dir,
                home=home, pod_name=f"{self.req.name}-pod",
            )  # fmt: skip
            self.run_as = security_context.identities_for_try(  # runAsUser, ...: checked, warned once
                steps, self.req.spec.sidecars or [], self.req.pod.security_context, replacements,
                taskrun=self.req.name, sandbox=self.env.sandbox, warn=self.retry == 0,
            )  # fmt: skip
        except InvalidInput as exc:
            skipped = [StepState.skipped(n, s.image or "") for s, n in zip(steps, names, strict=True)]
            return "failed", CONFIG_ERROR, str(exc), skipped
        self.mounts += self.pod.mounts  # /tekton/creds, in every container
        outcome: tuple[Phase, str, str] = (
            "succeeded",
            reasons.TR_SUCCEEDED,
            "All Steps have completed executing",
        )
        pod = start_sidecars(self, replacements) if self.req.spec.sidecars else None
        try:
            if pod is not None:  # the steps wait until every sidecar is ready
                not_ready = await pod.wait_ready(deadline, self.cancel.event)
                if not_ready is not None:
                    timeout = format_duration(self.req.timeout or timedelta(0))
                    outcome = sidecar_ending(*not_ready, self.req.name, timeout, self.cancel)
            for index, (step, name) in enumerate(zip(steps, names, strict=True)):
                if outcome[0] != "succeeded":
                    states.append(StepState.skipped(name, step.image or ""))
                    continue
                ready = step_hooks.runtime_step_references(step, self.dirs["/tekton/steps"])
                if ready.when and not step_hooks.when_allows(ready):
                    step_dir = self.dirs["/tekton/steps"] / f"step-{name}"
                    states.append(step_hooks.skipped_by_when(name, ready, step_dir, self.env.clock.now()))
                    continue
                phase, reason, message, state = await self._run_step(index, name, ready, deadline)
                state = step_hooks.with_step_results(state, ready, self.dirs["/tekton/steps"])
                states.append(state)
                if phase != "succeeded":
                    outcome = (phase, reason, message)
        finally:
            if pod is not None:  # whatever ended the steps, no sidecar outlives its TaskRun
                self.sidecar_states = await pod.stop()
        step_hooks.task_results_from_steps(spec, self.dirs["/tekton/steps"], self.dirs["/tekton/results"])
        return (*outcome, states)

    async def _run_step(
        self, index: int, name: str, step: Step, deadline: float | None
    ) -> tuple[Phase, str, str, StepState]:
        step = artifacts.prepare_step(self, name, step)  # $(step.artifacts.path), earlier steps' artifacts
        if step.script is not None:
            _, argv = materialize_script(
                step.script,
                self.dirs["/tekton/scripts"],
                index,
                name,
                visible_dir=self.visible("/tekton/scripts"),
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
        env = dict(self.pod.envs[index])  # envFrom, env and env valueFrom, resolved when the pod started
        env = step_hooks.runtime_env(env, self.dirs["/tekton/steps"])  # $(steps.S.results.R)
        env = artifacts.fill_env(self, name, env)  # $(steps.S.outputs.NAME) in env values
        env.setdefault("HOME", self.visible("/tekton/home"))
        working_dir = step.working_dir or "/workspace"
        self._ensure_working_dir(working_dir)
        step_timeout = parse_duration(step.timeout, field=f"steps[{index}].timeout") if step.timeout else None
        limit = step_timeout.total_seconds() if step_timeout else None
        if deadline is not None:
            # Never 0: the process runner reads a zero timeout as none (Tekton's "0" means no timeout).
            remaining = max(0.001, deadline - self.env.clock.monotonic())
            limit = remaining if limit is None else min(limit, remaining)
        on_line = self.env.on_line
        mine = step_hooks.step_mounts(
            self.mounts, self.workspace_targets, step_hooks.isolated_workspaces(self.req.spec), step,
            dirs=self.dirs, names=step_names(self.req.spec), index=index, sandbox=self.env.sandbox,
        )  # fmt: skip
        launch = StepLaunch(
            argv=step_hooks.with_stdio(argv, step),
            env=env,
            working_dir=working_dir,
            mounts=with_applets([*mine, *self.pod.step_mounts[index]], self.env.run_dir, step.image),
            log_path=self.env.log_path(self.req.name, name),
            name=name,
            timeout_s=limit,
            run_as=self.run_as[index],
        )
        result = await run_step(
            launch,
            self.env.sandbox,
            cancel=self.cancel.event,
            on_line=(lambda line: on_line(self.req.name, name, line)) if on_line else None,
            clock=self.env.clock.now,
        )
        exit_dir = self.dirs["/tekton/steps"] / f"step-{name}"
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
            phase: Phase = "timed_out" if self.cancel.reason == reasons.TR_TIMEOUT else "cancelled"
            return phase, self.cancel.reason, self.cancel.message, state
        if result.reason == "TimeoutExceeded":
            if deadline is not None and self.env.clock.monotonic() >= deadline - 0.05:
                timeout = format_duration(self.req.timeout or timedelta(0))
                return (
                    "timed_out",
                    reasons.TR_TIMEOUT,
                    f'TaskRun "{self.req.name}" failed to finish within "{timeout}"',
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

    def _ensure_working_dir(self, working_dir: str) -> None:
        """Tekton creates a step's workingDir; create it inside the mount it falls in (bwrap makes others)."""
        if working_dir in self.dirs:
            return
        for mount in sorted(self.mounts, key=lambda m: len(m.target), reverse=True):
            if working_dir == mount.target or working_dir.startswith(mount.target + "/"):
                if not mount.read_only:
                    (mount.host / working_dir[len(mount.target) :].lstrip("/")).mkdir(
                        parents=True, exist_ok=True
                    )
                return

    def collect_results(self) -> tuple[dict[str, ParamValue], str | None]:
        """Read declared results; returns (results, error message or None)."""
        results: dict[str, ParamValue] = {}
        raw_results: dict[str, bytes] = {}
        for declared in self.req.spec.results:
            path = self.dirs["/tekton/results"] / declared.name
            if not path.is_file():
                continue
            raw = path.read_bytes()
            raw_results[declared.name] = raw
            text = raw.decode("utf-8", errors="replace")
            kind = declared.effective_type
            if kind == "string":
                results[declared.name] = text
                continue
            try:
                value = json.loads(text)
            except json.JSONDecodeError as exc:
                return results, f'result "{declared.name}" is declared as {kind} but is not valid JSON: {exc}'
            ok = (kind == "array" and isinstance(value, list)) or (
                kind == "object" and isinstance(value, dict)
            )
            if not ok:
                return (
                    results,
                    f'result "{declared.name}" is declared as {kind} but holds {type(value).__name__}',
                )
            results[declared.name] = (
                [str(v) for v in value]
                if isinstance(value, list)
                else {str(k): str(v) for k, v in value.items()}
            )
        return results, result_size_error(self.env.flags, self.req.name, raw_results)


def _result_list(spec: TaskSpec, results: Mapping[str, ParamValue]) -> tuple[TaskRunResult, ...]:
    types = {r.name: r.effective_type for r in spec.results}
    return tuple(TaskRunResult(k, types.get(k, "string"), v) for k, v in results.items())


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
        attempt = _Attempt(attempt_req, env, retry, cancel)
        phase, reason, message, steps = await attempt.run(min(limits) if limits else None)
        results, result_error = attempt.collect_results()
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
            results=_result_list(req.spec, results),
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


def taskrun_dir(run_dir: Path, name: str) -> Path:
    return run_dir / "taskruns" / name
