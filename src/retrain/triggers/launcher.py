"""The launcher: the one way the service starts a training run (webhooks, the API and the scheduler).

`launch` submits the request's PipelineRun and asks the run's concurrency policy *now*, so that the caller
can answer honestly: started (202), queued behind another run of the model (202, "queued"), or refused by
the policy (409; the store ends the run Failed with reason Refused, visible in `retrain runs list`). A run
that may start or wait is then executed by an asyncio task on the service's loop: the engine finds it
already admitted, or waits its turn in the queue.

`shutdown` stops accepting (launch raises TemporaryError, HTTP 503), cancels runs still waiting in a queue,
lets running ones finish for up to `grace_s`, then cancels them, and makes sure that no run it started is
left Pending or Running in the store.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from retrain.app.requests import TrainingRequest, check_request, local_pipelinerun
from retrain.engine.engine import Engine, RunResult, Submission
from retrain.engine.pipelinerun import RunControl
from retrain.engine.scheduler import StopMode
from retrain.errors import Conflict, NotFound, TemporaryError
from retrain.runs.admission import admit
from retrain.runs.records import FINISHED_STATES, utcnow, with_outcome

log = logging.getLogger(__name__)

Outcome = Literal["started", "queued", "refused", "ignored"]
STOPPED_REASON = "ServiceStopped"


@dataclass(frozen=True)
class Launch:
    outcome: Outcome
    run: str | None
    reason: str


@dataclass(frozen=True)
class HookResult:
    """What a webhook receiver did with one event: the runs it launched (maybe none) and why."""

    launches: tuple[Launch, ...]
    reason: str


LaunchFn = Callable[[TrainingRequest], Awaitable[Launch]]
FinishedHook = Callable[[RunResult], Awaitable[None] | None]


@dataclass
class _Active:
    sub: Submission
    control: RunControl
    task: asyncio.Task[RunResult | None]


class Launcher:
    def __init__(
        self,
        engine: Engine,
        registry: Path,
        *,
        cwd: Path | None = None,
        on_finished: FinishedHook | None = None,
        cancel_wait_s: float = 15.0,
    ) -> None:
        self.engine = engine
        self.registry = Path(registry)
        self.cwd = Path(cwd) if cwd is not None else Path.cwd()  # relative notebook paths start here
        self.on_finished = on_finished
        self._cancel_wait_s = cancel_wait_s
        self._active: dict[str, _Active] = {}
        self._closing = False
        self._idle = asyncio.Event()
        self._idle.set()

    @property
    def accepting(self) -> bool:
        return not self._closing

    @property
    def active(self) -> list[str]:
        """Names of the runs this launcher is executing (running or queued), oldest first."""
        return list(self._active)

    async def launch(self, req: TrainingRequest) -> Launch:
        """Submit the request's run and decide its admission now; execute it in the background.

        Nothing here awaits before the run's task exists, so `shutdown` never falls between the check that
        the launcher accepts runs and the task it must then wait for."""
        self._refuse_if_closing()
        check_request(req)  # InvalidInput before anything is recorded
        pipeline = self.engine.catalog.pipeline(req.pipeline)
        run, host_dirs = local_pipelinerun(req, pipeline, self.registry, cwd=self.cwd)
        # On the loop, not in worker threads: a submit and its admission take about 2 ms together, and
        # threads contending for the store's lock with the engine's own polling on this loop made every
        # launch wait for GIL hand-offs (10 ms each under a flood of deliveries).
        sub = self.engine.submit(run, host_dirs=host_dirs)
        return self._admit_and_start(sub, f"{req.trigger}, model {req.model}")

    async def relaunch(self, run: str, *, from_failed: bool) -> Launch:
        """Re-run a recorded run (`retrain runs rerun`): with `from_failed`, the tasks that succeeded keep
        their results. The new run goes through the same concurrency policy as any other."""
        from retrain.app.runs import RerunRequest, prepare_rerun

        self._refuse_if_closing()
        sub = prepare_rerun(self.engine, RerunRequest(run, from_failed=from_failed))
        return self._admit_and_start(sub, f"re-run of {run}")

    def _admit_and_start(self, sub: Submission, what: str) -> Launch:
        if sub.concurrency is None:
            decision, reason = "start", "no concurrency policy"
        else:
            admission = admit(self.engine.store, sub.name, sub.concurrency)
            decision, reason = admission.decision, admission.reason
        if decision == "refused":
            log.info("run %s refused: %s", sub.name, reason)
            return Launch("refused", sub.name, reason)
        control = RunControl()
        task = asyncio.create_task(self._execute(sub, control), name=f"run:{sub.name}")
        self._active[sub.name] = _Active(sub, control, task)
        self._idle.clear()
        outcome: Outcome = "started" if decision == "start" else "queued"
        log.info("run %s %s (%s): %s", sub.name, outcome, what, reason)
        return Launch(outcome, sub.name, reason)

    async def wait_idle(self, timeout_s: float | None = None) -> bool:
        """Wait until no run of this launcher is active; False when `timeout_s` passed first."""
        try:
            await asyncio.wait_for(self._idle.wait(), timeout_s)
        except TimeoutError:
            return False
        return True

    async def shutdown(self, grace_s: float) -> None:
        """Stop accepting; cancel queued runs; wait up to `grace_s` for running ones, then cancel them."""
        self._closing = True
        for name in self._queued():
            self._cancel_quietly(name)
        pending = self._tasks()
        if pending and grace_s > 0:
            log.info("waiting up to %gs for %d run(s) to finish", grace_s, len(pending))
            await asyncio.wait(pending, timeout=grace_s)
        pending = self._tasks()
        if pending:
            log.warning("cancelling %d run(s) still active after the grace period", len(pending))
            await self.cancel_all("CancelledRunFinally")
        for name in list(self._active):
            self._fail_if_active(name, "the service stopped before the run finished")

    async def cancel_all(self, mode: StopMode = "Cancelled") -> None:
        """Cancel every active run, waiting a bounded time for them to end. `CancelledRunFinally` (after the
        grace period) lets their `finally` tasks run first; whatever is still active then, or on a second
        Ctrl-C (`Cancelled`), is cancelled outright."""
        for name, active in list(self._active.items()):
            active.control.local_mode = mode
            active.control.local.set()
            self._cancel_quietly(name, mode)
        pending = self._tasks()
        if pending:
            await asyncio.wait(pending, timeout=self._cancel_wait_s)
        if mode != "Cancelled" and self._tasks():
            await self.cancel_all("Cancelled")
            return
        for active in list(self._active.values()):  # stuck: cancel the asyncio task itself
            if not active.task.done():
                active.task.cancel()
        pending = self._tasks()
        if pending:
            await asyncio.wait(pending, timeout=5.0)

    # -- internals ----------------------------------------------------------------------------------------

    async def _execute(self, sub: Submission, control: RunControl) -> RunResult | None:
        result: RunResult | None = None
        try:
            try:
                result = await self.engine.execute(sub, control)
                log.info("run %s finished: %s %s", sub.name, result.reason, result.message)
            except asyncio.CancelledError:
                self._fail_if_active(sub.name, "the service cancelled the run while it was active")
                raise
            except Exception:  # a fault of ours must not leave the run Running forever
                log.exception("run %s failed inside the service", sub.name)
                self._fail_if_active(sub.name, "the service failed while running it; see the service log")
            if result is not None:
                # The summary and the notification belong to the run: `wait_idle` waits for them too.
                await self._summarize(sub.name)
                await self._finished(result)
        finally:
            self._active.pop(sub.name, None)
            if not self._active:
                self._idle.set()
        return result

    async def _finished(self, result: RunResult) -> None:
        if self.on_finished is None:
            return
        try:
            done = self.on_finished(result)
            if inspect.isawaitable(done):
                await done
        except Exception:  # a notification problem never changes the run
            log.exception("on_finished hook failed for run %s", result.name)

    async def _summarize(self, name: str) -> None:
        """What a finished training run really left behind (read back from the store, the registry and the
        endpoint): logged, and recorded as the run's `Summary` event for `runs show`, the API and the
        notifications. A summary that cannot be made is logged and changes nothing."""
        from retrain.app.trigger import record_summary, summarize

        try:
            if "retrain.dev/model" not in self.engine.store.get_run(name).labels:
                return  # not a training run: there is no version to speak of
            summary = await asyncio.to_thread(summarize, self.engine.store, self.registry, name)
            ok = summary.ok
            log.log(logging.INFO if ok else logging.WARNING, "run %s: %s", name, summary.headline)
            record_summary(self.engine.store, summary)
        except Exception:  # a summary problem never changes the run
            log.exception("could not summarize run %s", name)

    def _tasks(self) -> set[asyncio.Task[RunResult | None]]:
        return {a.task for a in self._active.values() if not a.task.done()}

    def _queued(self) -> list[str]:
        names = []
        for name in self._active:
            with contextlib.suppress(NotFound):
                if self.engine.store.get_run(name).state == "Pending":
                    names.append(name)
        return names

    def _cancel_quietly(self, name: str, mode: StopMode = "Cancelled") -> None:
        with contextlib.suppress(Conflict, NotFound):  # already ended: nothing to cancel
            self.engine.store.request_cancel(name, mode)

    def _fail_if_active(self, name: str, message: str) -> None:
        store = self.engine.store
        try:
            record = store.get_run(name)
            if record.state in FINISHED_STATES:
                return
            status = with_outcome(record.status, reason=STOPPED_REASON, message=message, at=utcnow())
            store.update_run(name, state="Failed", reason=STOPPED_REASON, status=status, completed=True)
        except (Conflict, NotFound):
            return

    def _refuse_if_closing(self) -> None:
        if self._closing:
            raise TemporaryError(
                "the service is shutting down and starts no more runs",
                retry_after_s=30.0,
                hint="send the request again once the service has restarted",
            )
