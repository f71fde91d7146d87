"""The thresholds file, validated with pydantic (the edge); `thresholds` turns it into frozen values.

```yaml
models:
  anomaly-detector:
    load_timeout_s: 30
    holdout: {source: synthetic, hours: 72, seed: 1042}
    metrics:
      f1: {min: 0.15, change: {absolute: 0.1, relative: 0.3}}
      flagged_rate: {direction: lower_is_better, max: 0.12}
      roc_auc: null            # removes a default threshold
```
"""

from __future__ import annotations

import math

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from retrain.gate.thresholds import (
    DIRECTIONS,
    ChangeThreshold,
    Direction,
    HoldoutConfig,
    HoldoutSource,
    MetricThreshold,
    ModelGate,
    merged_metrics,
)


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _finite(value: float | None) -> float | None:
    if value is not None and not math.isfinite(value):
        raise ValueError("must be a finite number")
    return value


class ChangeSpec(_Strict):
    absolute: float | None = Field(default=None, ge=0)
    relative: float | None = Field(default=None, ge=0)

    @model_validator(mode="after")
    def _some(self) -> ChangeSpec:
        if self.absolute is None and self.relative is None:
            raise ValueError("a change threshold needs `absolute` and/or `relative`")
        return self


class MetricSpec(_Strict):
    direction: Direction | None = None
    min: float | None = None
    max: float | None = None
    change: ChangeSpec | None = None

    _check_min = field_validator("min", "max")(_finite)

    @model_validator(mode="after")
    def _some(self) -> MetricSpec:
        if self.min is None and self.max is None and self.change is None:
            raise ValueError("a metric threshold needs `min`, `max` and/or `change`")
        if self.min is not None and self.max is not None and self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self

    def value(self, name: str) -> MetricThreshold:
        change = None if self.change is None else ChangeThreshold(self.change.absolute, self.change.relative)
        direction = self.direction or DIRECTIONS.get(name, "higher_is_better")
        return MetricThreshold(name, direction, self.min, self.max, change)


class HoldoutSpec(_Strict):
    source: HoldoutSource | None = None
    hours: float | None = Field(default=None, gt=0, le=24 * 366)
    seed: int | None = Field(default=None, ge=0)
    infra_rows: int | None = Field(default=None, ge=1, le=1000)


class ModelSpec(_Strict):
    metrics: dict[str, MetricSpec | None] = Field(default_factory=dict)
    holdout: HoldoutSpec | None = None
    load_timeout_s: float | None = Field(default=None, gt=0)
    request_timeout_s: float | None = Field(default=None, gt=0)
    infra_timeout_s: float | None = Field(default=None, gt=0)
    min_artefact_bytes: int | None = Field(default=None, ge=1)

    def merge(self, base: ModelGate, *, origin: str) -> ModelGate:
        holdout = base.holdout
        if self.holdout is not None:
            spec = self.holdout
            holdout = HoldoutConfig(
                source=spec.source or holdout.source,
                hours=spec.hours or holdout.hours,
                seed=spec.seed if spec.seed is not None else holdout.seed,
                infra_rows=spec.infra_rows or holdout.infra_rows,
            )
        overrides = {name: None if s is None else s.value(name) for name, s in self.metrics.items()}
        return ModelGate(
            model=base.model,
            metrics=merged_metrics(base.metrics, overrides),
            holdout=holdout,
            load_timeout_s=self.load_timeout_s or base.load_timeout_s,
            request_timeout_s=self.request_timeout_s or base.request_timeout_s,
            infra_timeout_s=self.infra_timeout_s or base.infra_timeout_s,
            min_artefact_bytes=self.min_artefact_bytes or base.min_artefact_bytes,
            origin=origin,
        )


class ThresholdsFile(_Strict):
    models: dict[str, ModelSpec] = Field(default_factory=dict)
