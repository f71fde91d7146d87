"""The synthetic source: reproducible, patterned like a cluster, anomalies labelled at ANOMALY_RATE."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from retrain.data.contracts import ANOMALY_METRICS, FORECAST_METRICS
from retrain.data.settings import DataSettings, SyntheticSettings
from retrain.data.sources import fetch
from retrain.data.synthetic import anomaly_frame, forecast_frame, synthetic_frame

MONDAY = datetime(2024, 1, 1, tzinfo=UTC)
END = datetime(2024, 1, 29, 0, 0, 30, tzinfo=UTC)  # a Monday, 30 s past a grid point


def test_same_seed_gives_identical_frames_and_another_seed_does_not() -> None:
    a = anomaly_frame(MONDAY, 10_080, SyntheticSettings(seed=3))
    b = anomaly_frame(MONDAY, 10_080, SyntheticSettings(seed=3))
    c = anomaly_frame(MONDAY, 10_080, SyntheticSettings(seed=4))
    pd.testing.assert_frame_equal(a, b)
    assert not a[list(ANOMALY_METRICS)].equals(c[list(ANOMALY_METRICS)])
    f1, f2 = (
        forecast_frame(MONDAY, 2016, SyntheticSettings(seed=3)),
        forecast_frame(MONDAY, 2016, SyntheticSettings(seed=3)),
    )
    pd.testing.assert_frame_equal(f1, f2)


@pytest.mark.parametrize(
    ("hours", "anomaly_rows", "forecast_rows"), [(24, 1440, 288), (168, 10_080, 2016), (720, 43_200, 8640)]
)
def test_windows_in_hours_on_each_models_grid(hours: int, anomaly_rows: int, forecast_rows: int) -> None:
    anomaly = fetch("anomaly-detector", "synthetic", hours, end=END)
    forecast = fetch("predictive-analytics", "synthetic", hours, end=END)
    assert (anomaly.rows, forecast.rows) == (anomaly_rows, forecast_rows)
    assert anomaly.frame.index[-1] == pd.Timestamp("2024-01-29 00:00", tz="UTC")  # aligned down to the grid
    assert (anomaly.frame.index[1] - anomaly.frame.index[0]) == pd.Timedelta(minutes=1)
    assert (forecast.frame.index[1] - forecast.frame.index[0]) == pd.Timedelta(minutes=5)
    assert anomaly.frame.index.is_monotonic_increasing and anomaly.frame.index.is_unique
    assert (anomaly.source_requested, anomaly.source_effective, anomaly.fallback_reason) == (
        "synthetic",
    ) * 2 + (None,)
    assert list(anomaly.frame.columns) == [*ANOMALY_METRICS, "is_anomaly", "source"]
    assert list(forecast.frame.columns) == [*FORECAST_METRICS, "source"]


@pytest.mark.parametrize("rate", [0.0, 0.03, 0.1])
def test_labelled_anomalies_at_the_requested_rate(rate: float) -> None:
    frame = fetch(
        "anomaly-detector",
        "synthetic",
        168,
        DataSettings(synthetic=SyntheticSettings(anomaly_rate=rate)),
        end=END,
    ).frame
    assert frame["is_anomaly"].isin([0, 1]).all()
    assert abs(float(frame["is_anomaly"].mean()) - rate) < 0.002


def test_injected_anomalies_stand_out_from_the_normal_rows() -> None:
    frame = anomaly_frame(MONDAY, 43_200, SyntheticSettings(seed=11, anomaly_rate=0.03))
    labels = frame["is_anomaly"].to_numpy(dtype=np.int8) == 1
    gauges = frame[["node_cpu_utilization", "node_memory_utilization", "pod_cpu_usage", "pod_memory_usage"]]
    # distance from a centred 61-minute rolling median (the normal pattern), relative to it
    baseline = gauges.rolling(61, center=True, min_periods=1).median()
    deviation = ((gauges - baseline).abs() / baseline).max(axis=1).to_numpy()
    restarts = frame["container_restart_count"].diff().fillna(0).to_numpy()
    unusual = (deviation > 0.4) | (restarts >= 2)
    assert unusual[labels].mean() > 0.8  # nearly every labelled row is visibly off
    assert unusual[~labels].mean() < 0.01  # and almost no normal row is
    kinds = {"spike": (deviation[labels] > 0.9).any(), "burst": (restarts[labels] >= 2).any()}
    assert all(kinds.values()), kinds


def test_anomaly_metrics_have_business_hours_peaks_memory_drift_and_counting_restarts() -> None:
    frame = anomaly_frame(MONDAY, 7 * 1440, SyntheticSettings(anomaly_rate=0.0))
    index = pd.DatetimeIndex(frame.index)
    hours, weekday = index.hour, index.day_of_week < 5
    cpu = frame["node_cpu_utilization"]
    assert cpu[weekday & (hours >= 12) & (hours < 15)].mean() > cpu[weekday & (hours < 5)].mean() + 0.2
    assert (
        frame["pod_cpu_usage"][weekday & (hours == 13)].mean()
        > frame["pod_cpu_usage"][~weekday & (hours == 13)].mean()
    )
    memory = frame["node_memory_utilization"].to_numpy()
    drops = np.diff(memory) < -0.1  # garbage collections
    assert 20 <= drops.sum() <= 90  # every 2-6 hours over a week
    assert np.median(np.diff(memory)) > 0  # otherwise it creeps up
    restarts = frame["container_restart_count"].to_numpy()
    assert (np.diff(restarts) >= 0).all() and restarts[-1] > restarts[0]
    assert (
        (
            (frame[["node_cpu_utilization", "node_memory_utilization"]] >= 0)
            & (frame[["node_cpu_utilization", "node_memory_utilization"]] <= 1)
        )
        .all()
        .all()
    )
    assert frame["pod_memory_usage"].between(2 * 2**30, 64 * 2**30).all()


def test_forecasting_metrics_have_daily_weekly_cycles_a_trend_and_business_network() -> None:
    frame = forecast_frame(MONDAY, 28 * 288, SyntheticSettings())
    index = pd.DatetimeIndex(frame.index)
    hours, weekday = index.hour, index.day_of_week < 5
    cpu, net = frame["cpu_usage"], frame["network_in"]
    assert cpu[weekday & (hours == 13)].mean() > cpu[weekday & (hours == 3)].mean() + 0.15  # daily
    assert cpu[weekday].mean() > cpu[~weekday].mean() + 0.05  # weekly
    assert net[weekday & (hours >= 10) & (hours < 17)].mean() > 2.5 * net[weekday & (hours < 6)].mean()
    assert net[weekday & (hours == 13)].mean() > 2 * net[~weekday & (hours == 13)].mean()
    first, last = frame.iloc[: 7 * 288], frame.iloc[-7 * 288 :]
    assert last["disk_usage"].mean() > first["disk_usage"].mean() + 0.05  # disks fill up
    assert (frame["network_out"] < frame["network_in"]).mean() > 0.9
    assert frame[list(FORECAST_METRICS)].notna().all().all()


def test_synthetic_frame_dispatches_by_model() -> None:
    assert "is_anomaly" in synthetic_frame("anomaly-detector", MONDAY, 10, SyntheticSettings()).columns
    assert list(synthetic_frame("predictive-analytics", MONDAY, 10, SyntheticSettings()).columns) == [
        *FORECAST_METRICS,
        "source",
    ]
