"""Features Tekton gates behind a feature flag: refused at creation when the run's flags do not allow them.

Tekton's webhook rejects these fields with the messages used here (pkg/apis/pipeline/v1 when_validation.go,
container_validation.go, pipeline_validation.go and config.ValidateEnabledAPIFields), so the same YAML with
the same flags is accepted or refused locally exactly as on a cluster.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

from retrain.engine import child_pipelines, reasons
from retrain.engine.feature_flags import FeatureFlags, api_fields_problem
from retrain.engine.pipelinerun_types import PipelineRunRequest
from retrain.engine.reasons import RunRejected
from retrain.engine.taskrun_types import TaskRunRequest
from retrain.errors import Location
from retrain.tekton.model import PipelineSpec, PipelineTask, TaskSpec

_STEP_ARTIFACTS = re.compile(r"\$\((?:step\.artifacts\.path|steps\.[^.)]+\.(?:inputs|outputs)[^)]*)\)")
_TASK_ARTIFACTS = re.compile(r"\$\((?:artifacts\.path|tasks\.[^.)]+\.(?:inputs|outputs)[^)]*)\)")
_ARTIFACTS_MESSAGE = "feature flag enable-artifacts should be set to true to use artifacts feature."


def _task_problems(spec: TaskSpec, at: str, flags: FeatureFlags) -> Iterator[tuple[str, str]]:
    # A step's `when` is validated as a pipeline task's is (Tekton's task_validation.go): CEL needs the flag.
    for i, step in enumerate(spec.steps):
        for j, when in enumerate(step.when or []):
            if when.cel is not None and not flags.enable_cel_in_whenexpression:
                yield f"{at}steps[{i}].when[{j}].cel", _cel_message(when.cel)
    if flags.enable_artifacts:
        return
    for i, step in enumerate(spec.steps):
        text = step.model_dump_json(include={"script", "command", "args", "env"})
        if _STEP_ARTIFACTS.search(text) or _TASK_ARTIFACTS.search(text):
            yield f"{at}steps[{i}]", _ARTIFACTS_MESSAGE


def _cel_message(cel: str) -> str:
    return (
        f"feature flag enable-cel-in-whenexpression should be set to true to use CEL: {cel} in WhenExpression"
    )


def _pipeline_task_problems(task: PipelineTask, at: str, flags: FeatureFlags) -> Iterator[tuple[str, str]]:
    for name, value in (("pipelineRef", task.pipeline_ref), ("pipelineSpec", task.pipeline_spec)):
        if value is not None and (problem := api_fields_problem(flags, name, "alpha")) is not None:
            yield f"{at}.{name}", problem
    for j, when in enumerate(task.when):
        if when.cel is not None and not flags.enable_cel_in_whenexpression:
            yield f"{at}.when[{j}].cel", _cel_message(when.cel)
    if not flags.enable_artifacts:
        params = task.model_dump_json(include={"params"})
        if re.search(r"\$\(tasks\.[^.)]+\.(?:inputs|outputs)[^)]*\)", params):
            yield f"{at}.params", _ARTIFACTS_MESSAGE
    if task.task_spec is not None:
        yield from _task_problems(task.task_spec, f"{at}.taskSpec.", flags)


def pipeline_gate_problems(spec: PipelineSpec, flags: FeatureFlags, at: str) -> list[tuple[str, str]]:
    """(field path, Tekton's message) for each gated feature `spec` uses that `flags` do not enable."""
    found: list[tuple[str, str]] = []
    for section, tasks in (("tasks", spec.tasks), ("finally", spec.finally_)):
        for i, task in enumerate(tasks):
            found += _pipeline_task_problems(task, f"{at}{section}[{i}]", flags)
    return found


def task_gate_problems(spec: TaskSpec, flags: FeatureFlags, at: str) -> list[tuple[str, str]]:
    return list(_task_problems(spec, at, flags))


def refuse_gated(found: list[tuple[str, str]], *, kind: str) -> None:
    """Stop the run at creation, as Tekton's webhook does, naming the field and the flag to set."""
    if not found:
        return
    path, message = found[0]
    more = f" (and {len(found) - 1} more such fields)" if len(found) > 1 else ""
    reason = reasons.PR_VALIDATION_FAILED if kind == "PipelineRun" else reasons.TR_VALIDATION_FAILED
    raise RunRejected(
        reason,
        message + more,
        location=Location(field=path),
        hint="set the flag with --feature-flag KEY=VALUE or --feature-flags FILE (a feature-flags ConfigMap)",
    )


def check_gates(request: PipelineRunRequest | TaskRunRequest, flags: FeatureFlags) -> None:
    """Refuse a prepared run that uses a gated feature its flags do not enable (Engine.submit calls this)."""
    if isinstance(request, TaskRunRequest):
        found = task_gate_problems(request.spec, flags, "spec.taskSpec.")
        if request.breakpoints is not None and (problem := api_fields_problem(flags, "debug", "alpha")):
            found.insert(0, ("spec.debug", problem))  # Tekton gates the whole debug field at alpha
        refuse_gated(found, kind="TaskRun")
        return
    found = pipeline_gate_problems(request.spec, flags, "spec.")
    if not found:
        child_pipelines.check_children(request.spec, request, (request.pipeline_name,))
    for task in [*request.spec.tasks, *request.spec.finally_]:
        if task.task_ref is not None:  # artifacts and CEL in its steps' when
            owner = f'Task "{task.task_ref.name}" spec.'
            found += task_gate_problems(request.resolve_task(task.task_ref), flags, owner)
    refuse_gated(found, kind="PipelineRun")
