"""Tekton v1 status documents (TaskRun and PipelineRun `status`), built from typed values in one place.

The engine describes what happened with these frozen values; `render()` turns them into the dicts that the
run store keeps and that `retrain runs show -o yaml` prints, which must validate against Tekton's v1 CRD
schemas. Keys come out in the order of Tekton's Go structs, and optional fields only when they are set, as
Kubernetes would serialise them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from retrain.runs.records import rfc3339
from retrain.tekton.model import ParamValue, WhenExpression

ConditionStatus = Literal["True", "False", "Unknown"]


def _when(expressions: tuple[WhenExpression, ...]) -> list[dict[str, Any]]:
    return [w.model_dump(by_alias=True, exclude_none=True) for w in expressions]


@dataclass(frozen=True)
class Condition:
    """The `Succeeded` condition, the one condition a TaskRun or PipelineRun has."""

    status: ConditionStatus
    reason: str
    message: str
    at: datetime  # lastTransitionTime

    def render(self) -> dict[str, str]:
        return {
            "type": "Succeeded",
            "status": self.status,
            "reason": self.reason,
            "message": self.message,
            "lastTransitionTime": rfc3339(self.at),
        }


# --- TaskRun -----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepState:
    """A step's container state. `reason` is the container's (Completed, Error, TimeoutExceeded, Cancelled,
    Skipped); `termination_reason` Tekton's (the same, or Continued for `onError: continue`)."""

    name: str
    image: str
    exit_code: int
    reason: str
    termination_reason: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    results: tuple[TaskRunResult, ...] = ()  # the step's own results (StepActions, step `results`)

    @classmethod
    def skipped(cls, name: str, image: str) -> StepState:
        """A step that never ran because an earlier one failed (Tekton reports exit code 1, Skipped)."""
        return cls(name, image, 1, "Skipped", "Skipped")

    def render(self) -> dict[str, Any]:
        terminated: dict[str, Any] = {"exitCode": self.exit_code, "reason": self.reason}
        if self.started_at is not None:
            terminated["startedAt"] = rfc3339(self.started_at)
        if self.finished_at is not None:
            terminated["finishedAt"] = rfc3339(self.finished_at)
        doc: dict[str, Any] = {
            "name": self.name,
            "container": f"step-{self.name}",
            "imageID": self.image,
            "terminated": terminated,
            "terminationReason": self.termination_reason,
        }
        if self.results:
            doc["results"] = [r.render() for r in self.results]
        return doc


@dataclass(frozen=True)
class SidecarState:
    """A sidecar's container state as Tekton records it (SidecarState: name, container, imageID and the
    container state); `reason` is the container's: Completed for exit code 0, else Error."""

    name: str
    image: str
    exit_code: int
    reason: str
    started_at: datetime | None = None
    finished_at: datetime | None = None
    message: str = ""  # why it ended, when the engine ended it (stopped after the steps, ...)

    def render(self) -> dict[str, Any]:
        terminated: dict[str, Any] = {"exitCode": self.exit_code, "reason": self.reason}
        if self.message:
            terminated["message"] = self.message
        if self.started_at is not None:
            terminated["startedAt"] = rfc3339(self.started_at)
        if self.finished_at is not None:
            terminated["finishedAt"] = rfc3339(self.finished_at)
        return {
            "name": self.name,
            "container": f"sidecar-{self.name}",
            "imageID": self.image,
            "terminated": terminated,
        }


@dataclass(frozen=True)
class TaskRunResult:
    name: str
    type: str  # string, array or object
    value: ParamValue

    def render(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.type, "value": self.value}


@dataclass(frozen=True)
class TaskRunStatus:
    """A TaskRun's status. `steps` is None while no try has ended; `retries` are the earlier tries."""

    pod_name: str
    task_spec: Mapping[str, Any]
    condition: Condition
    start_time: datetime
    completion_time: datetime | None = None
    steps: tuple[StepState, ...] | None = None
    results: tuple[TaskRunResult, ...] = ()
    retries: tuple[TaskRunStatus, ...] = ()
    sidecars: tuple[SidecarState, ...] = ()

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "conditions": [self.condition.render()],
            "podName": self.pod_name,
            "startTime": rfc3339(self.start_time),
        }
        if self.completion_time is not None:
            doc["completionTime"] = rfc3339(self.completion_time)
        if self.steps is not None:
            doc["steps"] = [s.render() for s in self.steps]
        if self.retries:
            doc["retriesStatus"] = [r.render() for r in self.retries]
        if self.results:
            doc["results"] = [r.render() for r in self.results]
        if self.sidecars:
            doc["sidecars"] = [s.render() for s in self.sidecars]
        doc["taskSpec"] = dict(self.task_spec)
        return doc


# --- PipelineRun -------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChildReference:
    """A TaskRun the PipelineRun created, with the `when` expressions as they were evaluated."""

    name: str
    pipeline_task: str
    display_name: str | None = None
    when: tuple[WhenExpression, ...] = ()
    kind: str = "TaskRun"  # or PipelineRun: a pipeline task that runs a Pipeline (engine/child_pipelines.py)

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "apiVersion": "tekton.dev/v1",
            "kind": self.kind,
            "name": self.name,
            "pipelineTaskName": self.pipeline_task,
        }
        if self.display_name:
            doc["displayName"] = self.display_name
        if self.when:
            doc["whenExpressions"] = _when(self.when)
        return doc


@dataclass(frozen=True)
class SkippedTask:
    name: str
    reason: str  # one of Tekton's skip reasons (engine.reasons.SKIP_*)
    when: tuple[WhenExpression, ...] = ()

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {"name": self.name, "reason": self.reason}
        if self.when:
            doc["whenExpressions"] = _when(self.when)
        return doc


@dataclass(frozen=True)
class PipelineRunResult:
    name: str
    value: ParamValue

    def render(self) -> dict[str, Any]:
        return {"name": self.name, "value": self.value}


@dataclass(frozen=True)
class PipelineRunStatus:
    condition: Condition
    start_time: datetime
    pipeline_spec: Mapping[str, Any]
    children: tuple[ChildReference, ...] = ()
    skipped: tuple[SkippedTask, ...] = ()
    finally_start_time: datetime | None = None
    completion_time: datetime | None = None
    results: tuple[PipelineRunResult, ...] = ()

    def render(self) -> dict[str, Any]:
        doc: dict[str, Any] = {
            "conditions": [self.condition.render()],
            "startTime": rfc3339(self.start_time),
        }
        if self.completion_time is not None:
            doc["completionTime"] = rfc3339(self.completion_time)
        if self.results:
            doc["results"] = [r.render() for r in self.results]
        doc["pipelineSpec"] = dict(self.pipeline_spec)
        if self.skipped:
            doc["skippedTasks"] = [s.render() for s in self.skipped]
        if self.children:
            doc["childReferences"] = [c.render() for c in self.children]
        if self.finally_start_time is not None:
            doc["finallyStartTime"] = rfc3339(self.finally_start_time)
        return doc


def ended(status: Mapping[str, Any], condition: Condition) -> dict[str, Any]:
    """A rendered status ended from outside its engine (cancelled before start, refused, engine gone):
    `condition` replaces the Succeeded condition and the completion time is set; the rest is kept, so a
    description still shows how far the run got."""
    others = [c for c in status.get("conditions", []) if c.get("type") != "Succeeded"]
    return {
        **status,
        "conditions": [condition.render(), *others],
        "completionTime": rfc3339(condition.at),
    }
