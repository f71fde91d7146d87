"""Feature builders: exact derived values, fill rules, forecast alignment, segments, bad input."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from retrain.data.contracts import ANOMALY_METRICS, FORECAST_METRICS, builtin_contract
from retrain.data.features import anomaly_features, build_features, example_instances, forecast_features
from retrain.data.settings import SyntheticSettings
from retrain.data.synthetic import anomaly_frame, forecast_frame, grid_index
from retrain.errors import InvalidInput

START = datetime(2024, 3, 4, 8, tzinfo=UTC)


def raw(values: dict[str, list[float]], *, source: list[str] | None = None) -> pd.DataFrame:
    rows = len(next(iter(values.values())))
    frame = pd.DataFrame(values, index=grid_index(START, rows, 60))
    if source is not None:
        frame["source"] = source
    return frame


def anomaly_raw(cpu: list[float]) -> pd.DataFrame:
    """cpu varies; the other four metrics are constant 1.0."""
    return raw({m: cpu if m == "node_cpu_utilization" else [1.0] * len(cpu) for m in ANOMALY_METRICS})


def test_derived_values_of_one_metric_by_hand() -> None:
    cpu = [1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0]
    features = anomaly_features(anomaly_raw(cpu))
    col = {
        d: features[f"node_cpu_utilization_{d}"].tolist() for d in ("value", "mean_5m", "min_5m", "max_5m")
    }
    assert col["value"] == cpu
    assert col["mean_5m"] == [1.0, 1.5, 7 / 3, 3.75, 6.2, 12.4, 24.8]
    assert col["min_5m"] == [1.0, 1.0, 1.0, 1.0, 1.0, 2.0, 4.0]
    assert col["max_5m"] == cpu
    std = features["node_cpu_utilization_std_5m"].tolist()
    assert std[0] == 0.0  # std of one point is NaN -> 0
    assert std[4] == pytest.approx(float(np.std([1, 2, 4, 8, 16], ddof=1)))
    assert std[6] == pytest.approx(float(np.std([4, 8, 16, 32, 64], ddof=1)))
    assert features["node_cpu_utilization_lag_1"].tolist() == [0.0, *cpu[:-1]]  # before the first row -> 0
    assert features["node_cpu_utilization_lag_5"].tolist() == [0.0] * 5 + cpu[:2]
    assert features["node_cpu_utilization_diff"].tolist() == [0.0, 1.0, 2.0, 4.0, 8.0, 16.0, 32.0]
    assert features["node_cpu_utilization_pct_change"].tolist() == [0.0] + [1.0] * 6
    assert (features["pod_cpu_usage_pct_change"] == 0.0).all() and (
        features["pod_cpu_usage_mean_5m"] == 1.0
    ).all()


def test_fill_rules_gaps_forward_then_back_filled_inf_and_nan_to_zero() -> None:
    nan, inf = math.nan, math.inf
    cpu = [nan, nan, 0.5, nan, inf, 0.7, -inf]
    frame = anomaly_raw(cpu)
    frame["pod_memory_usage"] = nan  # a metric without any value at all
    frame.loc[frame.index[3], "container_restart_count"] = 0.0
    features = anomaly_features(frame)
    assert features["node_cpu_utilization_value"].tolist() == [0.5, 0.5, 0.5, 0.5, 0.5, 0.7, 0.7]
    assert (features["pod_memory_usage_value"] == 0.0).all()
    assert (features["pod_memory_usage_pct_change"] == 0.0).all()
    # a change from 0 is infinite: it becomes 0, and so does 0/0
    assert features["container_restart_count_pct_change"].tolist() == [0.0, 0.0, 0.0, -1.0, 0.0, 0.0, 0.0]
    assert np.isfinite(features.to_numpy()).all()
    assert all(dtype == np.float64 for dtype in features.dtypes)


def test_anomaly_features_have_contract_columns_in_order_one_row_per_input_row() -> None:
    frame = anomaly_frame(START, 1440, SyntheticSettings())
    features = build_features("anomaly-detector", frame)
    assert list(features.inputs.columns) == list(builtin_contract("anomaly-detector").feature_names)
    assert features.matrix().shape == (1440, 45)
    assert features.inputs.index.equals(frame.index)
    assert features.targets is None
    assert features.labels is not None and features.labels.sum() == round(0.03 * 1440)


def test_forecast_targets_are_the_values_one_hour_later() -> None:
    frame = forecast_frame(START, 100, SyntheticSettings())
    features = build_features("predictive-analytics", frame)
    assert features.targets is not None and features.labels is None
    assert features.inputs.shape == features.targets.shape == (100 - 12, 5)
    assert list(features.inputs.columns) == list(FORECAST_METRICS)
    assert features.targets.index.equals(features.inputs.index)
    row = features.inputs.index[10]
    later = row + pd.Timedelta(hours=1)
    assert features.targets.loc[row].tolist() == frame.loc[later, list(FORECAST_METRICS)].tolist()
    shorter = forecast_features(frame, horizon_minutes=30)[1]
    assert shorter.columns[0] == "cpu_usage_ahead_30m" and len(shorter) == 94


def test_forecast_needs_more_rows_than_the_horizon() -> None:
    with pytest.raises(InvalidInput, match="12 rows are too few to forecast 60 minutes ahead"):
        forecast_features(forecast_frame(START, 12, SyntheticSettings()))


def test_windows_and_lags_never_reach_across_a_source_seam() -> None:
    values = {m: [1.0] * 4 + [100.0] * 4 for m in ANOMALY_METRICS}
    frame = raw(values, source=["synthetic"] * 4 + ["prometheus"] * 4)
    frame.loc[frame.index[4], "node_cpu_utilization"] = (
        math.nan
    )  # first real row missing: back-filled, not 1.0
    features = anomaly_features(frame)
    assert features["node_cpu_utilization_value"].tolist() == [1.0] * 4 + [100.0] * 4
    assert features["pod_cpu_usage_diff"].tolist() == [0.0] * 8  # no jump of 99 at the seam
    assert features["pod_cpu_usage_mean_5m"].tolist() == [1.0] * 4 + [100.0] * 4
    assert features["pod_cpu_usage_lag_1"].tolist() == [0.0, 1.0, 1.0, 1.0, 0.0, 100.0, 100.0, 100.0]
    fc = raw({m: [float(i) for i in range(30)] for m in FORECAST_METRICS}, source=["a"] * 15 + ["b"] * 15)
    x, y = forecast_features(fc)
    assert len(x) == 6  # 3 rows per run have a target 12 steps later in the same run
    assert y["cpu_usage_ahead_1h"].tolist() == [12.0, 13.0, 14.0, 27.0, 28.0, 29.0]


def test_missing_or_non_numeric_columns_are_named() -> None:
    frame = anomaly_raw([1.0, 2.0]).drop(columns=["pod_cpu_usage", "pod_memory_usage"])
    with pytest.raises(InvalidInput, match="lacks the metric column\\(s\\) pod_cpu_usage, pod_memory_usage"):
        anomaly_features(frame)
    bad = anomaly_raw([1.0, 2.0]).astype({"pod_cpu_usage": object})
    bad.loc[bad.index[0], "pod_cpu_usage"] = "lots"
    with pytest.raises(InvalidInput, match="must be numeric"):
        anomaly_features(bad)


def test_unknown_model_for_a_builtin_feature_builder_suggests_a_name() -> None:
    with pytest.raises(InvalidInput, match="did you mean 'predictive-analytics'"):
        build_features("predictive-analytic", forecast_frame(START, 20, SyntheticSettings()))


@pytest.mark.parametrize(("model", "width"), [("anomaly-detector", 45), ("predictive-analytics", 5)])
def test_example_instances_for_the_docs_match_the_contract(model: str, width: int) -> None:
    rows = example_instances(model, rows=3)
    builtin_contract(model).check_width(rows)
    assert len(rows) == 3 and all(len(r) == width and all(math.isfinite(v) for v in r) for r in rows)
    assert rows == example_instances(model, rows=3)
