"""The engine's front door: submit a PipelineRun or TaskRun, run it with Tekton semantics, record it all.

`Engine.submit` validates and records a run (nothing starts when it is invalid); `Engine.execute` waits for
the run's concurrency policy, runs it, and keeps the run store up to date so that `retrain runs ...` in
another terminal can follow, show and cancel it.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from retrain.engine import spec_status
from retrain.engine.clock import Clock, SystemClock
from retrain.engine.feature_flags import DEFAULT_FLAGS, FeatureFlags, flags_of
from retrain.engine.feature_gates import check_gates
from retrain.engine.kept_objects import save_objects
from retrain.engine.pipelinerun import PipelineRunner
from retrain.engine.pipelinerun_types import PipelineRunRequest, RunControl
from retrain.engine.prepare import Catalog, prepare_pipelinerun, prepare_taskrun
from retrain.engine.resolved import referenced, save_resolved
from retrain.engine.resolvers import resolve_refs
from retrain.engine.sandbox import Sandbox, detect_sandbox
from retrain.engine.taskrun import execute_taskrun
from retrain.engine.taskrun_types import CancelSignal, ExecEnv, TaskRunRequest
from retrain.errors import InvalidInput, Location
from retrain.runs.admission import ConcurrencySpec, wait_for_admission
from retrain.runs.logs import step_log_file
from retrain.runs.records import RunState, TaskRunRecord
from retrain.runs.store import RunStore
from retrain.tekton.model import PipelineRun, TaskRun
from retrain.tekton.substitution import substitute_string

POLICY_ANNOTATION = "retrain.dev/concurrency-policy"
KEY_ANNOTATION = "retrain.dev/concurrency-key"
QUEUE_LIMIT_ANNOTATION = "retrain.dev/queue-limit"
HOST_WORKSPACES_ANNOTATION = "retrain.dev/host-workspaces"  # `-w NAME=DIR` bindings, kept for re-runs
POLICIES = ("Allow", "Forbid", "Replace", "Queue")

LineSink = Callable[[str, str, str], None]  # (taskrun, step, line)


@dataclass(frozen=True)
class Submission:
    name: str
    kind: str
    request: PipelineRunRequest | TaskRunRequest
    concurrency: ConcurrencySpec | None
    flags: FeatureFlags = DEFAULT_FLAGS  # from the run's retrain.dev/feature-flags annotation
    spec_status: str | None = None  # the run's spec.status when submitted (engine/spec_status.py)
    status_message: str | None = None  # a TaskRun's spec.statusMessage


@dataclass(frozen=True)
class RunResult:
    name: str
    kind: str
    status: str  # "True" / "False"
    reason: str
    message: str
    status_doc: dict[str, Any] = field(default_factory=dict)

    @property
    def succeeded(self) -> bool:
        return self.status == "True"


def state_of(status: str, reason: str) -> RunState:
    if status == "Unknown":
        return "Running"
    if status == "True":
        return "Succeeded"
    return "Cancelled" if reason in ("Cancelled", "TaskRunCancelled") else "Failed"


def concurrency_spec(
    annotations: Mapping[str, str], *, default_key: str, params: Mapping[str, Any]
) -> ConcurrencySpec | None:
    policy = annotations.get(POLICY_ANNOTATION)
    if policy is None:
        return None
    if policy not in POLICIES:
        raise InvalidInput(
            f"unknown concurrency policy {policy!r}",
            location=Location(field=f"metadata.annotations[{POLICY_ANNOTATION}]"),
            hint=f"use one of {', '.join(POLICIES)}",
        )
    from retrain.engine.params import param_replacements

    key_template = annotations.get(KEY_ANNOTATION, default_key)
    key = substitute_string(key_template, param_replacements(params))
    limit_text = annotations.get(QUEUE_LIMIT_ANNOTATION, "10")
    if not limit_text.isdigit():
        raise InvalidInput(
            f"queue limit {limit_text!r} is not a whole number",
            location=Location(field=f"metadata.annotations[{QUEUE_LIMIT_ANNOTATION}]"),
        )
    return ConcurrencySpec(key=key, policy=policy, queue_limit=int(limit_text))  # type: ignore[arg-type]


class Engine:
    def __init__(
        self,
        store: RunStore,
        *,
        catalog: Catalog | None = None,
        sandbox: Sandbox | None = None,
        clock: Clock | None = None,
        on_line: LineSink | None = None,
    ) -> None:
        self.store = store
        self.catalog = catalog or Catalog()
        self.sandbox = sandbox or detect_sandbox()
        self.clock = clock or SystemClock()
        self.on_line = on_line

    def submit(
        self,
        run: PipelineRun | TaskRun,
        *,
        host_dirs: Mapping[str, Path] | None = None,
        catalog: Catalog | None = None,
    ) -> Submission:
        """Validate and record a run. Raises (and records nothing) when the run could not start.

        `catalog` replaces the engine's for this run (a re-run resolves against what its original used)."""
        catalog = resolve_refs(run, catalog or self.catalog)  # refs with a git/cluster resolver, at creation
        meta = run.metadata
        name = meta.name or self.store.unique_name(meta.generate_name or f"{run.kind.lower()}-")
        run_dir = self.store.home / "runs" / name  # created by the binding below; removed if invalid
        fresh = not run_dir.exists()  # a taken name: the directory is the older run's, never removed here
        request: PipelineRunRequest | TaskRunRequest
        flags = flags_of(meta.annotations)
        try:
            if isinstance(run, PipelineRun):
                request = prepare_pipelinerun(run, name, catalog, run_dir, host_dirs=host_dirs)
                pipeline: str | None = request.pipeline_name
                annotations = dict(request.annotations)
                params: Mapping[str, Any] = request.params
            else:
                request = prepare_taskrun(run, name, catalog, run_dir, host_dirs=host_dirs)
                pipeline, annotations, params = None, dict(meta.annotations), request.params
            check_gates(request, flags)
            concurrency = concurrency_spec(annotations, default_key=pipeline or name, params=params)
        except Exception:
            if fresh:
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        manifest = run.model_dump(by_alias=True, exclude_none=True)
        manifest["metadata"]["name"] = name
        if (
            host_dirs
        ):  # `-w NAME=DIR` is not part of the Tekton spec: remember it so `runs rerun` binds it too
            bindings = {k: str(Path(v).expanduser().resolve()) for k, v in sorted(host_dirs.items())}
            manifest["metadata"].setdefault("annotations", {})[HOST_WORKSPACES_ANNOTATION] = json.dumps(
                bindings
            )
        labels = dict(meta.labels)
        pending = spec_status.is_pending(run)
        if pipeline:
            labels.setdefault("tekton.dev/pipeline", pipeline)
        self.store.create_run(
            name=name,
            kind=run.kind,
            manifest=manifest,
            pipeline=pipeline,
            labels=labels,
            concurrency_key=concurrency.key if concurrency and not pending else None,
            engine_pid=None if pending else os.getpid(),  # a pending run waits for `retrain runs start`
        )
        if pending:
            spec_status.record_pending(self.store, name, self.clock.now())
        save_resolved(self.store.run_dir(name), referenced(run, catalog))  # for `runs rerun`
        save_objects(self.store.run_dir(name), catalog.objects)  # its ConfigMaps/Secrets, for a re-run too
        message = run.spec.status_message if isinstance(run, TaskRun) else None
        return Submission(name, run.kind, request, concurrency, flags, run.spec.status, message)

    async def execute(self, sub: Submission, control: RunControl | None = None) -> RunResult:
        control = control or RunControl()
        control.poll = lambda: self.store.cancel_requested(sub.name)
        early = spec_status.before_execute(self, sub, control)  # spec.status: pending, cancelled
        if early is not None:
            return early
        if sub.concurrency is not None:
            admission = await wait_for_admission(
                self.store, sub.name, sub.concurrency, sleep=self.clock.sleep
            )
            if admission.decision == "refused":
                record = self.store.get_run(sub.name)
                return RunResult(
                    sub.name, sub.kind, "False", record.reason or "Refused", admission.reason, record.status
                )
        self.store.mark_started(sub.name, engine_pid=os.getpid())
        run_dir = self.store.run_dir(sub.name)
        retries: dict[str, int] = {}

        made: set[Path] = set()

        def log_path(taskrun: str, step: str) -> Path:
            path = step_log_file(run_dir, taskrun, step, retries.get(taskrun, 0))
            if path.parent not in made:  # one mkdir per TaskRun attempt, not per step
                path.parent.mkdir(parents=True, exist_ok=True)
                made.add(path.parent)
            return path

        # Precise times for each try (Tekton's status times have whole seconds): first and last seen.
        seen: dict[tuple[str, int], tuple[datetime, datetime | None]] = {}

        def record_try(taskrun: str, retry: int, status: dict[str, Any], pipeline_task: str | None) -> None:
            cond = status.get("conditions", [{}])[0]
            results = {r["name"]: r["value"] for r in status.get("results", [])}
            started, ended = seen.get((taskrun, retry)) or (self.clock.now(), None)
            if ended is None and "completionTime" in status:
                ended = self.clock.now()
            seen[(taskrun, retry)] = (started, ended)
            self.store.upsert_taskrun(
                TaskRunRecord(
                    name=taskrun,
                    run_name=sub.name,
                    pipeline_task=pipeline_task,
                    retry=retry,
                    state=state_of(cond.get("status", "Unknown"), cond.get("reason", "")),
                    reason=cond.get("reason"),
                    started_at=started,
                    completed_at=ended,
                    status=status,
                    results=results,
                )
            )

        def on_status(taskrun: str, status: dict[str, Any], pipeline_task: str | None = None) -> None:
            history = status.get("retriesStatus", [])
            retries[taskrun] = len(history)
            for retry, past in enumerate(history):  # each attempt's record ends as that attempt ended
                record_try(taskrun, retry, past, pipeline_task)
            record_try(taskrun, len(history), status, pipeline_task)

        env = ExecEnv(
            sandbox=self.sandbox,
            clock=self.clock,
            run_dir=run_dir,
            log_path=log_path,
            on_status=on_status,
            on_line=self.on_line,
            flags=sub.flags,
        )
        if isinstance(sub.request, PipelineRunRequest):
            return await self._execute_pipeline(sub, sub.request, env, control, on_status)
        return await self._execute_task(sub, sub.request, env, control)

    async def _execute_pipeline(
        self,
        sub: Submission,
        req: PipelineRunRequest,
        env: ExecEnv,
        control: RunControl,
        on_status: Callable[..., None],
    ) -> RunResult:
        pipeline_tasks: dict[str, str] = {}

        def on_run_status(doc: dict[str, Any]) -> None:
            cond = doc["conditions"][0]
            state = state_of(cond["status"], cond["reason"])
            self.store.update_run(
                sub.name,
                state=state,
                reason=cond["reason"],
                status=doc,
                completed=state not in ("Running", "Pending"),
            )

        def on_taskrun(taskrun: str, pipeline_task: str, status: dict[str, Any]) -> None:
            pipeline_tasks[taskrun] = pipeline_task
            on_status(taskrun, status, pipeline_task)

        def owner(taskrun: str) -> str | None:  # the runner lists a TaskRun's name before it starts it
            return next((s.name for s in runner.states.values() if taskrun in s.taskruns), None)

        env = replace(env, on_status=lambda tr, st: on_status(tr, st, owner(tr)))
        runner = PipelineRunner(req, env, control, on_run_status, on_taskrun)
        outcome = await runner.run()
        return RunResult(
            sub.name, sub.kind, outcome.status, outcome.reason, outcome.message, outcome.status_doc
        )

    async def _execute_task(
        self, sub: Submission, req: TaskRunRequest, env: ExecEnv, control: RunControl
    ) -> RunResult:
        import asyncio

        signal = CancelSignal(message="TaskRun cancelled by the user.")
        worker = asyncio.ensure_future(execute_taskrun(req, env, signal))
        while not worker.done():
            mode = control.requested()
            if mode is not None:
                signal.fire(
                    "TaskRunCancelled", f'TaskRun "{req.name}" was cancelled. TaskRun cancelled by the user.'
                )
            await asyncio.wait({worker}, timeout=0.05)
        outcome = worker.result()
        cond = outcome.status["conditions"][0]
        state = state_of(cond["status"], cond["reason"])
        self.store.update_run(
            sub.name, state=state, reason=cond["reason"], status=outcome.status, completed=True
        )
        return RunResult(sub.name, sub.kind, cond["status"], cond["reason"], cond["message"], outcome.status)
