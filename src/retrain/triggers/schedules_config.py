"""The `schedules:` section of retrain.yaml: which model trains when; what a late or overlapping fire does.

```yaml
schedules:                          # absent: the platform's two weekly jobs below; [] : no schedules
  - name: anomaly-detector-weekly
    model: anomaly-detector
    cron: "0 2 * * 0"               # 5 fields or @weekly-style macros
    time_zone: UTC                  # IANA name; fire times follow its daylight saving time
    training_hours: 168
    data_source: hybrid
    gpu: false                      # null: the model's default pipeline
    concurrency_policy: Forbid      # Allow | Forbid | Replace (per schedule)
    starting_deadline_seconds: 21600  # a fire missed by more than this (downtime) is skipped; null: no limit
    suspend: false
```

Validated with pydantic at the edge and turned into `Schedule` values (checked cron and time zone, and the
`TrainingRequest` each fire sends) by `to_schedules`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, field_validator, model_validator

from retrain.app.requests import TrainingRequest, check_request
from retrain.drift.yamlsection import Section, read_section, validate
from retrain.errors import InvalidInput, Location
from retrain.triggers.cron import parse_cron
from retrain.triggers.scheduler import Schedule

DOCS = "docs/schedules.md"
DEFAULT_STARTING_DEADLINE_S = 6 * 3600
_NAME = r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$"
# `check_request` names the CLI's flags; here the YAML keys.
_REQUEST_FIELDS = {"data-source": "data_source", "training-hours": "training_hours", "model": "model"}


class ScheduleSpec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=_NAME, max_length=52)
    model: str = Field(min_length=1)
    cron: str
    time_zone: str = "UTC"
    training_hours: str = "168"
    data_source: Literal["synthetic", "prometheus", "hybrid"] = "hybrid"
    gpu: bool | None = None
    notebook_path: str | None = None
    inference_service: str | None = None
    health_check: bool = True
    concurrency_policy: Literal["Allow", "Forbid", "Replace"] = "Forbid"
    starting_deadline_seconds: int | None = Field(DEFAULT_STARTING_DEADLINE_S, ge=1)
    suspend: bool = False

    @field_validator("training_hours", mode="before")
    @classmethod
    def _hours(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool):
            return f"{value:g}"
        return value


DEFAULT_SCHEDULES: tuple[ScheduleSpec, ...] = (
    ScheduleSpec(
        name="anomaly-detector-weekly", model="anomaly-detector", cron="0 2 * * 0",
        training_hours="168", gpu=False,
    ),
    ScheduleSpec(
        name="predictive-analytics-weekly", model="predictive-analytics", cron="0 3 * * 0",
        training_hours="720", gpu=True,
    ),
)  # fmt: skip


class SchedulesSection(RootModel[list[ScheduleSpec]]):
    """The whole section: a list of schedules with unique names (absent: `DEFAULT_SCHEDULES`)."""

    root: list[ScheduleSpec] = Field(default_factory=lambda: list(DEFAULT_SCHEDULES))

    @model_validator(mode="after")
    def _unique(self) -> SchedulesSection:
        seen: set[str] = set()
        for spec in self.root:
            if spec.name in seen:
                raise ValueError(f"two schedules are named {spec.name!r}; names must be unique")
            seen.add(spec.name)
        return self


REQUEST_FIELDS = (
    "training_hours",
    "data_source",
    "notebook_path",
    "inference_service",
    "gpu",
    "health_check",
)
BaseRequest = Callable[[str], TrainingRequest]


def _request(spec: ScheduleSpec, base: BaseRequest | None) -> TrainingRequest:
    """With a `base` (the service's request for the model: its defaults and model entry), only the fields
    the schedule sets explicitly override it; without one, every field comes from the schedule."""
    given = {k: getattr(spec, k) for k in REQUEST_FIELDS if base is None or k in spec.model_fields_set}
    start = base(spec.model) if base is not None else TrainingRequest(model=spec.model)
    labels = {**start.labels, "retrain.dev/schedule": spec.name}
    return replace(start, **given, trigger="cron", labels=labels)


def to_schedules(
    specs: list[ScheduleSpec] | SchedulesSection,
    *,
    file: str | None = None,
    node: Any = None,
    base: BaseRequest | None = None,
    request_overrides: Mapping[str, Any] | None = None,
) -> list[Schedule]:
    """Checked `Schedule` values. `base(model)` gives the service's request for a model (defaults and the
    model's entry of retrain.yaml); `request_overrides` are fields set on every request afterwards."""
    from retrain.drift.yamlsection import line_of

    items = specs.root if isinstance(specs, SchedulesSection) else specs
    out: list[Schedule] = []
    for i, spec in enumerate(items):
        where_base = f"schedules[{i}]"
        try:
            cron = parse_cron(spec.cron, spec.time_zone, field_path=f"{where_base}.cron")
            request = _request(spec, base)
            if request_overrides:
                request = replace(request, **request_overrides)
            check_request(request)
        except InvalidInput as err:
            where = err.location or Location()
            path = _REQUEST_FIELDS.get(where.field or "", where.field or where_base)
            if not path.startswith(where_base):
                path = f"{where_base}.{path}"
            parts = [p for p in path.replace("[", ".").replace("]", "").split(".") if p][1:]
            keys: list[str | int] = [int(p) if p.isdigit() else p for p in parts]
            raise InvalidInput(
                err.message,
                location=Location(
                    file=file, line=line_of(node, keys) if node is not None else None, field=path
                ),
                hint=err.hint,
            ) from None
        out.append(
            Schedule(
                name=spec.name,
                cron=cron,
                request=request,
                policy=spec.concurrency_policy,
                starting_deadline_s=spec.starting_deadline_seconds,
                suspend=spec.suspend,
            )
        )
    return out


def parse_schedules(
    data: Any, *, file: str = "<schedules>", node: Any = None, base: BaseRequest | None = None
) -> list[Schedule]:
    """The section's raw YAML value (None: the defaults) as checked schedules."""
    section = Section("schedules", data, node, file)
    parsed = validate(SchedulesSection, section, docs=DOCS) if data is not None else SchedulesSection()
    return to_schedules(parsed, file=file, node=node, base=base)


def load_schedules(path: Path | None) -> list[Schedule]:
    """The schedules of a retrain.yaml (the defaults when there is no file or no `schedules:` section)."""
    if path is None:
        return parse_schedules(None)
    section = read_section(path, "schedules")
    return parse_schedules(section.data, file=section.file, node=section.node)
