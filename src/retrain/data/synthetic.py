"""Seeded synthetic metrics for both built-in models (same seed and window -> identical frames).

Anomaly-detector frames are on a 1-minute grid, forecasting frames on a 5-minute grid (the models' grids:
the forecaster's 1 h horizon is then 12 steps and a 30-day window stays at 8640 rows). Units follow the
PromQL in DESIGN.md so synthetic and Prometheus rows mean the same thing: utilisation ratios in [0, 1],
pod CPU in cores, pod memory in bytes, `container_restart_count` a cumulative counter (like
`kube_pod_container_status_restarts_total`), network in bytes per second.

Every frame has the model's raw metric columns, `source` ("synthetic") and, for the anomaly detector,
`is_anomaly` (1 where an anomaly was injected, else 0).
"""

from __future__ import annotations

from datetime import datetime

import numpy as np
import pandas as pd

from retrain.data.contracts import (
    ANOMALY_DETECTOR,
    ANOMALY_GRID_S,
    ANOMALY_METRICS,
    FORECAST_GRID_S,
    FORECAST_METRICS,
    raw_metrics,
)
from retrain.data.settings import SyntheticSettings

_GIB = 1024.0**3
DISK_EPOCH = pd.Timestamp("2024-01-01", tz="UTC")
DISK_CYCLE_DAYS = 30.0
_RATIO_METRICS = ("node_cpu_utilization", "node_memory_utilization")


def grid_index(start: datetime, periods: int, step_s: int) -> pd.DatetimeIndex:
    """`periods` UTC timestamps `step_s` apart, the first at `start`."""
    return pd.date_range(
        pd.Timestamp(start), periods=periods, freq=pd.Timedelta(seconds=step_s), name="timestamp"
    )


def synthetic_frame(model: str, start: datetime, periods: int, settings: SyntheticSettings) -> pd.DataFrame:
    """`periods` rows of the model's grid from `start` (timezone-aware)."""
    raw_metrics(model)  # refuses unknown models
    if model == ANOMALY_DETECTOR:
        return anomaly_frame(start, periods, settings)
    return forecast_frame(start, periods, settings)


def _clock(index: pd.DatetimeIndex) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hour of day, weekday flag and a smooth business-hours bump (peak 13:30, weekdays only)."""
    hours = np.asarray(index.hour + index.minute / 60.0, dtype=np.float64)
    weekday = np.asarray(index.day_of_week < 5, dtype=np.float64)
    business = np.exp(-(((hours - 13.5) / 3.0) ** 2)) * weekday
    return hours, weekday, business


def anomaly_frame(start: datetime, periods: int, settings: SyntheticSettings) -> pd.DataFrame:
    rng = np.random.default_rng(settings.seed)
    index = grid_index(start, periods, ANOMALY_GRID_S)
    hours, _, business = _clock(index)
    daily = np.sin(2 * np.pi * (hours - 8.0) / 24.0)

    cpu = 0.25 + 0.08 * daily + 0.35 * business + rng.normal(0, 0.03, periods)
    pod_cpu = 3.0 + 1.0 * daily + 8.0 * business + rng.normal(0, 0.3, periods)
    # Memory climbs steadily and drops back when the garbage collector runs (every 2-6 hours).
    gc_at = np.cumsum(rng.integers(120, 360, size=periods // 120 + 2))
    last_gc = np.concatenate(([0], gc_at))[np.searchsorted(gc_at, np.arange(periods), side="right")]
    since_gc = np.arange(periods) - last_gc
    drift = np.minimum(since_gc / 360.0, 1.0)
    memory = 0.45 + 0.30 * drift + 0.03 * business + rng.normal(0, 0.01, periods)
    pod_memory = (6.0 + 5.0 * drift + 1.0 * business) * _GIB + rng.normal(0, 0.1 * _GIB, periods)
    restarts = rng.poisson(0.002, periods).astype(np.float64)

    values = {
        "node_cpu_utilization": cpu,
        "node_memory_utilization": memory,
        "pod_cpu_usage": pod_cpu,
        "pod_memory_usage": pod_memory,
    }
    labels = _inject(rng, values, restarts, periods, settings.anomaly_rate)
    values["container_restart_count"] = float(rng.integers(0, 20)) + np.cumsum(restarts)
    for name in _RATIO_METRICS:
        values[name] = np.clip(values[name], 0.0, 1.0)
    for name in ("pod_cpu_usage", "pod_memory_usage"):
        values[name] = np.maximum(values[name], 0.0)
    frame = pd.DataFrame({name: values[name] for name in ANOMALY_METRICS}, index=index)
    frame["is_anomaly"] = pd.array(labels, dtype="Int8")
    frame["source"] = "synthetic"
    return frame


def _inject(
    rng: np.random.Generator, values: dict[str, np.ndarray], restarts: np.ndarray, periods: int, rate: float
) -> np.ndarray:
    """Inject anomaly events (1-3 minutes each) until exactly round(rate * periods) rows are labelled.

    Short events make many of them (about 20 a day at the default rate), so every part of a window, the
    gate's held-out blocks of a 24 h window included, holds some labelled anomalies; with events of up to
    5 minutes a day had about 14, and the held-out quarter of a day now and then held none (F1 undefined).

    Kinds: a spike (x2-4) or a drop (x0.1-0.3) of one or two of the four gauge metrics, or a burst of
    3-10 container restarts (the counter's increments, so the cumulative series jumps and stays up).
    """
    labels = np.zeros(periods, dtype=np.int8)
    target = round(rate * periods)
    gauges = list(values)
    while int(labels.sum()) < target:
        begin = int(rng.integers(0, periods))
        rows = np.arange(begin, min(periods, begin + int(rng.integers(1, 4))))
        rows = rows[labels[rows] == 0][: target - int(labels.sum())]
        if rows.size == 0:
            continue
        kind = rng.choice(["spike", "drop", "restarts"], p=[0.45, 0.35, 0.2])
        if kind == "restarts":
            restarts[rows] += rng.multinomial(int(rng.integers(3, 11)), np.full(rows.size, 1.0 / rows.size))
        else:
            low, high = (2.0, 4.0) if kind == "spike" else (0.1, 0.3)
            for name in rng.choice(gauges, size=int(rng.integers(1, 3)), replace=False):
                values[str(name)][rows] *= rng.uniform(low, high)
        labels[rows] = 1
    return labels


def forecast_frame(start: datetime, periods: int, settings: SyntheticSettings) -> pd.DataFrame:
    # Offset the seed so the forecaster's noise is not the anomaly detector's noise re-used.
    rng = np.random.default_rng(settings.seed + 1)
    index = grid_index(start, periods, FORECAST_GRID_S)
    hours, weekday, business = _clock(index)
    # The disk fills 0.4 points a day and is cleaned up every 30 days, on a calendar (days since
    # DISK_EPOCH), so a timestamp has the same expected level in every window that contains it. Before,
    # the level grew from each window's own start, and a 24 h window disagreed with a 720 h one about
    # the same day (a drift check then saw "drift" that no system had).
    days = np.asarray((index - DISK_EPOCH) / pd.Timedelta(days=1), dtype=np.float64) % DISK_CYCLE_DAYS
    daily = np.sin(2 * np.pi * (hours - 8.0) / 24.0)
    weekly = 0.5 + 0.5 * weekday  # weekends run at half the weekday load

    cpu = 0.20 + 0.08 * daily + 0.25 * business + 0.05 * weekly + rng.normal(0, 0.02, periods)
    memory = 0.45 + 0.05 * daily + 0.10 * business + rng.normal(0, 0.01, periods)
    disk = 0.35 + 0.004 * days + 0.002 * np.sin(2 * np.pi * hours / 24.0) + rng.normal(0, 0.002, periods)
    network_in = 2.0e6 + 1.2e7 * business + 2.0e6 * weekly + 1.0e6 * daily
    network_in = network_in + rng.normal(0, 4.0e5, periods)
    network_out = 0.6 * network_in + 5.0e5 * business + rng.normal(0, 3.0e5, periods)

    values = {
        "cpu_usage": np.clip(cpu, 0.0, 1.0),
        "memory_usage": np.clip(memory, 0.0, 1.0),
        "disk_usage": np.clip(disk, 0.0, 1.0),
        "network_in": np.maximum(network_in, 0.0),
        "network_out": np.maximum(network_out, 0.0),
    }
    frame = pd.DataFrame({name: values[name] for name in FORECAST_METRICS}, index=index)
    frame["source"] = "synthetic"
    return frame
