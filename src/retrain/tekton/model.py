"""The Tekton v1 object model (tekton.dev/v1): Task, Pipeline, TaskRun, PipelineRun.

Field names and shapes follow the Tekton v1 API exactly (camelCase on the wire, snake_case in Python). Every
model forbids unknown fields, which makes us stricter than the published CRDs (they accept anything); the
loader turns pydantic's errors into messages with file:line, field path and "did you mean".

Fields that only mean something to a Kubernetes pod (securityContext, computeResources, podTemplate, ...) are
accepted and kept as opaque JSON, so the same YAML stays valid for a real cluster; the engine records them and
ignores them.
"""

from __future__ import annotations

from typing import Any, Final, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator
from pydantic.alias_generators import to_camel

API_VERSION: Final = "tekton.dev/v1"

# A Kubernetes object we accept but give no local meaning to (securityContext, resources, podTemplate, ...).
Opaque = dict[str, Any]
ParamValue = str | list[str] | dict[str, str]
ParamType = Literal["string", "array", "object"]


class TektonModel(BaseModel):
    """Base of every Tekton type: camelCase aliases, unknown fields rejected, immutable."""

    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="forbid",
        frozen=True,
        strict=False,
    )


def _stringify_scalar(value: Any) -> Any:
    """YAML turns `value: 3` or `value: true` into numbers/booleans; Tekton reads them as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [_stringify_scalar(v) if isinstance(v, bool | int | float) else v for v in value]
    if isinstance(value, dict):
        return {k: _stringify_scalar(v) if isinstance(v, bool | int | float) else v for k, v in value.items()}
    return value


class ObjectMeta(TektonModel):
    name: str | None = None
    generate_name: str | None = None
    namespace: str | None = None
    labels: dict[str, str] = Field(default_factory=dict)
    annotations: dict[str, str] = Field(default_factory=dict)
    uid: str | None = None
    resource_version: str | None = None
    generation: int | None = None
    creation_timestamp: str | None = None
    owner_references: list[Opaque] | None = None
    finalizers: list[str] | None = None


# --- params -----------------------------------------------------------------------------------------------


class PropertySpec(TektonModel):
    type: Literal["string"] = "string"


class ParamSpec(TektonModel):
    name: str
    type: ParamType | None = None
    description: str | None = None
    default: ParamValue | None = None
    properties: dict[str, PropertySpec] | None = None
    enum: list[str] | None = None

    _coerce_default = field_validator("default", mode="before")(_stringify_scalar)

    @property
    def effective_type(self) -> ParamType:
        """Tekton infers the type from the default (or properties) when `type` is omitted."""
        if self.type is not None:
            return self.type
        if isinstance(self.default, list):
            return "array"
        if isinstance(self.default, dict) or self.properties:
            return "object"
        return "string"


class Param(TektonModel):
    name: str
    value: ParamValue

    _coerce_value = field_validator("value", mode="before")(_stringify_scalar)


# --- results ----------------------------------------------------------------------------------------------


class TaskResult(TektonModel):
    name: str
    type: ParamType | None = None
    description: str | None = None
    properties: dict[str, PropertySpec] | None = None
    value: ParamValue | None = None  # StepAction-produced results only

    @property
    def effective_type(self) -> ParamType:
        if self.type is not None:
            return self.type
        return "object" if self.properties else "string"


class PipelineResult(TektonModel):
    name: str
    type: ParamType | None = None
    description: str | None = None
    value: ParamValue


# --- workspaces -------------------------------------------------------------------------------------------


class WorkspaceDeclaration(TektonModel):
    name: str
    description: str | None = None
    mount_path: str | None = None
    read_only: bool = False
    optional: bool = False


class WorkspaceUsage(TektonModel):
    name: str
    mount_path: str | None = None


class PipelineWorkspaceDeclaration(TektonModel):
    name: str
    description: str | None = None
    optional: bool = False


class WorkspacePipelineTaskBinding(TektonModel):
    name: str
    workspace: str | None = None
    sub_path: str | None = None


class PersistentVolumeClaimSource(TektonModel):
    claim_name: str
    read_only: bool = False


class WorkspaceBinding(TektonModel):
    """How a run binds a workspace. Locally every kind of volume becomes a directory owned by the run."""

    name: str
    sub_path: str | None = None
    empty_dir: Opaque | None = None
    persistent_volume_claim: PersistentVolumeClaimSource | None = None
    volume_claim_template: Opaque | None = None
    config_map: Opaque | None = None
    secret: Opaque | None = None
    projected: Opaque | None = None
    csi: Opaque | None = None


# --- steps ------------------------------------------------------------------------------------------------


class EnvVar(TektonModel):
    name: str
    value: str | None = None
    value_from: Opaque | None = None

    _coerce_value = field_validator("value", mode="before")(_stringify_scalar)


class StdioConfig(TektonModel):
    path: str


class WhenExpression(TektonModel):
    input: str | None = None
    operator: Literal["in", "notin"] | None = None
    values: list[str] | None = None
    cel: str | None = None

    _coerce_values = field_validator("values", mode="before")(_stringify_scalar)


class Ref(TektonModel):
    name: str | None = None
    resolver: str | None = None
    params: list[Param] = Field(default_factory=list)


class TaskRef(Ref):
    kind: str | None = None
    api_version: str | None = None


class PipelineRef(Ref):
    api_version: str | None = None


class _ContainerFields(TektonModel):
    """Container fields shared by Step, StepTemplate and Sidecar."""

    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    working_dir: str | None = None
    env: list[EnvVar] | None = None
    env_from: list[Opaque] | None = None
    compute_resources: Opaque | None = None
    volume_mounts: list[Opaque] | None = None
    volume_devices: list[Opaque] | None = None
    image_pull_policy: str | None = None
    security_context: Opaque | None = None

    _coerce_args = field_validator("args", "command", mode="before")(_stringify_scalar)


class StepTemplate(_ContainerFields):
    pass


class Step(_ContainerFields):
    name: str | None = None
    display_name: str | None = None
    script: str | None = None
    timeout: str | None = None
    # A string, not a Literal: Tekton allows `$(params.x)` here and checks the value after substitution.
    on_error: str | None = None
    stdout_config: StdioConfig | None = None
    stderr_config: StdioConfig | None = None
    workspaces: list[WorkspaceUsage] | None = None
    results: list[TaskResult] | None = None
    params: list[Param] | None = None
    ref: Ref | None = None
    when: list[WhenExpression] | None = None


class Sidecar(_ContainerFields):
    name: str | None = None
    script: str | None = None
    workspaces: list[WorkspaceUsage] | None = None
    restart_policy: str | None = None
    ports: list[Opaque] | None = None
    lifecycle: Opaque | None = None
    liveness_probe: Opaque | None = None
    readiness_probe: Opaque | None = None
    startup_probe: Opaque | None = None
    stdin: bool | None = None
    stdin_once: bool | None = None
    tty: bool | None = None
    termination_message_path: str | None = None
    termination_message_policy: str | None = None


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


# --- StepAction (tekton.dev/v1beta1, also served as v1alpha1; there is no v1) ------------------------------

STEP_ACTION_API_VERSIONS: Final = ("tekton.dev/v1beta1", "tekton.dev/v1alpha1")


class StepActionSpec(TektonModel):
    """What a step `ref:` brings into the step (Tekton's StepActionSpec)."""

    description: str | None = None
    image: str | None = None
    command: list[str] | None = None
    args: list[str] | None = None
    env: list[EnvVar] | None = None
    script: str | None = None
    working_dir: str | None = None
    params: list[ParamSpec] = Field(default_factory=list)
    results: list[TaskResult] = Field(default_factory=list)
    security_context: Opaque | None = None
    volume_mounts: list[Opaque] | None = None

    _coerce_args = field_validator("args", "command", mode="before")(_stringify_scalar)


class StepAction(TektonModel):
    api_version: Literal["tekton.dev/v1beta1", "tekton.dev/v1alpha1"] = "tekton.dev/v1beta1"
    kind: Literal["StepAction"] = "StepAction"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: StepActionSpec


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
