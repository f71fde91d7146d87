"""The prometheus and hybrid sources against a real Prometheus with days of backfilled history."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import numpy as np
import pandas as pd
import pytest

from fixtures.prometheus import (
    PrometheusServer,
    SeriesData,
    fs_used,
    namespace_cpu,
    namespace_memory,
    net_rate,
    node_cpu,
    node_memory,
    restarts,
)
from retrain.data.contracts import ANOMALY_METRICS, FORECAST_METRICS, builtin_contract
from retrain.data.features import build_features
from retrain.data.promapi import PrometheusClient
from retrain.data.settings import DataSettings, PrometheusSettings
from retrain.data.sources import Dataset, fetch
from retrain.errors import InvalidInput, NotFound

MakePrometheus = Callable[[Sequence[SeriesData]], PrometheusServer]


def get(
    server: PrometheusServer, model: str, hours: float, source: str = "prometheus", **kw: object
) -> Dataset:
    settings = DataSettings(prometheus=PrometheusSettings(url=server.url, **kw))  # type: ignore[arg-type]
    return fetch(model, source, hours, settings, end=datetime.fromtimestamp(server.end, UTC))


def seconds(index: pd.Index) -> np.ndarray:
    return np.asarray(pd.DatetimeIndex(index).asi8 // 10**6, dtype=np.float64)  # microseconds -> seconds


def test_a_week_of_anomaly_metrics_at_one_minute_aggregated_per_timestamp(
    prometheus_server: PrometheusServer,
) -> None:
    data = get(prometheus_server, "anomaly-detector", 168, step_s=60.0)
    frame = data.frame
    assert data.rows == 168 * 60 and data.source_effective == "prometheus"
    assert frame.index[-1] == pd.Timestamp(prometheus_server.end, unit="s", tz="UTC")
    assert (frame.index[1:] - frame.index[:-1] == pd.Timedelta(minutes=1)).all()
    t = seconds(frame.index)
    start = prometheus_server.start
    expected = {  # mean across nodes for ratios, sum across namespaces / pods for usages and counters
        "node_cpu_utilization": [sum(node_cpu(i, x) for i in range(3)) / 3 for x in t],
        "node_memory_utilization": [sum(node_memory(i, x) for i in range(3)) / 3 for x in t],
        "pod_cpu_usage": [namespace_cpu(0, x) + namespace_cpu(1, x) for x in t],
        "pod_memory_usage": [namespace_memory(0, x) + namespace_memory(1, x) for x in t],
        "container_restart_count": [sum(restarts(i, x, start) for i in range(3)) for x in t],
    }
    for metric in ANOMALY_METRICS:
        np.testing.assert_allclose(frame[metric].to_numpy(), expected[metric], rtol=1e-9, err_msg=metric)
    assert frame["is_anomaly"].isna().all() and (frame["source"] == "prometheus").all()

    features = build_features("anomaly-detector", frame)
    assert features.matrix().shape == (168 * 60, 45)
    assert np.isfinite(features.matrix()).all()
    assert list(features.inputs.columns) == list(builtin_contract("anomaly-detector").feature_names)
    np.testing.assert_allclose(features.inputs["pod_cpu_usage_value"], expected["pod_cpu_usage"])
    restarts_diff = np.diff(
        expected["container_restart_count"], prepend=expected["container_restart_count"][0]
    )
    np.testing.assert_array_equal(features.inputs["container_restart_count_diff"], restarts_diff)


def test_the_default_5m_step_is_held_on_the_1_minute_grid(prometheus_server: PrometheusServer) -> None:
    frame = get(prometheus_server, "anomaly-detector", 24).frame
    assert len(frame) == 24 * 60
    cpu = frame["node_cpu_utilization"]
    index = pd.DatetimeIndex(frame.index)
    on_step = index[(index.minute % 5 == 0) & (index.second == 0)]
    for stamp in on_step[:5]:
        block = cpu.loc[stamp : stamp + pd.Timedelta(minutes=4)]
        assert block.nunique() == 1  # held until the next 5-minute sample
        x = stamp.timestamp()
        assert block.iloc[0] == pytest.approx(sum(node_cpu(i, x) for i in range(3)) / 3)


def test_forecasting_metrics_from_the_design_promql(prometheus_server: PrometheusServer) -> None:
    data = get(prometheus_server, "predictive-analytics", 168)
    frame = data.frame
    assert data.rows == 168 * 12 and list(frame.columns) == [*FORECAST_METRICS, "source"]
    t = seconds(frame.index)
    np.testing.assert_allclose(frame["cpu_usage"], [sum(node_cpu(i, x) for i in range(3)) / 3 for x in t])
    np.testing.assert_allclose(
        frame["memory_usage"], [sum(node_memory(i, x) for i in range(3)) / 3 for x in t]
    )
    np.testing.assert_allclose(frame["disk_usage"], [(fs_used(0, x) + fs_used(1, x)) / 2 for x in t])
    np.testing.assert_allclose(frame["network_in"], sum(net_rate(i, "receive") for i in range(3)), rtol=1e-6)
    np.testing.assert_allclose(
        frame["network_out"], sum(net_rate(i, "transmit") for i in range(3)), rtol=1e-6
    )
    features = build_features("predictive-analytics", frame)
    assert features.targets is not None
    assert features.inputs.shape == features.targets.shape == (168 * 12 - 12, 5)


def test_a_1_minute_step_over_8_days_is_fetched_in_chunks(prometheus_server: PrometheusServer) -> None:
    data = get(prometheus_server, "anomaly-detector", 190, step_s=60.0)  # 11,400 points > 11,000 limit
    assert data.rows == 190 * 60
    assert data.frame[list(ANOMALY_METRICS)].notna().all().all()
    assert data.frame.index.is_unique


def test_a_metric_without_data_names_its_query(prometheus_server: PrometheusServer) -> None:
    query = 'namespace:container_cpu_usage:sum{namespace="nowhere"}'
    with pytest.raises(NotFound) as info:
        get(prometheus_server, "anomaly-detector", 24, queries={"pod_cpu_usage": query})
    text = str(info.value)
    assert f"Prometheus returned no data for pod_cpu_usage (query {query!r})" in text
    assert "override the query" in text


def test_a_query_prometheus_refuses_is_named_with_its_field(prometheus_server: PrometheusServer) -> None:
    with pytest.raises(InvalidInput, match="refused query 'sum\\(rate\\(' \\(HTTP 400\\)") as info:
        get(prometheus_server, "predictive-analytics", 24, queries={"network_in": "sum(rate("})
    assert info.value.location is not None and info.value.location.field == "prometheus.queries.network_in"


def test_an_override_for_an_unknown_metric_suggests_the_right_name(
    prometheus_server: PrometheusServer,
) -> None:
    with pytest.raises(InvalidInput, match="did you mean 'network_in'"):
        get(prometheus_server, "predictive-analytics", 24, queries={"network_inn": "up"})


def test_hybrid_adds_an_equal_amount_of_synthetic_rows_before_the_real_ones(
    prometheus_server: PrometheusServer,
) -> None:
    data = get(prometheus_server, "anomaly-detector", 24, "hybrid", step_s=60.0)
    frame = data.frame
    assert (data.source_requested, data.source_effective, data.fallback_reason) == ("hybrid", "hybrid", None)
    assert data.rows == 2 * 24 * 60
    assert frame["source"].tolist() == ["synthetic"] * 1440 + ["prometheus"] * 1440
    assert (frame.index[1:] - frame.index[:-1] == pd.Timedelta(minutes=1)).all()  # one regular grid
    assert frame["is_anomaly"].iloc[:1440].notna().all() and frame["is_anomaly"].iloc[1440:].isna().all()
    features = build_features("anomaly-detector", frame)
    assert np.isfinite(features.matrix()).all()
    real = features.inputs.iloc[1440]
    assert (
        real["pod_cpu_usage_lag_1"] == 0.0 and real["pod_cpu_usage_diff"] == 0.0
    )  # nothing leaks over the seam
    assert data.info()["rows"] == 2880 and data.info()["data_source_effective"] == "hybrid"


def test_gaps_in_real_data_stay_gaps_and_features_fill_them(make_prometheus: MakePrometheus) -> None:
    end = 1_700_000_000 // 60 * 60
    stamps = [t for t in range(end - 6 * 3600, end + 1, 60) if not end - 3 * 3600 <= t < end - 2 * 3600]
    series = [
        SeriesData(name, {}, stamps, [float(i % 7) for i in range(len(stamps))])
        for name in (
            "instance:node_cpu:ratio",
            "instance:node_memory_utilisation:ratio",
            "namespace:container_cpu_usage:sum",
            "namespace:container_memory_usage:sum",
            "kube_pod_container_status_restarts_total",
        )
    ]
    server = make_prometheus(series)
    data = get(server, "anomaly-detector", 5, step_s=60.0)
    cpu = data.frame["node_cpu_utilization"]
    missing = cpu[cpu.isna()]
    # Prometheus' 5-minute lookback bridges the first 5 missing minutes; the rest of the hour stays missing
    assert len(missing) == 60 - 5
    assert missing.index[0] == pd.Timestamp(end - 3 * 3600 + 5 * 60, unit="s", tz="UTC")
    features = build_features("anomaly-detector", data.frame).inputs
    gap = features.loc[missing.index, "node_cpu_utilization_value"]
    assert (gap == cpu.loc[: missing.index[0]].dropna().iloc[-1]).all()  # forward-filled
    assert np.isfinite(features.to_numpy()).all()


def test_a_client_can_be_injected(prometheus_server: PrometheusServer) -> None:
    settings = DataSettings(prometheus=PrometheusSettings(url=prometheus_server.url))
    made: list[PrometheusClient] = []

    def factory() -> PrometheusClient:
        made.append(PrometheusClient(settings.prometheus))
        return made[-1]

    end = datetime.fromtimestamp(prometheus_server.end, UTC)
    data = fetch("predictive-analytics", "prometheus", 6, settings, end=end, client_factory=factory)
    assert len(made) == 1 and data.rows == 72
