"""`fetch(model, source, hours, settings) -> Dataset`: the one entry point of the data sources.

Light at import time (no pandas, numpy or httpx until `fetch` runs), so the CLI can import the source names.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypedDict

from retrain.data.contracts import builtin_contract, unknown_name
from retrain.data.settings import DataSettings
from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    import pandas as pd

    from retrain.data.promapi import PrometheusClient

SOURCES: tuple[str, ...] = ("synthetic", "prometheus", "hybrid")
MAX_HOURS = 24 * 366  # one year: beyond it a 1-minute frame no longer fits comfortably in memory


class DatasetInfo(TypedDict):
    """What a model version's metadata records about its training data."""

    data_source_requested: str
    data_source_effective: str
    fallback_reason: str | None
    hours: float
    start: str | None
    end: str | None
    rows: int
    step_seconds: int


@dataclass(frozen=True)
class Dataset:
    """Raw metrics on the model's grid: DatetimeIndex (UTC) `timestamp`, the model's metric columns in
    contract order, `source` ("synthetic" / "prometheus" per row) and, for the anomaly detector,
    `is_anomaly` (nullable Int8: 1/0 for synthetic rows, <NA> for real rows, which carry no labels)."""

    model: str
    frame: pd.DataFrame
    source_requested: str
    source_effective: str
    fallback_reason: str | None
    hours: float
    start: datetime | None
    end: datetime | None
    step_seconds: int

    @property
    def rows(self) -> int:
        return len(self.frame)

    def info(self) -> DatasetInfo:
        return {
            "data_source_requested": self.source_requested,
            "data_source_effective": self.source_effective,
            "fallback_reason": self.fallback_reason,
            "hours": self.hours,
            "start": None if self.start is None else self.start.isoformat(),
            "end": None if self.end is None else self.end.isoformat(),
            "rows": self.rows,
            "step_seconds": self.step_seconds,
        }


def check_source(source: str) -> str:
    if source not in SOURCES:
        raise unknown_name("data source", source, SOURCES, field="data-source")
    return source


def check_hours(hours: float, grid_seconds: int = 60) -> float:
    """A training window must be positive, finite, hold at least one grid point and at most a year."""
    valid = not isinstance(hours, bool) and isinstance(hours, int | float) and math.isfinite(hours)
    if not valid or hours * 3600 < grid_seconds or hours > MAX_HOURS:
        raise InvalidInput(
            f"training window must be between {grid_seconds / 3600:g} and {MAX_HOURS} hours, got {hours!r}",
            location=Location(field="training-hours"),
            hint="give the window in hours, for example 24, 168 (a week) or 720 (30 days)",
        )
    return float(hours)


def fetch(
    model: str,
    source: str,
    hours: float,
    settings: DataSettings | None = None,
    *,
    end: datetime | None = None,
    environ: Mapping[str, str] | None = None,
    client_factory: Callable[[], PrometheusClient] | None = None,
) -> Dataset:
    """The last `hours` before `end` (default: now) of `model`'s raw metrics from `source`.

    `client_factory` replaces the Prometheus client (tests inject one with a fake sleep); `environ` is where
    a bearer token named by `bearer_token_env` is looked up (default: the process environment).
    """
    check_source(source)
    contract = builtin_contract(model)
    hours = check_hours(hours, contract.grid_seconds)
    settings = settings or DataSettings()
    stop = datetime.now(UTC) if end is None else end if end.tzinfo else end.replace(tzinfo=UTC)

    from retrain.data.hybrid import hybrid_frame, synthetic_window
    from retrain.data.promapi import PrometheusClient
    from retrain.data.prometheus import prometheus_frame

    def make_client() -> PrometheusClient:
        return PrometheusClient(settings.prometheus, environ=environ)

    factory = client_factory or make_client
    reason: str | None = None
    effective = source
    if source == "synthetic":
        frame = synthetic_window(model, hours, stop, settings)
    elif source == "prometheus":
        with factory() as client:
            frame = prometheus_frame(model, hours, stop, client)
    else:
        result = hybrid_frame(model, hours, stop, settings, factory)
        frame, effective, reason = result.frame, result.effective, result.fallback_reason
    index = frame.index
    return Dataset(
        model=model,
        frame=frame,
        source_requested=source,
        source_effective=effective,
        fallback_reason=reason,
        hours=hours,
        start=index[0].to_pydatetime() if len(index) else None,
        end=index[-1].to_pydatetime() if len(index) else None,
        step_seconds=contract.grid_seconds,
    )
