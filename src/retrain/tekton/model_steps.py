"""The Tekton object model's containers: steps, the stepTemplate, sidecars, refs, when expressions, and the
StepAction a step `ref:` names. model.py re-exports every name here.
"""

from __future__ import annotations

from typing import Final, Literal

from pydantic import Field, field_validator

from retrain.tekton.model_base import (
    ObjectMeta,
    Opaque,
    Param,
    ParamSpec,
    TaskResult,
    TektonModel,
    WorkspaceUsage,
    stringify_scalar,
)

# --- steps ------------------------------------------------------------------------------------------------


class EnvVar(TektonModel):
    name: str
    value: str | None = None
    value_from: Opaque | None = None

    _coerce_value = field_validator("value", mode="before")(stringify_scalar)


class StdioConfig(TektonModel):
    path: str


class WhenExpression(TektonModel):
    input: str | None = None
    operator: Literal["in", "notin"] | None = None
    values: list[str] | None = None
    cel: str | None = None

    _coerce_values = field_validator("values", mode="before")(stringify_scalar)


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

    _coerce_args = field_validator("args", "command", mode="before")(stringify_scalar)


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

    _coerce_args = field_validator("args", "command", mode="before")(stringify_scalar)


class StepAction(TektonModel):
    api_version: Literal["tekton.dev/v1beta1", "tekton.dev/v1alpha1"] = "tekton.dev/v1beta1"
    kind: Literal["StepAction"] = "StepAction"
    metadata: ObjectMeta = Field(default_factory=ObjectMeta)
    spec: StepActionSpec
