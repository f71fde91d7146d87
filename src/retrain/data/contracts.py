"""Feature contracts: the names, order, dtype and width a model was trained on and a consumer must send.

One contract per built-in model. It is stored with every model version (`to_json`), and the health checks,
the inference server and the consumer-facing docs all read that stored contract, so the feature count can
never drift between them again (the 120-vs-5 and 4-vs-5 mismatches of the origin platform).
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any, TypedDict

from retrain.errors import InvalidInput, Location

ANOMALY_DETECTOR = "anomaly-detector"
PREDICTIVE_ANALYTICS = "predictive-analytics"
BUILTIN_MODELS: tuple[str, ...] = (ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS)

# The raw metrics each built-in model reads, in contract order (DESIGN.md).
ANOMALY_METRICS: tuple[str, ...] = (
    "node_cpu_utilization",
    "node_memory_utilization",
    "pod_cpu_usage",
    "pod_memory_usage",
    "container_restart_count",
)
ANOMALY_DERIVED: tuple[str, ...] = (
    "value", "mean_5m", "std_5m", "min_5m", "max_5m", "lag_1", "lag_5", "diff", "pct_change",
)  # fmt: skip
FORECAST_METRICS: tuple[str, ...] = ("cpu_usage", "memory_usage", "disk_usage", "network_in", "network_out")

# Grids: the anomaly detector looks at minutes, the forecaster at 5-minute points (a 1 h horizon is 12 steps).
ANOMALY_GRID_S = 60
FORECAST_GRID_S = 300
DEFAULT_HORIZON_MINUTES = 60

CONTRACT_SCHEMA = 1


class ContractJSON(TypedDict):
    """The persisted shape of a contract (inside a version's `metadata.json`)."""

    schema: int
    model: str
    feature_names: list[str]
    dtype: str
    width: int
    target_names: list[str]
    horizon_minutes: int | None
    grid_seconds: int


@dataclass(frozen=True)
class FeatureContract:
    model: str
    feature_names: tuple[str, ...]
    grid_seconds: int
    dtype: str = "float64"
    target_names: tuple[str, ...] = ()
    horizon_minutes: int | None = None

    @property
    def width(self) -> int:
        return len(self.feature_names)

    @property
    def target_width(self) -> int:
        return len(self.target_names)

    def to_json(self) -> ContractJSON:
        return {
            "schema": CONTRACT_SCHEMA,
            "model": self.model,
            "feature_names": list(self.feature_names),
            "dtype": self.dtype,
            "width": self.width,
            "target_names": list(self.target_names),
            "horizon_minutes": self.horizon_minutes,
            "grid_seconds": self.grid_seconds,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any], *, where: str = "feature_contract") -> FeatureContract:
        """Read a stored contract back, refusing anything inconsistent (a width other than the name count)."""

        def bad(key: str, expected: str) -> InvalidInput:
            return InvalidInput(
                f"feature contract field {key!r} must be {expected}, got {data.get(key)!r}",
                location=Location(field=f"{where}.{key}"),
                hint="the model's metadata.json is damaged or from another tool; retrain the model",
            )

        def names(key: str) -> tuple[str, ...]:
            value = data.get(key)
            if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
                raise bad(key, "a list of feature names")
            return tuple(value)

        if data.get("schema") != CONTRACT_SCHEMA:
            raise bad("schema", str(CONTRACT_SCHEMA))
        model, dtype, width = data.get("model"), data.get("dtype"), data.get("width")
        grid, horizon = data.get("grid_seconds"), data.get("horizon_minutes")
        if not isinstance(model, str) or not model:
            raise bad("model", "a model name")
        if dtype != "float64":
            raise bad("dtype", "'float64'")
        features, targets = names("feature_names"), names("target_names")
        if isinstance(width, bool) or width != len(features):
            raise bad("width", f"the number of feature names ({len(features)})")
        if not isinstance(grid, int) or isinstance(grid, bool) or grid <= 0:
            raise bad("grid_seconds", "a positive integer")
        if horizon is not None and (
            not isinstance(horizon, int) or isinstance(horizon, bool) or horizon <= 0
        ):
            raise bad("horizon_minutes", "null or a positive integer")
        return cls(model, features, grid, dtype, targets, horizon)

    def check_width(self, rows: Iterable[object], *, field: str = "instances") -> None:
        """Refuse any row whose length is not the contract's width, naming what a consumer must send."""
        for index, row in enumerate(rows):
            if isinstance(row, str | bytes) or not isinstance(row, Sized):
                raise InvalidInput(
                    f"row {index} is not a list of {self.width} numbers",
                    location=Location(field=f"{field}[{index}]"),
                    hint=self.describe(),
                )
            if len(row) != self.width:
                raise InvalidInput(
                    f"{self.model} expects {self.width} features per row, row {index} has {len(row)}",
                    location=Location(field=f"{field}[{index}]"),
                    hint=self.describe(),
                )

    def describe(self) -> str:
        """What a consumer must send, in one line (used in error messages and docs)."""
        return f"send {self.width} {self.dtype} values per row in this order: {', '.join(self.feature_names)}"


def anomaly_feature_names() -> tuple[str, ...]:
    return tuple(f"{metric}_{derived}" for metric in ANOMALY_METRICS for derived in ANOMALY_DERIVED)


def horizon_label(minutes: int) -> str:
    return f"{minutes // 60}h" if minutes % 60 == 0 else f"{minutes}m"


def check_horizon(minutes: int) -> int:
    if isinstance(minutes, bool) or minutes <= 0 or minutes % (FORECAST_GRID_S // 60) != 0:
        raise InvalidInput(
            f"forecast horizon must be a positive multiple of {FORECAST_GRID_S // 60} minutes, got {minutes}",
            location=Location(field="horizon_minutes"),
            hint="the forecaster works on a 5-minute grid; the default horizon is 60",
        )
    return minutes


def builtin_contract(model: str, *, horizon_minutes: int = DEFAULT_HORIZON_MINUTES) -> FeatureContract:
    """The contract of a built-in model; InvalidInput (with did-you-mean) for any other name."""
    if model == ANOMALY_DETECTOR:
        return FeatureContract(ANOMALY_DETECTOR, anomaly_feature_names(), ANOMALY_GRID_S)
    if model == PREDICTIVE_ANALYTICS:
        label = horizon_label(check_horizon(horizon_minutes))
        targets = tuple(f"{metric}_ahead_{label}" for metric in FORECAST_METRICS)
        return FeatureContract(
            PREDICTIVE_ANALYTICS, FORECAST_METRICS, FORECAST_GRID_S, "float64", targets, horizon_minutes
        )
    raise unknown_name("built-in model", model, BUILTIN_MODELS, field="model-name")


def raw_metrics(model: str) -> tuple[str, ...]:
    """The raw metric columns a built-in model's data frame carries."""
    builtin_contract(model)  # validates the name
    return ANOMALY_METRICS if model == ANOMALY_DETECTOR else FORECAST_METRICS


def unknown_name(kind: str, name: str, choices: Sequence[str], *, field: str) -> InvalidInput:
    """An InvalidInput for an unknown name that lists the choices and suggests the closest one."""
    close = difflib.get_close_matches(name, choices, n=1, cutoff=0.5)
    hint = f"did you mean {close[0]!r}? " if close else ""
    return InvalidInput(
        f"unknown {kind} {name!r}",
        location=Location(field=field),
        hint=f"{hint}choose one of: {', '.join(choices)}",
    )
