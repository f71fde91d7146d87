"""Feature builders of the built-in models: the one place that turns raw metrics into model rows.

Training, the health checks and the consumer-facing docs all call `build_features`, so what a model sees
in training is exactly what a consumer is told to send.

Fill rules (DESIGN.md), applied per contiguous run of the `source` column so that a hybrid frame's
synthetic and real halves never leak into each other's windows:
1. raw metric gaps (NaN, and +/-inf, which are treated as missing) are forward-filled, then back-filled;
   a metric with no value at all in a run becomes 0;
2. derived values use trailing windows of 5 grid points (`min_periods=1`, sample std with ddof=1), lags of
   1 and 5 points, `diff` = value - lag_1 and `pct_change` = diff / lag_1;
3. whatever is still NaN or infinite (a lag before the first row, the std of one point, a change from 0)
   becomes 0.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pandas as pd

from retrain.data.contracts import (
    ANOMALY_DETECTOR,
    ANOMALY_METRICS,
    DEFAULT_HORIZON_MINUTES,
    FORECAST_GRID_S,
    FORECAST_METRICS,
    FeatureContract,
    builtin_contract,
)
from retrain.data.settings import SyntheticSettings
from retrain.data.synthetic import synthetic_frame
from retrain.errors import InvalidInput, Location

_WINDOW = 5


@dataclass(frozen=True)
class Features:
    """Model rows built from a raw frame: `inputs` has exactly the contract's columns, in order, float64."""

    contract: FeatureContract
    inputs: pd.DataFrame
    targets: pd.DataFrame | None  # forecaster: the same metrics `horizon` ahead, contract.target_names
    labels: pd.Series | None  # anomaly detector: is_anomaly (nullable; <NA> for unlabelled real rows)

    def matrix(self) -> np.ndarray:
        return self.inputs.to_numpy(dtype=np.float64)


def build_features(
    model: str, frame: pd.DataFrame, *, horizon_minutes: int = DEFAULT_HORIZON_MINUTES
) -> Features:
    """The built-in `model`'s features from a raw frame (as `retrain.data.fetch` returns it)."""
    contract = builtin_contract(model, horizon_minutes=horizon_minutes)
    if model == ANOMALY_DETECTOR:
        inputs = anomaly_features(frame)
        labels = frame["is_anomaly"].astype("Int8") if "is_anomaly" in frame.columns else None
        return Features(contract, inputs, None, labels)
    inputs, targets = forecast_features(frame, horizon_minutes=horizon_minutes)
    return Features(contract, inputs, targets, None)


def anomaly_features(frame: pd.DataFrame) -> pd.DataFrame:
    """The 45 anomaly-detector features (5 metrics x 9 derived values), one row per frame row."""
    names = builtin_contract(ANOMALY_DETECTOR).feature_names
    parts = [_anomaly_part(run) for run in _runs(_filled(frame, ANOMALY_METRICS))]
    features = pd.concat(parts) if parts else pd.DataFrame(columns=list(names), dtype=np.float64)
    features = features.replace([np.inf, -np.inf], np.nan).fillna(0.0)
    return features[list(names)].astype(np.float64)


def _anomaly_part(raw: pd.DataFrame) -> pd.DataFrame:
    columns: dict[str, pd.Series] = {}
    for metric in ANOMALY_METRICS:
        value = raw[metric]
        rolling = value.rolling(_WINDOW, min_periods=1)
        lag_1 = value.shift(1)
        diff = value - lag_1
        columns[f"{metric}_value"] = value
        columns[f"{metric}_mean_5m"] = rolling.mean()
        columns[f"{metric}_std_5m"] = rolling.std()
        columns[f"{metric}_min_5m"] = rolling.min()
        columns[f"{metric}_max_5m"] = rolling.max()
        columns[f"{metric}_lag_1"] = lag_1
        columns[f"{metric}_lag_5"] = value.shift(_WINDOW)
        columns[f"{metric}_diff"] = diff
        with np.errstate(divide="ignore", invalid="ignore"):
            columns[f"{metric}_pct_change"] = diff / lag_1
    return pd.DataFrame(columns, index=raw.index)


def forecast_features(
    frame: pd.DataFrame, *, horizon_minutes: int = DEFAULT_HORIZON_MINUTES
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Inputs (the 5 current values) and targets (the same 5 values `horizon_minutes` later).

    Rows whose target lies beyond the end of their run are dropped, so inputs and targets align row by row.
    """
    contract = builtin_contract("predictive-analytics", horizon_minutes=horizon_minutes)
    steps = horizon_minutes * 60 // FORECAST_GRID_S
    inputs: list[pd.DataFrame] = []
    targets: list[pd.DataFrame] = []
    for run in _runs(_filled(frame, FORECAST_METRICS)):
        ahead = run.shift(-steps).iloc[: max(0, len(run) - steps)]
        inputs.append(run.iloc[: len(ahead)])
        targets.append(ahead.set_axis(list(contract.target_names), axis=1))
    if sum(len(part) for part in inputs) == 0:
        raise InvalidInput(
            f"{len(frame)} rows are too few to forecast {horizon_minutes} minutes ahead",
            location=Location(field="training-hours"),
            hint=f"give a window longer than the horizon ({steps} grid points of 5 minutes)",
        )
    x, y = pd.concat(inputs), pd.concat(targets)
    x = x.replace([np.inf, -np.inf], np.nan).fillna(0.0).astype(np.float64)
    y = y.replace([np.inf, -np.inf], np.nan).fillna(0.0).astype(np.float64)
    return x[list(contract.feature_names)], y


def example_instances(model: str, rows: int = 2, *, seed: int = 42) -> list[list[float]]:
    """Feature rows a consumer could send (for the docs and the server's smoke checks), built by the same
    function as in training from a small synthetic window."""
    contract = builtin_contract(model)
    start = datetime(2024, 1, 1, 12, tzinfo=UTC)
    needed = rows + (contract.horizon_minutes or 0) * 60 // contract.grid_seconds + _WINDOW
    frame = synthetic_frame(model, start, needed, SyntheticSettings(seed=seed, anomaly_rate=0.0))
    inputs = build_features(model, frame).inputs.iloc[-rows:]
    return [[float(v) for v in row] for row in inputs.to_numpy(dtype=np.float64)]


def _filled(frame: pd.DataFrame, metrics: tuple[str, ...]) -> pd.DataFrame:
    """The metric columns as float64 with fill rule 1 applied per run, plus `source` when present."""
    missing = [m for m in metrics if m not in frame.columns]
    if missing:
        raise InvalidInput(
            f"the data frame lacks the metric column(s) {', '.join(missing)}",
            location=Location(field="frame.columns"),
            hint=f"a frame for these features needs the columns {', '.join(metrics)}",
        )
    try:
        values = frame[list(metrics)].astype(np.float64)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(
            f"the metric columns must be numeric: {exc}", location=Location(field="frame.columns")
        ) from None
    values = values.replace([np.inf, -np.inf], np.nan)
    run_ids = _run_ids(frame)
    values = values.groupby(run_ids, sort=False).ffill().groupby(run_ids, sort=False).bfill().fillna(0.0)
    return values.assign(_run=run_ids.to_numpy())


def _run_ids(frame: pd.DataFrame) -> pd.Series:
    if "source" not in frame.columns:
        return pd.Series(np.zeros(len(frame), dtype=np.int64), index=frame.index)
    source = frame["source"]
    return (source != source.shift()).cumsum()


def _runs(values: pd.DataFrame) -> Iterator[pd.DataFrame]:
    for _, run in values.groupby("_run", sort=False):
        yield run.drop(columns="_run")
