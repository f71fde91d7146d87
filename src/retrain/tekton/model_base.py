"""The Tekton object model's common parts: the base model, metadata, params, results and workspaces.

model.py re-exports every name here; see its docstring for the rules every model follows.
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


def stringify_scalar(value: Any) -> Any:
    """YAML turns `value: 3` or `value: true` into numbers/booleans; Tekton reads them as strings."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, list):
        return [stringify_scalar(v) if isinstance(v, bool | int | float) else v for v in value]
    if isinstance(value, dict):
        return {k: stringify_scalar(v) if isinstance(v, bool | int | float) else v for k, v in value.items()}
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

    _coerce_default = field_validator("default", mode="before")(stringify_scalar)

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

    _coerce_value = field_validator("value", mode="before")(stringify_scalar)


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
