"""Runs a PipelineRun: feeds facts to the scheduler, starts TaskRuns, enforces timeouts and cancellation."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from retrain.engine import artifacts, child_pipelines, reasons
from retrain.engine.backoff import backoff_for
from retrain.engine.matrix import combinations, display_name, length_facts
from retrain.engine.params import param_replacements, resolve_params
from retrain.engine.pod import NO_PODS, PodSpecs
from retrain.engine.reasons import RunRejected
from retrain.engine.scheduler import (
    Facts,
    StopMode,
    TaskState,
    Timeout,
    condition,
    decide,
    result_replacements,
)
from retrain.engine.taskrun import execute_taskrun
from retrain.engine.taskrun_types import CancelSignal, ExecEnv, TaskRunOutcome, TaskRunRequest
from retrain.engine.whens import all_true
from retrain.engine.workspaces import BoundWorkspace, task_workspaces
from retrain.runs.status import (
    ChildReference,
    Condition,
    PipelineRunResult,
    PipelineRunStatus,
    SkippedTask,
)
from retrain.tekton.cel import CelError
from retrain.tekton.dag import build_dag
from retrain.tekton.durations import format_duration, parse_duration
from retrain.tekton.model import (
    Param,
    ParamValue,
    Pipeline,
    PipelineSpec,
    PipelineTask,
    StepActionSpec,
    TaskRef,
    TaskSpec,
    WorkspaceDeclaration,
)
from retrain.tekton.substitution import Replacements, find_references, substitute_model, substitute_string

POLL_S = 0.05
PUBLISH_S = 0.25


@dataclass(frozen=True)
class PipelineTimeouts:
    pipeline: timedelta | None  # None or 0: no limit
    tasks: timedelta | None = None
    finally_: timedelta | None = None


@dataclass(frozen=True)
class PipelineRunRequest:
    name: str
    pipeline_name: str
    spec: PipelineSpec
    params: Mapping[str, ParamValue]
    workspaces: Mapping[str, BoundWorkspace]
    timeouts: PipelineTimeouts
    resolve_task: Callable[[TaskRef], TaskSpec]
    annotations: Mapping[str, str] = field(default_factory=dict)
    task_timeouts: Mapping[str, timedelta] = field(default_factory=dict)  # from spec.taskRunSpecs
    uid: str = ""
    reuse: Mapping[str, Mapping[str, ParamValue]] = field(default_factory=dict)  # rerun --from-failed
    resolve_pipeline: Callable[[str | None], Pipeline] | None = None  # pipelineRef on a pipeline task
    step_actions: Mapping[str, StepActionSpec] = field(default_factory=dict)  # what step refs name
    pods: PodSpecs = NO_PODS  # objects, ServiceAccount and podTemplate volumes per pipeline task


@dataclass(frozen=True)
class PipelineRunOutcome:
    status: str  # "True" / "False"
    reason: str
    message: str
    status_doc: dict[str, Any]


@dataclass
class RunControl:
    """How the outside world stops a run: a polled request (another process) or a local event (Ctrl-C)."""

    poll: Callable[[], str | None] = lambda: None
    local: asyncio.Event = field(default_factory=asyncio.Event)
    local_mode: StopMode = "Cancelled"

    def requested(self) -> StopMode | None:
        if self.local.is_set():
            return self.local_mode
        mode = self.poll()
        if mode in ("Cancelled", "CancelledRunFinally", "StoppedRunFinally"):
            return mode  # type: ignore[return-value]
        return None


def child_name(run: str, task: str, suffix: str = "") -> str:
    """Tekton's kmeta.ChildName: `<run>-<task>`, shortened with a hash past 63 characters."""
    name = f"{run}-{task}{suffix}"
    if len(name) <= 63:
        return name
    digest = hashlib.md5(name.encode(), usedforsecurity=False).hexdigest()
    return f"{name[: 63 - len(digest) - 1]}-{digest}"


def _without_keys(r: Replacements, prefixes: tuple[str, ...]) -> Replacements:
    def keep(key: str) -> bool:
        return not key.startswith(prefixes)

    return Replacements(
        strings={k: v for k, v in r.strings.items() if keep(k)},
        arrays={k: v for k, v in r.arrays.items() if keep(k)},
        objects={k: v for k, v in r.objects.items() if keep(k)},
    )


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
            self._record(name, finished.result())
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
            requests = self._taskrun_requests(task, state.is_finally)
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

    def _taskrun_requests(self, task: PipelineTask, is_finally: bool) -> list[TaskRunRequest]:
        # Tekton's ApplyPipelineTaskContexts: the task's own retries, for its params, matrix and displayName
        retries = Replacements(strings={"context.pipelineTask.retries": str(task.retries)})
        replacements = self._replacements(is_finally).merged(retries)
        outer = substitute_model(task.model_copy(update={"task_spec": None}), replacements)
        if task.task_spec is not None:
            declared = tuple(f"params.{p.name}" for p in task.task_spec.params)
            inner = _without_keys(replacements, (*declared, "workspaces."))
            embedded = substitute_model(task.task_spec, inner)
            spec = TaskSpec.model_validate(
                embedded.model_dump(
                    by_alias=True, exclude={"metadata", "api_version", "kind", "spec"}, exclude_none=True
                )
            )
        elif task.task_ref is not None:
            spec = self.req.resolve_task(task.task_ref)
            if self.artifact_values:  # Tekton's PropagateArtifacts fills them into the resolved spec too
                spec = substitute_model(spec, Replacements(strings=self.artifact_values))
        else:
            raise RunRejected(
                reasons.PR_VALIDATION_FAILED, f'pipeline task "{task.name}" has neither taskRef nor taskSpec'
            )
        available: dict[str, BoundWorkspace] = {}
        for binding in outer.workspaces:
            source = self.req.workspaces.get(binding.workspace or binding.name)
            if source is not None:
                available[binding.name] = source.sub(binding.sub_path)
        if task.task_spec is not None:  # Tekton propagates the run's workspaces into embedded specs
            declared_ws = {w.name for w in spec.workspaces}
            extra = [
                WorkspaceDeclaration(name=n)
                for n in self.req.workspaces
                if n not in declared_ws and n not in available
            ]
            for decl in extra:
                available[decl.name] = self.req.workspaces[decl.name]
            if extra:
                spec = spec.model_copy(update={"workspaces": [*spec.workspaces, *extra]})
        workspaces = task_workspaces(spec.workspaces, available, owner=f'pipeline task "{task.name}"')
        timeout = self.req.task_timeouts.get(task.name)
        if timeout is None and outer.timeout:
            timeout = parse_duration(outer.timeout, field=f"tasks.{task.name}.timeout")
        given = list(outer.params)
        if (
            task.task_spec is not None
        ):  # propagated params: pipeline params the embedded spec does not declare
            named = {p.name for p in given}
            given += [Param(name=k, value=v) for k, v in self.req.params.items() if k not in named]
        combos = combinations(outer.matrix, owner=task.name) if outer.matrix else [[]]
        if outer.matrix:
            declared_results = [r.name for r in spec.results]
            self.matrix_facts.update(length_facts(task.name, len(combos), {}, declared_results))
        requests = []
        for index, combo in enumerate(combos):
            name = child_name(self.req.name, task.name, f"-{index}" if outer.matrix else "")
            merged = {p.name: p for p in given} | {p.name: p for p in combo}
            own = {p.name: p.value for p in merged.values()}
            self.display_names[name] = display_name(task, own, replacements)
            values = resolve_params(
                spec.params,
                list(merged.values()),
                owner=f'Task of pipeline task "{task.name}"',
                propagate_undeclared=task.task_spec is not None,
            )
            context = {
                "context.taskRun.name": name,
                "context.taskRun.namespace": "default",
                "context.taskRun.uid": hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:12],
                "context.task.name": task.task_ref.name
                if task.task_ref and task.task_ref.name
                else task.name,
                "context.pipelineTask.retries": str(task.retries),
                "context.pipelineRun.name": self.req.name,
                "context.pipelineRun.namespace": "default",
                "context.pipelineRun.uid": self.req.uid,
                "context.pipeline.name": self.req.pipeline_name,
            }
            requests.append(
                TaskRunRequest(
                    name=name,
                    spec=spec,
                    params=values,
                    workspaces=workspaces,
                    context=context,
                    timeout=timeout,
                    retries=task.retries,
                    backoff=backoff_for(task.name, self.req.annotations),
                    ignore_failure=task.on_error == "continue",
                    step_actions=self.req.step_actions,
                    pod=self.req.pods.for_task(task.name),
                )
            )
        return requests

    # --- recording ---------------------------------------------------------------------------------------

    def _record(self, name: str, outcomes: list[TaskRunOutcome]) -> None:
        task, state = self.tasks[name], self.states[name]
        for outcome in outcomes:
            self.on_taskrun(outcome.name, name, outcome.status)
        worst = next((o for o in outcomes if o.phase == "cancelled"), None) or next(
            (o for o in outcomes if o.phase != "succeeded"), outcomes[0]
        )
        state.reason = worst.reason
        if worst.phase == "succeeded":
            state.phase = "succeeded"
        elif worst.phase == "cancelled":
            state.phase = "cancelled"
        elif task.on_error == "continue":
            state.phase = "failure_ignored"  # reason: FailureIgnored, or TaskRunTimeout for a timeout
        else:
            state.phase = "timed_out" if worst.phase == "timed_out" else "failed"
        if task.matrix is not None:  # matrix results are aggregated into arrays
            keys = {k for o in outcomes for k in o.results}
            state.results = {
                k: [str(o.results[k]) for o in outcomes if isinstance(o.results.get(k), str)] for k in keys
            }
            self.matrix_facts.update(length_facts(name, len(outcomes), state.results, ()))
        else:
            state.results = dict(outcomes[0].results)
            self.artifact_values.update(artifacts.task_replacements(name, outcomes[0].status))

    def _status(self) -> PipelineRunStatus:
        cond = condition(
            self.facts(),
            self.req.name,
            pipeline_timeout=format_duration(self.req.timeouts.pipeline or timedelta(0)),
            tasks_timeout=format_duration(self.req.timeouts.tasks or timedelta(0)),
        )
        status, reason, message = cond.status, cond.reason, cond.message
        if self.fail is not None and status != "Unknown":
            status, reason, message = "False", self.fail[0], self.fail[1]
        return PipelineRunStatus(
            condition=Condition(status, reason, message, self.env.clock.now()),
            start_time=self.started,
            pipeline_spec=self.spec_doc,
            children=tuple(self.children),
            skipped=tuple(self.skipped),
            finally_start_time=self.finally_start_time,
        )

    def _publish(self, *, force: bool = False) -> None:
        # Status writes are throttled: a run's record is at most PUBLISH_S behind while it runs (the final
        # status is always written); this keeps the engine's per-task overhead low on long chains.
        now = time.monotonic()  # an I/O budget, not run semantics: real time even under a fake clock
        if force or now - self.last_publish >= PUBLISH_S:
            self.last_publish = now
            self.on_run_status(self._status().render())

    def _conclude(self) -> PipelineRunOutcome:
        status = self._status()
        cond = status.condition
        if self.fail is not None:  # a failure decided at the end wins over the counts, even "Unknown"
            cond = replace(cond, status="False", reason=self.fail[0], message=self.fail[1])
        final = replace(
            status, condition=cond, completion_time=self.env.clock.now(), results=self._pipeline_results()
        )
        doc = final.render()
        self.on_run_status(doc)
        return PipelineRunOutcome(cond.status, cond.reason, cond.message, doc)

    def _pipeline_results(self) -> tuple[PipelineRunResult, ...]:
        replacements = self.base.merged(result_replacements(self.states, with_status=False))
        out: list[PipelineRunResult] = []
        for result in self.req.spec.results:
            value = result.value
            if isinstance(value, str):
                refs = find_references(value)
                whole = len(refs) == 1 and value.strip() == f"$({refs[0]})"
                if whole and refs[0].endswith("[*]"):
                    array = replacements.lookup_array(refs[0][:-3])
                    obj = replacements.lookup_object(refs[0][:-3])
                    resolved: ParamValue | None = (
                        list(array) if array is not None else (dict(obj) if obj is not None else None)
                    )
                elif whole and replacements.lookup_array(refs[0]) is not None:
                    resolved = list(replacements.lookup_array(refs[0]) or [])
                elif whole and replacements.lookup_object(refs[0]) is not None:
                    resolved = dict(replacements.lookup_object(refs[0]) or {})
                else:
                    text = substitute_string(value, replacements)
                    resolved = None if find_references(text) else text
            elif isinstance(value, list):
                items = [substitute_string(v, replacements) for v in value]
                resolved = None if any(find_references(i) for i in items) else items
            else:
                obj2 = {k: substitute_string(v, replacements) for k, v in value.items()}
                resolved = None if any(find_references(v) for v in obj2.values()) else obj2
            if resolved is not None:
                out.append(PipelineRunResult(result.name, resolved))
        return tuple(out)
