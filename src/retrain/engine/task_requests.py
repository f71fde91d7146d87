"""The TaskRuns one pipeline task becomes: its spec, params, workspaces, matrix, contexts and timeout."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING

from retrain.engine import reasons
from retrain.engine.backoff import backoff_for
from retrain.engine.matrix import combinations, display_name, length_facts
from retrain.engine.params import resolve_params
from retrain.engine.pipelinerun_types import child_name
from retrain.engine.reasons import RunRejected
from retrain.engine.taskrun_types import TaskRunRequest
from retrain.engine.workspaces import BoundWorkspace, task_workspaces
from retrain.tekton.durations import parse_duration
from retrain.tekton.model import Param, PipelineTask, TaskSpec, WorkspaceDeclaration
from retrain.tekton.substitution import Replacements, substitute_model

if TYPE_CHECKING:
    from retrain.engine.pipelinerun import PipelineRunner


def taskrun_requests(runner: PipelineRunner, task: PipelineTask, is_finally: bool) -> list[TaskRunRequest]:
    # Tekton's ApplyPipelineTaskContexts: the task's own retries, for its params, matrix and displayName
    retries = Replacements(strings={"context.pipelineTask.retries": str(task.retries)})
    replacements = runner._replacements(is_finally).merged(retries)
    outer = substitute_model(task.model_copy(update={"task_spec": None}), replacements)
    if task.task_spec is not None:
        declared = tuple(f"params.{p.name}" for p in task.task_spec.params)
        inner = replacements.without((*declared, "workspaces."))
        embedded = substitute_model(task.task_spec, inner)
        spec = TaskSpec.model_validate(
            embedded.model_dump(
                by_alias=True, exclude={"metadata", "api_version", "kind", "spec"}, exclude_none=True
            )
        )
    elif task.task_ref is not None:
        spec = runner.req.resolve_task(task.task_ref)
        if runner.artifact_values:  # Tekton's PropagateArtifacts fills them into the resolved spec too
            spec = substitute_model(spec, Replacements(strings=runner.artifact_values))
    else:
        raise RunRejected(
            reasons.PR_VALIDATION_FAILED, f'pipeline task "{task.name}" has neither taskRef nor taskSpec'
        )
    available: dict[str, BoundWorkspace] = {}
    for binding in outer.workspaces:
        source = runner.req.workspaces.get(binding.workspace or binding.name)
        if source is not None:
            available[binding.name] = source.sub(binding.sub_path)
    if task.task_spec is not None:  # Tekton propagates the run's workspaces into embedded specs
        declared_ws = {w.name for w in spec.workspaces}
        extra = [
            WorkspaceDeclaration(name=n)
            for n in runner.req.workspaces
            if n not in declared_ws and n not in available
        ]
        for decl in extra:
            available[decl.name] = runner.req.workspaces[decl.name]
        if extra:
            spec = spec.model_copy(update={"workspaces": [*spec.workspaces, *extra]})
    workspaces = task_workspaces(spec.workspaces, available, owner=f'pipeline task "{task.name}"')
    timeout = runner.req.task_timeouts.get(task.name)
    if timeout is None and outer.timeout:
        timeout = parse_duration(outer.timeout, field=f"tasks.{task.name}.timeout")
    given = list(outer.params)
    if task.task_spec is not None:  # propagated params: pipeline params the embedded spec does not declare
        named = {p.name for p in given}
        given += [Param(name=k, value=v) for k, v in runner.req.params.items() if k not in named]
    combos = combinations(outer.matrix, owner=task.name) if outer.matrix else [[]]
    if outer.matrix:
        declared_results = [r.name for r in spec.results]
        runner.matrix_facts.update(length_facts(task.name, len(combos), {}, declared_results))
    requests = []
    for index, combo in enumerate(combos):
        name = child_name(runner.req.name, task.name, f"-{index}" if outer.matrix else "")
        merged = {p.name: p for p in given} | {p.name: p for p in combo}
        own = {p.name: p.value for p in merged.values()}
        runner.display_names[name] = display_name(task, own, replacements)
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
            "context.task.name": task.task_ref.name if task.task_ref and task.task_ref.name else task.name,
            "context.pipelineTask.retries": str(task.retries),
            "context.pipelineRun.name": runner.req.name,
            "context.pipelineRun.namespace": "default",
            "context.pipelineRun.uid": runner.req.uid,
            "context.pipeline.name": runner.req.pipeline_name,
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
                backoff=backoff_for(task.name, runner.req.annotations),
                ignore_failure=task.on_error == "continue",
                step_actions=runner.req.step_actions,
                pod=runner.req.pods.for_task(task.name),
            )
        )
    return requests
