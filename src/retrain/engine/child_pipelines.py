"""Pipelines in pipelines (TEP-0056): a pipeline task with `pipelineRef`/`pipelineSpec` runs a child
PipelineRun, as Tekton's PipelineRun reconciler does (pkg/reconciler/pipelinerun createChildPipelineRun).

- The child is named as Tekton names it: kmeta.ChildName(<parent>, "-<pipeline task>") (child_name), and
  is listed in the parent's childReferences with kind PipelineRun and the task's `when` expressions.
- Its params are the pipeline task's params (after the parent's substitution; an inline pipelineSpec also
  receives the parent's params, as the parent's substitution reaches into it); its workspaces are the
  task's bindings to the parent's workspaces (subPath kept).
- The child runs in this process with the same engine; its TaskRuns are recorded under the parent run
  with the pipeline task `<task>/<child task>`; the child's own status document is the record of the
  pipeline task. Its pipeline results are the task's results (`$(tasks.<task>.results.<name>)`).
- `when`, `runAfter` and `timeout` (the child's pipeline timeout) apply as for any pipeline task;
  cancelling or timing out the parent cancels the child. `retries` and `matrix` on such a task are
  refused at creation (tekton/local_support.py), since neither Tekton nor this engine retries or fans
  out child PipelineRuns.
"""

from __future__ import annotations

import asyncio
import hashlib
from typing import TYPE_CHECKING, Any

from retrain.engine import reasons
from retrain.engine.params import resolve_params
from retrain.engine.reasons import RunRejected
from retrain.engine.resolver_keys import ref_key
from retrain.engine.taskrun_types import CancelSignal, Phase, TaskRunOutcome
from retrain.engine.workspaces import BoundWorkspace, check_declared
from retrain.errors import InvalidInput
from retrain.runs.status import ChildReference
from retrain.tekton.dag import build_dag
from retrain.tekton.durations import parse_duration
from retrain.tekton.model import PipelineSpec, PipelineTask
from retrain.tekton.substitution import substitute_model

if TYPE_CHECKING:
    from retrain.engine.pipelinerun import PipelineRunner
    from retrain.engine.pipelinerun_types import PipelineRunRequest


def runs_pipeline(task: PipelineTask) -> bool:
    return task.pipeline_ref is not None or task.pipeline_spec is not None


def child_spec(task: PipelineTask, req: PipelineRunRequest) -> tuple[PipelineSpec, str | None]:
    """The child's Pipeline spec and, for a pipelineRef, the Pipeline's name (RunRejected if not found)."""
    if task.pipeline_ref is not None:
        if req.resolve_pipeline is None:
            raise RunRejected(reasons.PR_COULDNT_GET_PIPELINE, "no Pipelines to resolve pipelineRef against")
        ref = task.pipeline_ref
        # A resolver ref was resolved when the run was created (engine/pipeline_refs.py), kept by its key.
        pipeline = req.resolve_pipeline(ref_key(ref.resolver, ref.params) if ref.resolver else ref.name)
        return pipeline.spec, pipeline.metadata.name
    try:
        return PipelineSpec.model_validate(task.pipeline_spec or {}), None
    except ValueError as exc:
        raise RunRejected(
            reasons.PR_VALIDATION_FAILED, f'pipeline task "{task.name}": invalid pipelineSpec: {exc}'
        ) from None


def check_children(spec: PipelineSpec, req: PipelineRunRequest, seen: tuple[str, ...] = ()) -> None:
    """At creation: every child Pipeline resolves, has a valid graph and no pipelineRef cycle."""
    for task in [*spec.tasks, *spec.finally_]:
        if not runs_pipeline(task):
            continue
        child, name = child_spec(task, req)
        if name is not None and name in seen:
            raise RunRejected(
                reasons.PR_VALIDATION_FAILED,
                f'detected cycle in pipeline-in-pipeline: pipeline "{name}" is already running in '
                f"ancestor chain {list(seen)}",
            )
        try:
            build_dag(child)
        except InvalidInput as exc:
            raise RunRejected(
                reasons.PR_INVALID_GRAPH, f'pipeline task "{task.name}": {exc.message}'
            ) from exc
        check_children(child, req, (*seen, name) if name else seen)


def _child_request(runner: PipelineRunner, task: PipelineTask, name: str) -> PipelineRunRequest:
    from dataclasses import replace

    from retrain.engine.pipelinerun_types import PipelineTimeouts

    parent = runner.req
    replacements = runner._replacements(runner.states[task.name].is_finally)
    outer = substitute_model(task.model_copy(update={"pipeline_spec": None}), replacements)
    spec, pipeline_name = child_spec(task, parent)
    if task.pipeline_spec is not None:  # the parent's substitution reaches into an inline pipelineSpec
        declared = tuple(f"params.{p.name}" for p in spec.params)
        inner = replacements.without((*declared, "workspaces.", "context.", "tasks."))
        spec = substitute_model(spec, inner)
    owner = f'Pipeline "{pipeline_name or name}"'
    params = resolve_params(spec.params, list(outer.params), owner=owner, propagate_undeclared=True)
    workspaces: dict[str, BoundWorkspace] = {}
    for binding in outer.workspaces:
        source = parent.workspaces.get(binding.workspace or binding.name)
        if source is not None:
            workspaces[binding.name] = source.sub(binding.sub_path)
    check_declared([(w.name, w.optional) for w in spec.workspaces], workspaces, owner=owner)
    timeout = parse_duration(outer.timeout, field=f"tasks.{task.name}.timeout") if outer.timeout else None
    return replace(
        parent,
        name=name,
        pipeline_name=pipeline_name or name,
        spec=spec,
        params=params,
        workspaces=workspaces,
        timeouts=PipelineTimeouts(pipeline=timeout if timeout is not None else parent.timeouts.pipeline),
        task_timeouts={},
        uid=hashlib.sha1(name.encode(), usedforsecurity=False).hexdigest()[:12],
        reuse={},
    )


def _outcome(name: str, signal: CancelSignal, doc: dict[str, Any]) -> TaskRunOutcome:
    """The child PipelineRun's end, in the shape the parent's runner records for a pipeline task."""
    cond = (doc.get("conditions") or [{}])[0]
    reason, message = str(cond.get("reason", "")), str(cond.get("message", ""))
    phase: Phase = "failed"
    if cond.get("status") == "True":
        phase = "succeeded"
    elif signal.event.is_set():
        phase = "timed_out" if signal.reason == reasons.TR_TIMEOUT else "cancelled"
    results = {r["name"]: r["value"] for r in doc.get("results", [])}
    return TaskRunOutcome(name, phase, reason, message, results, doc, 0)


def start_child(runner: PipelineRunner, name: str) -> None:
    """Start pipeline task `name`'s child PipelineRun; the runner records it like a TaskRun when it ends."""
    from retrain.engine.pipelinerun import PipelineRunner
    from retrain.engine.pipelinerun_types import RunControl, child_name

    task, state = runner.tasks[name], runner.states[name]
    child = child_name(runner.req.name, name)
    signal = CancelSignal()
    runner.signals[name] = signal
    state.phase = "running"
    state.taskruns.append(child)
    runner.children.append(ChildReference(child, name, None, tuple(state.when), kind="PipelineRun"))

    async def go() -> list[TaskRunOutcome]:
        try:
            req = _child_request(runner, task, child)
        except RunRejected as exc:  # the child PipelineRun fails at creation, and so does the task
            cond = {"type": "Succeeded", "status": "False", "reason": exc.reason, "message": exc.detail}
            return [_outcome(child, signal, {"conditions": [cond]})]
        control = RunControl(poll=lambda: "Cancelled" if signal.event.is_set() else None)

        def on_taskrun(taskrun: str, pipeline_task: str, status: dict[str, Any]) -> None:
            runner.on_taskrun(taskrun, f"{name}/{pipeline_task}", status)

        inner = PipelineRunner(req, runner.env, control, lambda doc: None, on_taskrun)
        done = await inner.run()
        return [_outcome(child, signal, done.status_doc)]

    runner.running[asyncio.ensure_future(go())] = name
