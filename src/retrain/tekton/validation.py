"""Semantic checks of resolved Tekton specs (pure): the one import for callers.

`validate_task_spec` and `validate_pipeline_spec` return every problem found, each an InvalidInput with a
field path and (given a SourceMap) a line; `build_dag` builds the task graph and raises on a bad one.
"""

from __future__ import annotations

from retrain.errors import InvalidInput
from retrain.tekton.dag import INVALID_GRAPH, Dag, build_dag
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import Pipeline, StepAction, Task, TaskRun, TektonObject
from retrain.tekton.pipeline_validation import MAX_MATRIX_COMBINATIONS, validate_pipeline_spec
from retrain.tekton.task_validation import validate_task_spec

__all__ = [
    "INVALID_GRAPH",
    "MAX_MATRIX_COMBINATIONS",
    "Dag",
    "build_dag",
    "validate_object",
    "validate_pipeline_spec",
    "validate_task_spec",
]


def validate_object(obj: TektonObject, *, where: SourceMap | None = None) -> list[InvalidInput]:
    """Validate the spec inside a loaded object; a run's params and workspaces propagate into its inline spec.
    (A run that refers to a Task/Pipeline by name is checked when the engine resolves it.)"""
    if isinstance(obj, Task):
        return validate_task_spec(obj.spec, where=where, path="spec")
    if isinstance(obj, Pipeline):
        return validate_pipeline_spec(obj.spec, where=where, path="spec")
    if isinstance(obj, StepAction):
        from retrain.tekton.step_actions import validate_step_action

        return validate_step_action(obj.spec, where=where)
    params = [p.name for p in obj.spec.params]
    workspaces = [w.name for w in obj.spec.workspaces]
    if isinstance(obj, TaskRun):
        if obj.spec.task_spec is None:
            return []
        return validate_task_spec(
            obj.spec.task_spec,
            where=where,
            path="spec.taskSpec",
            extra_params=params,
            extra_workspaces=workspaces,
        )
    if obj.spec.pipeline_spec is None:
        return []
    return validate_pipeline_spec(
        obj.spec.pipeline_spec,
        where=where,
        path="spec.pipelineSpec",
        extra_params=params,
        extra_workspaces=workspaces,
    )
