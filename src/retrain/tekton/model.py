"""The Tekton v1 object model (tekton.dev/v1): Task, Pipeline, TaskRun, PipelineRun.

Field names and shapes follow the Tekton v1 API exactly (camelCase on the wire, snake_case in Python). Every
model forbids unknown fields, which makes us stricter than the published CRDs (they accept anything); the
loader turns pydantic's errors into messages with file:line, field path and "did you mean".

Fields that only mean something to a Kubernetes pod (securityContext, computeResources, podTemplate, ...) are
accepted and kept as opaque JSON, so the same YAML stays valid for a real cluster; the engine records them and
ignores them.

The common parts (base model, metadata, params, results, workspaces) are model_base.py; steps, sidecars,
refs and StepAction are model_steps.py; every name is importable from here.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from retrain.tekton.model_base import (
    API_VERSION,
    ObjectMeta,
    Opaque,
    Param,
    ParamSpec,
    ParamType,
    ParamValue,
    PersistentVolumeClaimSource,
    PipelineResult,
    PipelineWorkspaceDeclaration,
    PropertySpec,
    TaskResult,
    TektonModel,
    WorkspaceBinding,
    WorkspaceDeclaration,
    WorkspacePipelineTaskBinding,
    WorkspaceUsage,
)
from retrain.tekton.model_steps import (
    STEP_ACTION_API_VERSIONS,
    EnvVar,
    PipelineRef,
    Ref,
    Sidecar,
    StdioConfig,
    Step,
    StepAction,
    StepActionSpec,
    StepTemplate,
    TaskRef,
    WhenExpression,
)

__all__ = [
    "API_VERSION",
    "API_VERSIONS",
    "KINDS",
    "STEP_ACTION_API_VERSIONS",
    "EmbeddedTask",
    "EnvVar",
    "IncludeParams",
    "Matrix",
    "ObjectMeta",
    "Opaque",
    "Param",
    "ParamSpec",
    "ParamType",
    "ParamValue",
    "PersistentVolumeClaimSource",
    "Pipeline",
    "PipelineRef",
    "PipelineResult",
    "PipelineRun",
    "PipelineRunSpec",
    "PipelineRunSpecStatus",
    "PipelineSpec",
    "PipelineTask",
    "PipelineTaskRunSpec",
    "PipelineTaskRunTemplate",
    "PipelineWorkspaceDeclaration",
    "PropertySpec",
    "Ref",
    "Sidecar",
    "StdioConfig",
    "Step",
    "StepAction",
    "StepActionSpec",
    "StepSpec",
    "StepTemplate",
    "Task",
    "TaskRef",
    "TaskResult",
    "TaskRun",
    "TaskRunDebug",
    "TaskRunSpec",
    "TaskSpec",
    "TektonModel",
    "TektonObject",
    "TimeoutFields",
    "WhenExpression",
    "WorkspaceBinding",
    "WorkspaceDeclaration",
    "WorkspacePipelineTaskBinding",
    "WorkspaceUsage",
]


# --- Task -------------------------------------------------------------------------------------------------


class TaskSpec(TektonModel):
    display_name: str | None = None
    description: str | None = None
    params: list[ParamSpec] = Field(default_factory=list)
    results: list[TaskResult] = Field(default_factory=list)
    workspaces: list[WorkspaceDeclaration] = Field(default_factory=list)
    steps: list[Step] = Field(default_factory=list)
    step_template: StepTemplate | None = None
    sidecars: list[Sidecar] | None = None
    volumes: list[Opaque] | None = None


class EmbeddedTask(TaskSpec):
    """A `taskSpec` inside a Pipeline task: the TaskSpec plus optional metadata (and apiVersion/kind/spec for
    custom tasks, which the local engine does not run)."""

    metadata: Opaque | None = None
    api_version: str | None = None
    kind: str | None = None
    spec: Opaque | None = None


class Task(TektonModel):
    api_version: Literal["tekton.dev/v1"] = API_VERSION
    kind: Literal["Task"] = "Task"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TaskSpec


# --- Pipeline ---------------------------------------------------------------------------------------------


class IncludeParams(TektonModel):
    name: str | None = None
    params: list[Param] = Field(default_factory=list)


class Matrix(TektonModel):
    params: list[Param] = Field(default_factory=list)
    include: list[IncludeParams] = Field(default_factory=list)


class PipelineTask(TektonModel):
    name: str
    display_name: str | None = None
    description: str | None = None
    task_ref: TaskRef | None = None
    task_spec: EmbeddedTask | None = None
    pipeline_ref: PipelineRef | None = None
    pipeline_spec: Opaque | None = None
    params: list[Param] = Field(default_factory=list)
    matrix: Matrix | None = None
    workspaces: list[WorkspacePipelineTaskBinding] = Field(default_factory=list)
    run_after: list[str] = Field(default_factory=list)
    when: list[WhenExpression] = Field(default_factory=list)
    retries: int = 0
    timeout: str | None = None
    on_error: Literal["continue", "stopAndFail"] | None = None


class PipelineSpec(TektonModel):
    display_name: str | None = None
    description: str | None = None
    params: list[ParamSpec] = Field(default_factory=list)
    workspaces: list[PipelineWorkspaceDeclaration] = Field(default_factory=list)
    tasks: list[PipelineTask] = Field(default_factory=list)
    finally_: list[PipelineTask] = Field(default_factory=list, alias="finally")
    results: list[PipelineResult] = Field(default_factory=list)


class Pipeline(TektonModel):
    api_version: Literal["tekton.dev/v1"] = API_VERSION
    kind: Literal["Pipeline"] = "Pipeline"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineSpec


# --- runs -------------------------------------------------------------------------------------------------


class TimeoutFields(TektonModel):
    pipeline: str | None = None
    tasks: str | None = None
    finally_: str | None = Field(default=None, alias="finally")


class PipelineTaskRunTemplate(TektonModel):
    service_account_name: str | None = None
    pod_template: Opaque | None = None


class StepSpec(TektonModel):
    name: str
    compute_resources: Opaque


class PipelineTaskRunSpec(TektonModel):
    pipeline_task_name: str
    service_account_name: str | None = None
    pod_template: Opaque | None = None
    step_specs: list[StepSpec] | None = None
    sidecar_specs: list[StepSpec] | None = None
    metadata: Opaque | None = None
    compute_resources: Opaque | None = None
    timeout: str | None = None


PipelineRunSpecStatus = Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally", "PipelineRunPending"]


class PipelineRunSpec(TektonModel):
    pipeline_ref: PipelineRef | None = None
    pipeline_spec: PipelineSpec | None = None
    params: list[Param] = Field(default_factory=list)
    workspaces: list[WorkspaceBinding] = Field(default_factory=list)
    timeouts: TimeoutFields | None = None
    task_run_template: PipelineTaskRunTemplate | None = None
    task_run_specs: list[PipelineTaskRunSpec] | None = None
    status: PipelineRunSpecStatus | None = None
    managed_by: str | None = None


class PipelineRun(TektonModel):
    api_version: Literal["tekton.dev/v1"] = API_VERSION
    kind: Literal["PipelineRun"] = "PipelineRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: PipelineRunSpec
    status: Opaque | None = None


class TaskRunDebug(TektonModel):
    breakpoints: Opaque | None = None


class TaskRunSpec(TektonModel):
    task_ref: TaskRef | None = None
    task_spec: TaskSpec | None = None
    params: list[Param] = Field(default_factory=list)
    workspaces: list[WorkspaceBinding] = Field(default_factory=list)
    timeout: str | None = None
    retries: int = 0
    service_account_name: str | None = None
    pod_template: Opaque | None = None
    compute_resources: Opaque | None = None
    step_specs: list[StepSpec] | None = None
    sidecar_specs: list[StepSpec] | None = None
    debug: TaskRunDebug | None = None
    status: Literal["TaskRunCancelled"] | None = None
    status_message: str | None = None
    managed_by: str | None = None


class TaskRun(TektonModel):
    api_version: Literal["tekton.dev/v1"] = API_VERSION
    kind: Literal["TaskRun"] = "TaskRun"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: TaskRunSpec
    status: Opaque | None = None


TektonObject = Task | Pipeline | TaskRun | PipelineRun | StepAction
KINDS: dict[str, type[TektonObject]] = {
    "Task": Task,
    "Pipeline": Pipeline,
    "TaskRun": TaskRun,
    "PipelineRun": PipelineRun,
    "StepAction": StepAction,
}
# The apiVersions each kind is served at (tekton.dev/v1 unless listed).
API_VERSIONS: dict[str, tuple[str, ...]] = {"StepAction": STEP_ACTION_API_VERSIONS}
