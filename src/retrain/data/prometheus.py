"""The `prometheus` source: one range query per metric, aggregated per timestamp, put on the model's grid.

Several series for one metric (one per node, namespace or pod) are combined per timestamp, never
concatenated: utilisation ratios are averaged (a cluster-wide mean), usages, counters and byte rates are
summed (a cluster-wide total). A timestamp where only some series have a sample combines those present.

The query window is the last `hours` before `end`, aligned to the query step. The result is put on the
model's grid (1 minute for the anomaly detector, 5 minutes for the forecaster):
- a coarser query step (the default 5m for the anomaly detector) is held forward until the next sample,
  which is how Prometheus itself reads a value between samples; a sample is never held longer than one step,
  so a real gap stays a gap (the feature builder fills it). Use step 1m for true 1-minute resolution.
- a finer query step is averaged into right-closed bins: the value at t is the mean over (t - grid, t].
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Literal

import pandas as pd

from retrain.data.contracts import ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS, builtin_contract, unknown_name
from retrain.data.promapi import PrometheusClient, Series
from retrain.data.settings import PrometheusSettings
from retrain.errors import NotFound

Aggregation = Literal["mean", "sum"]

DEFAULT_QUERIES: Mapping[str, Mapping[str, str]] = {
    ANOMALY_DETECTOR: {
        "node_cpu_utilization": "instance:node_cpu:ratio",
        "node_memory_utilization": "instance:node_memory_utilisation:ratio",
        "pod_cpu_usage": "namespace:container_cpu_usage:sum",
        "pod_memory_usage": "namespace:container_memory_usage:sum",
        "container_restart_count": "kube_pod_container_status_restarts_total",
    },
    PREDICTIVE_ANALYTICS: {
        "cpu_usage": "cluster:node_cpu:ratio_rate5m",
        "memory_usage": "avg(instance:node_memory_utilisation:ratio)",
        "disk_usage": "1 - sum(node_filesystem_avail_bytes) / sum(node_filesystem_size_bytes)",
        "network_in": "sum(rate(container_network_receive_bytes_total[5m]))",
        "network_out": "sum(rate(container_network_transmit_bytes_total[5m]))",
    },
}

AGGREGATION: Mapping[str, Aggregation] = {
    "node_cpu_utilization": "mean",
    "node_memory_utilization": "mean",
    "pod_cpu_usage": "sum",
    "pod_memory_usage": "sum",
    "container_restart_count": "sum",
    "cpu_usage": "mean",
    "memory_usage": "mean",
    "disk_usage": "mean",
    "network_in": "sum",
    "network_out": "sum",
}


def queries_for(model: str, settings: PrometheusSettings) -> dict[str, str]:
    """The PromQL per metric: the built-in queries with the settings' overrides applied."""
    defaults = dict(DEFAULT_QUERIES[builtin_contract(model).model])
    for metric in settings.queries:
        if metric not in defaults:
            raise unknown_name(
                f"metric of {model}", metric, list(defaults), field=f"prometheus.queries.{metric}"
            )
    return defaults | dict(settings.queries)


def window(end: datetime, hours: float, step_s: float) -> tuple[float, float]:
    """Unix (start, end) of the query: `end` aligned down to the step, `hours` before it."""
    stop = math.floor(end.timestamp() / step_s) * step_s
    return stop - hours * 3600.0, stop


def prometheus_frame(
    model: str, hours: float, end: datetime, client: PrometheusClient, *, grid_s: int | None = None
) -> pd.DataFrame:
    """The model's raw metrics for the last `hours` before `end`, on the model's grid (or `grid_s`).

    Rows are the grid points in (start, end]; a metric without any data raises NotFound naming its query.
    """
    settings = client.settings
    grid = grid_s or builtin_contract(model).grid_seconds
    start, stop = window(end, hours, settings.step_s)
    columns: dict[str, pd.Series] = {}
    for metric, query in queries_for(model, settings).items():
        field = f"prometheus.queries.{metric}"
        series = client.query_range(query, start, stop, settings.step_s, field=field)
        if not any(s.samples for s in series):
            raise NotFound(
                f"Prometheus returned no data for {metric} (query {query!r}) between "
                f"{_iso(start)} and {_iso(stop)}",
                hint="check that the metric or recording rule exists on this Prometheus, "
                f"or override the query for {metric!r} in the Prometheus settings",
            )
        combined = aggregate(series, AGGREGATION[metric])
        columns[metric] = to_grid(combined, start, stop, settings.step_s, grid)
    frame = pd.DataFrame(columns)
    frame.index.name = "timestamp"
    if model == ANOMALY_DETECTOR:
        frame["is_anomaly"] = pd.array([pd.NA] * len(frame), dtype="Int8")  # real data carries no labels
    frame["source"] = "prometheus"
    return frame


def aggregate(series: list[Series], how: Aggregation) -> pd.Series:
    """One value per timestamp across all series (mean or sum of the samples present there)."""
    parts = [
        pd.Series([v for _, v in s.samples], index=[t for t, _ in s.samples], dtype="float64")
        for s in series
        if s.samples
    ]
    wide = pd.concat(parts, axis=1).sort_index()
    combined = wide.mean(axis=1) if how == "mean" else wide.sum(axis=1, min_count=1)
    combined.index = pd.to_datetime(combined.index, unit="s", utc=True)
    return combined


def to_grid(values: pd.Series, start: float, stop: float, step_s: float, grid_s: int) -> pd.Series:
    """Put one aggregated series (UTC index) on the grid points in (start, stop]; missing points are NaN."""
    first = math.floor(start / grid_s) * grid_s + grid_s
    points = pd.date_range(
        pd.Timestamp(first, unit="s", tz=UTC),
        pd.Timestamp(math.floor(stop / grid_s) * grid_s, unit="s", tz=UTC),
        freq=pd.Timedelta(seconds=grid_s),
        name="timestamp",
    )
    present = values.dropna()
    if step_s >= grid_s:
        # Hold each sample for less than one query step, so a missing sample leaves NaN behind.
        tolerance = pd.Timedelta(seconds=step_s) - pd.Timedelta(milliseconds=1)
        return present.reindex(points, method="ffill", tolerance=tolerance)
    binned = present.resample(
        pd.Timedelta(seconds=grid_s), closed="right", label="right", origin="epoch"
    ).mean()
    return binned.reindex(points)


def _iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).isoformat()
