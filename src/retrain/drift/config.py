"""The `drift:` section of retrain.yaml: when the service checks its models for drift, and the thresholds.

```yaml
drift:
  enabled: true
  schedule: "0 * * * *"         # cron (5 fields or @hourly-style macros), in time_zone
  time_zone: UTC
  hours: 24                     # the live window; keep it >= 24 for models trained on daily cycles
  data_source: prometheus       # synthetic | prometheus | hybrid
  models: null                  # null: every model with a serving version; or a list of names
  pushgateway: null             # also push the gauges there (the service's /metrics has them anyway)
  thresholds: {psi: 0.25, psi_moderate: 0.1, ks_alpha: 0.01, ks_statistic: 0.2, share: 0.3}
  model_thresholds:             # per model, merged over `thresholds`
    predictive-analytics: {share: 0.4}
```
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from retrain.drift.check import Thresholds
from retrain.drift.yamlsection import read_section, validate

DOCS = "docs/drift.md"
_CRON_SHAPE = re.compile(r"^(@[a-z]+|\S+(\s+\S+){4})$")


class ThresholdsModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    psi: float = Field(0.25, gt=0)
    psi_moderate: float = Field(0.1, gt=0)
    ks_alpha: float = Field(0.01, gt=0, lt=1)
    ks_statistic: float = Field(0.2, gt=0, le=1)
    share: float = Field(0.3, gt=0, le=1)

    @model_validator(mode="after")
    def _bands(self) -> ThresholdsModel:
        if self.psi_moderate > self.psi:
            raise ValueError(f"psi_moderate ({self.psi_moderate}) must not exceed psi ({self.psi})")
        return self


class ThresholdOverrides(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    psi: float | None = Field(None, gt=0)
    psi_moderate: float | None = Field(None, gt=0)
    ks_alpha: float | None = Field(None, gt=0, lt=1)
    ks_statistic: float | None = Field(None, gt=0, le=1)
    share: float | None = Field(None, gt=0, le=1)


class DriftSection(BaseModel):
    """The `drift:` section as written in retrain.yaml (validated at the edge, then `settings()`)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True
    schedule: str = "0 * * * *"
    time_zone: str = "UTC"
    hours: float = Field(24.0, gt=0, le=24 * 366)
    data_source: Literal["synthetic", "prometheus", "hybrid"] = "prometheus"
    models: list[str] | None = None
    pushgateway: str | None = None
    thresholds: ThresholdsModel = ThresholdsModel()
    model_thresholds: dict[str, ThresholdOverrides] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _shape(self) -> DriftSection:
        # The full cron check (and the time zone's) happens in `retrain.triggers.cron`, which the service
        # applies when it schedules the checks; here only the shape, so this package stays below triggers.
        if not _CRON_SHAPE.match(self.schedule.strip()):
            raise ValueError(f"schedule {self.schedule!r} is not a 5-field cron expression or an @macro")
        if self.pushgateway is not None and not re.match(r"^https?://[^/\s]+", self.pushgateway):
            raise ValueError(f"pushgateway {self.pushgateway!r} is not an http(s) URL")
        return self

    def settings(self) -> DriftSettings:
        base = Thresholds(**self.thresholds.model_dump())
        per_model = {
            name: replace(base, **{k: v for k, v in o.model_dump().items() if v is not None})
            for name, o in self.model_thresholds.items()
        }
        return DriftSettings(
            enabled=self.enabled,
            schedule=self.schedule.strip(),
            time_zone=self.time_zone,
            hours=self.hours,
            data_source=self.data_source,
            models=None if self.models is None else tuple(self.models),
            pushgateway=self.pushgateway or None,
            thresholds=base,
            model_thresholds=per_model,
        )


@dataclass(frozen=True)
class DriftSettings:
    enabled: bool = True
    schedule: str = "0 * * * *"
    time_zone: str = "UTC"
    hours: float = 24.0
    data_source: str = "prometheus"
    models: tuple[str, ...] | None = None
    pushgateway: str | None = None
    thresholds: Thresholds = field(default_factory=Thresholds)
    model_thresholds: dict[str, Thresholds] = field(default_factory=dict)

    def thresholds_for(self, model: str) -> Thresholds:
        return self.model_thresholds.get(model, self.thresholds)


def load_drift_settings(path: Path | None) -> DriftSettings:
    """The `drift:` section of `path` (defaults when there is no file or no section)."""
    if path is None:
        return DriftSettings()
    return validate(DriftSection, read_section(path, "drift"), docs=DOCS).settings()
