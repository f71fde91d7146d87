"""Runs a PipelineRun: feeds facts to the scheduler, starts TaskRuns, enforces timeouts and cancellation.

What one pipeline task's TaskRuns are is task_requests.py; folding their outcomes into the run's state and
status is pipelinerun_status.py; the request and outcome types are pipelinerun_types.py.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from typing import Any

from retrain.engine import child_pipelines, reasons
from retrain.engine.params import param_replacements
from retrain.engine.pipelinerun_status import pipeline_results, record_outcomes, run_status
from retrain.engine.pipelinerun_types import PipelineRunOutcome, PipelineRunRequest, RunControl
from retrain.engine.reasons import RunRejected
from retrain.engine.scheduler import Facts, StopMode, TaskState, Timeout, decide, result_replacements
from retrain.engine.task_requests import taskrun_requests
from retrain.engine.taskrun import execute_taskrun
from retrain.engine.taskrun_types import CancelSignal, ExecEnv, TaskRunOutcome
from retrain.engine.whens import all_true
from retrain.runs.status import ChildReference, SkippedTask
from retrain.tekton.cel import CelError
from retrain.tekton.dag import build_dag
from retrain.tekton.substitution import Replacements

# RunControl stays importable from here: the CLI, the trigger launcher and the tests take it from this module.
__all__ = ["POLL_S", "PUBLISH_S", "PipelineRunner", "RunControl"]

POLL_S = 0.05
PUBLISH_S = 0.25


class PipelineRunner:
    def __init__(
        self,
        req: PipelineRunRequest,
        env: ExecEnv,
        control: RunControl,
        on_run_status: Callable[[dict[str, Any]], None],
        on_taskrun: Callable[[str, str, dict[str, Any]], None],  # (taskrun, pipeline task, status)
    ) -> None:
        self.req, self.env, self.control = req, env, control
        self.on_run_status, self.on_taskrun = on_run_status, on_taskrun
        self.dag = build_dag(req.spec)
        self.tasks = {t.name: t for t in [*req.spec.tasks, *req.spec.finally_]}
        self.states = {t.name: TaskState(t.name, False) for t in req.spec.tasks}
        self.states.update({t.name: TaskState(t.name, True) for t in req.spec.finally_})
        for name, results in req.reuse.items():  # succeeded in the run this one re-runs: not run again
            if name in self.states and not self.states[name].is_finally:
                state = self.states[name]
                state.phase, state.reason, state.results = "succeeded", "Succeeded", dict(results)
        self.stop_mode: StopMode | None = None
        self.timeouts: set[Timeout] = set()
        self.running: dict[asyncio.Task[list[TaskRunOutcome]], str] = {}
        self.signals: dict[str, CancelSignal] = {}
        self.children: list[ChildReference] = []
        self.skipped: list[SkippedTask] = []
        self.fail: tuple[str, str] | None = None
        self.started = env.clock.now()
        self.t0 = env.clock.monotonic()
        self.finally_started: float | None = None  # monotonic, for the finally timeout
        self.finally_start_time: datetime | None = None  # wall clock, for the status
        self.last_publish = float("-inf")
        self.base = self._base_replacements()
        self.matrix_facts: dict[str, str] = {}  # $(tasks.X.matrix.length), $(tasks.X.matrix.R.length)
        self.display_names: dict[str, str | None] = {}  # TaskRun name -> childReferences displayName
        self.artifact_values: dict[str, str] = {}  # $(tasks.X.outputs.NAME) of finished tasks (artifacts.py)
        self.spec_doc = req.spec.model_dump(by_alias=True, exclude_none=True)  # constant: dumped once

    # --- facts -------------------------------------------------------------------------------------------

    def _base_replacements(self) -> Replacements:
        strings = {
            "context.pipelineRun.name": self.req.name,
            "context.pipelineRun.namespace": "default",
            "context.pipelineRun.uid": self.req.uid,
            "context.pipeline.name": self.req.pipeline_name,
        }
        for name, ws in self.req.workspaces.items():
            strings[f"workspaces.{name}.bound"] = "true" if ws.bound else "false"
        for decl in self.req.spec.workspaces:
            strings.setdefault(f"workspaces.{decl.name}.bound", "false")
        return param_replacements(self.req.params).merged(Replacements(strings=strings))

    def _replacements(self, is_finally: bool) -> Replacements:
        results = result_replacements(self.states, with_status=is_finally)
        facts = {**self.matrix_facts, **self.artifact_values}
        return self.base.merged(results).merged(Replacements(strings=facts))

    def facts(self) -> Facts:
        return Facts(
            self.req.spec, self.dag, self.states, self.base, self.stop_mode, frozenset(self.timeouts)
        )

    def _deadline(self, which: str) -> float | None:
        t = self.req.timeouts
        limit = {"pipeline": t.pipeline, "tasks": t.tasks, "finally": t.finally_}[which]
        if not limit or limit.total_seconds() <= 0:
            return None
        start = self.finally_started if which == "finally" else self.t0
        if start is None:
            return None
        return start + limit.total_seconds()

    # --- main loop ---------------------------------------------------------------------------------------

    async def run(self) -> PipelineRunOutcome:
        self._publish()
        while True:
            self._observe_stop_requests()
            self._observe_timeouts()
            started_now = False
            if self.fail is None:
                try:
                    decision = decide(self.facts())
                except CelError as exc:  # Tekton: the run fails with CELEvaluationFailed, nothing new starts
                    self.fail = (
                        reasons.PR_CEL_FAILED,
                        f"Error evaluating CEL {self.req.name}: [User error] {exc}",
                    )
                    self._cancel_running(
                        reasons.TR_CANCELLED, "TaskRun cancelled as the PipelineRun it belongs to has failed."
                    )
                    continue
                started_now = bool(decision.start)
                if decision.fail_run is not None:
                    self.fail = decision.fail_run
                    self._cancel_running(
                        reasons.TR_CANCELLED, "TaskRun cancelled as the PipelineRun it belongs to has failed."
                    )
                else:
                    for skip in decision.skip:
                        state = self.states[skip.name]
                        state.phase, state.skip_reason, state.when = "skipped", skip.reason, skip.when
                        self.skipped.append(SkippedTask(skip.name, skip.reason, tuple(skip.when)))
                    for name in decision.start:
                        self._start(name)
                    if decision.skip or decision.start:
                        self._publish()
            if not self.running:
                if self.fail is not None or not started_now:
                    break
                continue
            await self._wait_some()
        return self._conclude()

    async def _wait_some(self) -> None:
        deadlines = [
            d for d in (self._deadline("pipeline"), self._deadline("tasks"), self._deadline("finally")) if d
        ]
        wait = POLL_S
        if deadlines:
            wait = max(0.0, min(wait, min(deadlines) - self.env.clock.monotonic()))
        done, _ = await asyncio.wait(set(self.running), timeout=wait, return_when=asyncio.FIRST_COMPLETED)
        for finished in done:
            name = self.running.pop(finished)
            record_outcomes(self, name, finished.result())
        if done:
            self._publish()

    def _observe_stop_requests(self) -> None:
        mode = self.control.requested()
        if mode is None or self.stop_mode == mode:
            return
        self.stop_mode = mode
        message = "TaskRun cancelled as the PipelineRun it belongs to has been cancelled."
        if mode == "Cancelled":
            self._cancel_running(reasons.TR_CANCELLED, message, include_finally=True)
        elif mode == "CancelledRunFinally":
            self._cancel_running(reasons.TR_CANCELLED, message, include_finally=False)
        self._publish(force=True)

    def _observe_timeouts(self) -> None:
        now = self.env.clock.monotonic()
        which: Timeout
        for which in ("pipeline", "tasks", "finally"):
            deadline = self._deadline(which)
            if deadline is None or now < deadline or which in self.timeouts:
                continue
            if which == "tasks" and all(s.done for s in self.states.values() if not s.is_finally):
                continue  # the tasks ended in time; finally has its own budget (cf. tektoncd/pipeline#10512)
            self.timeouts.add(which)
            message = f"TaskRun cancelled as the PipelineRun it belongs to has timed out ({which} timeout)."
            self._cancel_running(
                reasons.TR_TIMEOUT, message, include_finally=which != "tasks", only_finally=which == "finally"
            )

    def _cancel_running(
        self, reason: str, message: str, *, include_finally: bool = True, only_finally: bool = False
    ) -> None:
        for name in self.running.values():
            is_finally = self.states[name].is_finally
            if (is_finally and not include_finally) or (only_finally and not is_finally):
                continue
            self.signals[name].fire(reason, message)

    # --- starting a task ---------------------------------------------------------------------------------

    def _start(self, name: str) -> None:
        task = self.tasks[name]
        state = self.states[name]
        if state.is_finally and self.finally_started is None:
            self.finally_started = self.env.clock.monotonic()
            self.finally_start_time = self.env.clock.now()
        if child_pipelines.runs_pipeline(task):  # pipelineRef/pipelineSpec: a child PipelineRun
            if task.when:
                _, state.when = all_true(task.when, self._replacements(state.is_finally))
            child_pipelines.start_child(self, name)
            return
        try:
            requests = taskrun_requests(self, task, state.is_finally)
        except RunRejected as exc:
            self.fail = (exc.reason, f'pipeline task "{name}": {exc.detail}')
            state.phase = "failed"
            self._cancel_running(
                reasons.TR_CANCELLED, "TaskRun cancelled as the PipelineRun it belongs to has failed."
            )
            return
        state.phase = "running"
        replacements = self._replacements(state.is_finally)
        if task.when:  # childReferences show the when expressions as evaluated, as Tekton's do
            _, state.when = all_true(task.when, replacements)
        signal = CancelSignal()
        self.signals[name] = signal
        for req in requests:
            state.taskruns.append(req.name)
            shown = self.display_names.get(req.name)
            self.children.append(ChildReference(req.name, name, shown, tuple(state.when)))
        deadline = self._task_deadline(state.is_finally)
        coroutine = asyncio.gather(
            *(execute_taskrun(r, self.env, signal, deadline=deadline) for r in requests)
        )
        self.running[asyncio.ensure_future(coroutine)] = name

    def _task_deadline(self, is_finally: bool) -> float | None:
        group = "finally" if is_finally else "tasks"
        candidates = [d for d in (self._deadline("pipeline"), self._deadline(group)) if d is not None]
        return min(candidates) if candidates else None

    # --- publishing the status (pipelinerun_status.py) --------------------------------------------------

    def _publish(self, *, force: bool = False) -> None:
        # Status writes are throttled: a run's record is at most PUBLISH_S behind while it runs (the final
        # status is always written); this keeps the engine's per-task overhead low on long chains.
        now = time.monotonic()  # an I/O budget, not run semantics: real time even under a fake clock
        if force or now - self.last_publish >= PUBLISH_S:
            self.last_publish = now
            self.on_run_status(run_status(self).render())

    def _conclude(self) -> PipelineRunOutcome:
        status = run_status(self)
        cond = status.condition
        if self.fail is not None:  # a failure decided at the end wins over the counts, even "Unknown"
            cond = replace(cond, status="False", reason=self.fail[0], message=self.fail[1])
        final = replace(
            status, condition=cond, completion_time=self.env.clock.now(), results=pipeline_results(self)
        )
        doc = final.render()
        self.on_run_status(doc)
        return PipelineRunOutcome(cond.status, cond.reason, cond.message, doc)
