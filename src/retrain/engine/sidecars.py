"""A TaskRun's sidecars: processes beside the steps in the same "pod", from before the first step to after
the last.

What each one runs and sees is planned in sidecar_plans.py. Each runs under the sandbox like a step
(process.run_step: its log, and on stop SIGTERM, TERM_GRACE_S, then SIGKILL of everything it started). The
steps wait until every sidecar is ready, as Tekton's SidecarsReady: Ready (its startup probe, then its
readiness probe, passed; without probes: running), or terminated. Locally a sidecar that exits non-zero
before it is ready fails the TaskRun, where Tekton would start the steps anyway: those would only fail later
without saying why. Once the steps end, every sidecar is stopped and its state recorded (TaskRun
`status.sidecars`), whatever ended the steps.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from retrain.engine import reasons
from retrain.engine.applets import applets_mount
from retrain.engine.probes import Probe, ProbeResult, probe_once
from retrain.engine.process import StepLaunch, StepOutcome, run_step
from retrain.engine.sandbox import Mount, Sandbox
from retrain.engine.scripts import SCRIPTS_TARGET
from retrain.engine.security_context import sidecar_run_as
from retrain.engine.sidecar_plans import SidecarPlan, Try, plan_sidecar, sidecar_env, sidecar_names
from retrain.engine.volumes import PodVolume
from retrain.errors import RetrainError
from retrain.runs.status import SidecarState
from retrain.tekton.substitution import Replacements, substitute_model

if TYPE_CHECKING:
    from retrain.engine.taskrun_types import CancelSignal


__all__ = [
    "STARTED_S",
    "Sidecars",
    "sidecar_ending",
    "start_sidecars",
]

STARTED_S = 0.5
"""A sidecar without probes is ready once it has run this long (or ended): on a cluster the steps start only
after the controller has seen the sidecar's container running, which takes at least that long."""
_TAIL = 5


def start_sidecars(pod: Try, replacements: Replacements) -> Sidecars:
    """Start the try's sidecars (before its first step). A sidecar that cannot even be planned makes
    `wait_ready` fail the TaskRun with the reason, before any of them starts."""
    spec, env = pod.req.spec, pod.env
    on_line = env.on_line
    sidecars = Sidecars(
        env.sandbox,
        now=env.clock.now,
        monotonic=env.clock.monotonic,
        probe_logs=pod.root / "probes",
        on_line=(lambda container, line: on_line(pod.req.name, container, line)) if on_line else None,
    )
    isolated = {u.name for step in spec.steps for u in step.workspaces or []}
    isolated |= {u.name for sidecar in spec.sidecars or [] for u in sidecar.workspaces or []}
    workspaces: dict[str, Mount] = {}
    by_volume = dict(pod.pod.volumes)
    for name, ws in pod.req.workspaces.items():
        if ws.host is not None:  # an unbound optional workspace mounts nothing
            workspaces[name] = Mount(ws.host, pod.workspace_targets[name], ws.read_only)
            by_volume.setdefault(ws.volume, PodVolume(ws.volume, ws.host, ws.read_only))
    scripts_mount = Mount(pod.dirs[SCRIPTS_TARGET], SCRIPTS_TARGET)
    scripts = (pod.dirs[SCRIPTS_TARGET], scripts_mount, env.sandbox.visible_path(scripts_mount))
    plans: list[SidecarPlan] = []
    try:
        names = sidecar_names(spec.sidecars or [])
        for index, (name, sidecar) in enumerate(zip(names, spec.sidecars or [], strict=True)):
            substituted = substitute_model(sidecar, replacements)
            plans.append(
                plan_sidecar(
                    index,
                    name,
                    substituted,
                    env=sidecar_env(pod, substituted, f"sidecars[{index}]"),
                    scripts=scripts,
                    workspaces=workspaces,
                    isolated=isolated,
                    volumes=by_volume,
                    applets=applets_mount(env.run_dir, sidecar.image),
                    log_path=env.log_path(pod.req.name, f"sidecar-{name}"),
                )
            )
            run_as = sidecar_run_as(index, name, substituted, pod.req.pod.security_context, pod.req.name)
            if run_as is not None:  # its securityContext's user (checked with the steps': taskrun.py)
                plans[-1] = replace(plans[-1], launch=replace(plans[-1].launch, run_as=run_as))
    except RetrainError as exc:
        sidecars.refuse(str(exc))
        return sidecars
    sidecars.start(plans)
    return sidecars


@dataclass
class _Running:
    plan: SidecarPlan
    stop: asyncio.Event
    task: asyncio.Task[StepOutcome]
    started: datetime
    tail: deque[str] = field(default_factory=lambda: deque(maxlen=_TAIL))
    ready: bool = False


class Sidecars:
    """The running sidecars of one TaskRun try."""

    def __init__(
        self,
        sandbox: Sandbox,
        *,
        now: Callable[[], datetime],
        monotonic: Callable[[], float],
        probe_logs: Path,
        on_line: Callable[[str, str], None] | None = None,  # (container, line)
    ) -> None:
        self._sandbox, self._now, self._monotonic = sandbox, now, monotonic
        self._probe_logs, self._on_line = probe_logs, on_line
        self._running: list[_Running] = []
        self._refused: str | None = None

    def refuse(self, why: str) -> None:
        self._refused = why

    def start(self, plans: Sequence[SidecarPlan]) -> None:
        for plan in plans:
            running = _Running(plan, asyncio.Event(), None, self._now())  # type: ignore[arg-type]
            running.task = asyncio.ensure_future(self._run(running))
            self._running.append(running)

    async def _run(self, running: _Running) -> StepOutcome:
        def line(text: str) -> None:
            running.tail.append(text)
            if self._on_line is not None:
                self._on_line(running.plan.launch.name, text)

        return await run_step(
            running.plan.launch, self._sandbox, cancel=running.stop, on_line=line, clock=self._now
        )

    async def wait_ready(self, deadline: float | None, cancel: asyncio.Event) -> tuple[str, str] | None:
        """None once every sidecar is ready or ended with 0, else (failed|timed_out|cancelled, detail)."""
        if self._refused is not None:
            return "failed", self._refused
        waiters = {asyncio.ensure_future(self._ready(r)): r for r in self._running}
        cancelled = asyncio.ensure_future(cancel.wait())
        try:
            while any(not r.ready for r in self._running):
                remaining = None if deadline is None else max(0.0, deadline - self._monotonic())
                pending = {w for w, r in waiters.items() if not r.ready} | {
                    r.task for r in self._running if not r.ready
                }
                await asyncio.wait(
                    {*pending, cancelled}, timeout=remaining, return_when=asyncio.FIRST_COMPLETED
                )
                for running in self._running:
                    if running.ready:
                        continue
                    if running.task.done():
                        problem = self._ended_early(running)
                        if problem is not None:
                            return "failed", problem
                        running.ready = True  # terminated counts as ready (Tekton's SidecarsReady)
                for waiter, running in waiters.items():
                    if waiter.done() and not running.ready:
                        error = waiter.exception()
                        if error is not None:
                            return "failed", str(error)
                        running.ready = True
                if cancelled.done():
                    return "cancelled", ""
                if deadline is not None and self._monotonic() >= deadline:
                    late = [f'"{r.plan.name}"' for r in self._running if not r.ready]
                    return "timed_out", f"sidecar {', '.join(late)} never became ready"
            return None
        finally:
            cancelled.cancel()
            for waiter in waiters:
                waiter.cancel()

    def _ended_early(self, running: _Running) -> str | None:
        name = running.plan.name
        error = running.task.exception()
        if error is not None:
            return f'sidecar "{name}" could not start: {error}'
        outcome = running.task.result()
        if outcome.exit_code == 0:
            return None
        tail = "; ".join(running.tail) or "no output"
        return (
            f'sidecar "{name}" exited with code {outcome.exit_code} before it was ready (last output: {tail})'
        )

    async def _ready(self, running: _Running) -> None:
        """Returns once the sidecar is ready; raises RetrainError when its startup probe gives up."""
        plan = running.plan
        if plan.startup is None and plan.readiness is None:
            await asyncio.sleep(STARTED_S)
            return
        if plan.startup is not None:
            await self._probe_until(running, plan.startup, give_up=True)
        if plan.readiness is not None:
            await self._probe_until(running, plan.readiness, give_up=False)

    async def _probe_until(self, running: _Running, probe: Probe, *, give_up: bool) -> None:
        await asyncio.sleep(probe.initial_delay_s)
        failures = successes = 0
        while True:
            result = await probe_once(probe, lambda argv, limit: self._exec(running, argv, limit))
            successes, failures = (successes + 1, 0) if result.ok else (0, failures + 1)
            if successes >= probe.success_threshold:
                return
            if give_up and failures >= probe.failure_threshold:
                raise RetrainError(
                    f'sidecar "{running.plan.name}": its {probe.field.rsplit(".", 1)[-1]} failed '
                    f"{failures} times in a row (failureThreshold {probe.failure_threshold}): {result.detail}"
                )
            await asyncio.sleep(probe.period_s)

    async def _exec(self, running: _Running, argv: Sequence[str], limit: float) -> ProbeResult:
        """An exec probe: its command in a sandbox with the sidecar's mounts, environment and directory."""
        launch = running.plan.launch
        lines: deque[str] = deque(maxlen=_TAIL)
        probe = StepLaunch(
            argv=list(argv),
            env=launch.env,
            working_dir=launch.working_dir,
            mounts=launch.mounts,
            log_path=self._probe_logs / f"{launch.name}.log",
            timeout_s=limit,
            name=f"{launch.name} probe",
            run_as=launch.run_as,  # an exec probe runs in its container, as its user
        )
        outcome = await run_step(
            probe, self._sandbox, cancel=asyncio.Event(), on_line=lines.append, clock=self._now
        )
        said = f" ({'; '.join(lines)})" if lines else ""
        if outcome.reason == "TimeoutExceeded":
            return ProbeResult(False, f"{' '.join(argv)} did not finish within {limit:g}s{said}")
        return ProbeResult(
            outcome.exit_code == 0, f"{' '.join(argv)} exited with code {outcome.exit_code}{said}"
        )

    async def stop(self) -> tuple[SidecarState, ...]:
        """Stop every sidecar (SIGTERM, grace, SIGKILL) and return their final states, in spec order."""
        for running in self._running:
            running.stop.set()
        states: list[SidecarState] = []
        for running in self._running:
            plan = running.plan
            try:
                outcome = await asyncio.shield(running.task)
            except asyncio.CancelledError:
                # The TaskRun itself is being cancelled (Ctrl-C): still wait until every sidecar is gone.
                for other in self._running:
                    with contextlib.suppress(BaseException):
                        await other.task
                raise
            except Exception as exc:  # it never started: say why in its state
                states.append(
                    SidecarState(
                        plan.name, plan.image, 128, "StartError", running.started, self._now(), str(exc)
                    )
                )
                continue
            message = "stopped after the steps ended" if outcome.reason == "Cancelled" else ""
            reason = "Completed" if outcome.exit_code == 0 else "Error"
            states.append(
                SidecarState(
                    plan.name,
                    plan.image,
                    outcome.exit_code,
                    reason,
                    outcome.started_at,
                    outcome.finished_at,
                    message,
                )
            )
        return tuple(states)


Ending = tuple[Literal["failed", "timed_out", "cancelled"], str, str]


def sidecar_ending(kind: str, detail: str, taskrun: str, timeout: str, cancel: CancelSignal) -> Ending:
    """(phase, reason, message) of a TaskRun whose sidecars were not ready (see Sidecars.wait_ready)."""
    if kind == "cancelled":
        # Stopped by the pipeline's timeout: Tekton counts that TaskRun as failed, not cancelled.
        timed_out = cancel.reason == reasons.TR_TIMEOUT
        return ("timed_out" if timed_out else "cancelled"), cancel.reason, cancel.message
    if kind == "timed_out":
        return (
            "timed_out",
            reasons.TR_TIMEOUT,
            f'TaskRun "{taskrun}" failed to finish within "{timeout}": {detail}',
        )
    return "failed", reasons.TR_FAILED, detail
