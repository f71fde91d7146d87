"""Request bodies of the API (pydantic at the edge): unknown fields and wrong types are a 400 that names the
field, with "did you mean" for a misspelt one."""

from __future__ import annotations

import math
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, StrictBool, ValidationError, field_validator

from retrain.errors import InvalidInput, InvalidInputs
from retrain.tekton.loader import SourceMap
from retrain.tekton.problems import validation_problems

MODEL_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
MAX_HOURS = 24 * 366 * 5  # five years of history is more than any source keeps
M = TypeVar("M", bound=BaseModel)


class RunBody(BaseModel):
    """Start the training pipeline of a model, as `retrain trigger` does."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    model: str = Field(
        min_length=1,
        max_length=40,
        pattern=MODEL_NAME,
        description="anomaly-detector, predictive-analytics, or a custom model (with notebook_path and "
        "inference_service).",
    )
    training_hours: str | None = Field(
        None, description="Training window in hours (24, 168, 720); default: the model's configuration."
    )
    data_source: Literal["synthetic", "prometheus", "hybrid"] | None = None
    notebook_path: str | None = Field(
        None, max_length=4096, description="Notebook on the service's machine (required for custom models)."
    )
    inference_service: str | None = Field(None, max_length=63, pattern=MODEL_NAME)
    gpu: StrictBool | None = Field(
        None, description="true: the GPU pipeline; false: the CPU one; null: the model's."
    )
    health_check: StrictBool | None = Field(None, description="false: only the load checks before deploy.")

    @field_validator("training_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            value = f"{value:g}"
        if isinstance(value, str):
            try:
                hours = float(value)
            except ValueError:
                hours = math.nan
            if not 0 < hours <= MAX_HOURS:  # also refuses nan and inf
                raise ValueError(f"training hours {value!r} must be a number of hours, 0 < h <= {MAX_HOURS}")
        return value


class RerunBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    from_failed: bool = True  # the tasks that succeeded keep their results and are not run again


class CancelBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    mode: Literal["Cancelled", "CancelledRunFinally", "StoppedRunFinally"] = "Cancelled"


def parse_body(cls: type[M], data: Any, *, what: str) -> M:
    if not isinstance(data, dict):
        raise InvalidInput(f"{what}: the body must be a JSON object, not {type(data).__name__}")
    try:
        return cls.model_validate(data)
    except ValidationError as exc:
        problems = validation_problems(exc, data, cls, SourceMap("request body"))
        raise (problems[0] if len(problems) == 1 else InvalidInputs(problems)) from None
