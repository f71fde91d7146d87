"""Where held-out rows come from: a real Prometheus when configured, and custom models' training reference."""

from __future__ import annotations

import importlib
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from fixtures.gate_models import ANOMALY, FORECAST, NaNPredictions, probe_environ, register
from fixtures.prometheus import PrometheusServer
from retrain.data import DataSettings, SyntheticSettings, fetch
from retrain.data.contracts import FeatureContract
from retrain.data.features import build_features
from retrain.gate import GateOptions, HoldoutConfig, check_version, default_gate
from retrain.registry import NewVersionMetadata, Registry
from retrain.training import anomaly
from retrain.training.heldout import held_out, training_seed
from retrain.training.outputs import TrainResult
from retrain.training.reference import distribution_reference
from retrain.training.splits import holdout_split


def prometheus_options(server: PrometheusServer) -> GateOptions:
    end = datetime.fromtimestamp(server.end, UTC)
    return GateOptions(now=lambda: end, environ={**probe_environ(), "PROMETHEUS_URL": server.url})


def test_held_out_rows_can_come_from_prometheus(
    prometheus_server: PrometheusServer, tmp_path: Path, good_forecast: TrainResult
) -> None:
    registry = Registry(tmp_path / "registry")
    version = register(registry, FORECAST, good_forecast.model, tmp_path, like=good_forecast).version
    gate = replace(default_gate(FORECAST), holdout=HoldoutConfig(source="prometheus", hours=24))
    report = check_version(registry, FORECAST, version, gate, prometheus_options(prometheus_server))
    assert report.holdout is not None
    assert report.holdout["data_source_effective"] == "prometheus"
    assert report.holdout["seed"] is None
    # The held-out blocks of the 276 five-minute rows whose 1 h target is inside the window: 30 minutes
    # of every 2.5 hours, never the first or last half hour.
    assert report.holdout["rows"] == 9 * 6
    assert report.holdout["rows"] == holdout_split(FORECAST, np.zeros(24 * 12 - 12)).test_rows
    assert report.check("predictions").passed
    candidate = report.metrics["candidate"]
    assert candidate["holdout_rows"] == report.holdout["rows"]
    assert report.check("quality.r2").value == candidate["r2"] is not None


def test_a_hybrid_holdout_labels_the_synthetic_half_for_the_anomaly_detector(
    prometheus_server: PrometheusServer, tmp_path: Path, good_anomaly: TrainResult
) -> None:
    # Prometheus rows carry no anomaly labels (F1 is undefined on them, and a quiet window may flag
    # nothing); hybrid adds as many labelled synthetic rows with injected anomalies.
    registry = Registry(tmp_path / "registry")
    version = register(registry, ANOMALY, good_anomaly.model, tmp_path, like=good_anomaly).version
    gate = replace(default_gate(ANOMALY), holdout=HoldoutConfig(source="hybrid", hours=12))
    report = check_version(registry, ANOMALY, version, gate, prometheus_options(prometheus_server))
    assert report.holdout is not None
    # Each half (a data-source run of twelve hourly blocks) holds out its blocks 2, 6 and 10.
    assert (report.holdout["data_source_effective"], report.holdout["rows"]) == ("hybrid", 2 * 3 * 60)
    # The synthetic half's rows are labelled, less the echo rows after each anomaly (see anomaly.py).
    labelled = report.holdout["labelled_rows"]
    assert 0.8 * 3 * 60 < labelled < 3 * 60
    assert report.check("predictions").passed
    candidate = report.metrics["candidate"]
    assert (
        candidate["labelled_rows"] == labelled and candidate["anomalies"] == report.holdout["anomalies"] > 0
    )
    assert report.check("quality.f1").value == candidate["f1"] is not None


def _custom(registry: Registry, model: object, tmp_path: Path) -> int:
    contract = FeatureContract("latency-model", ("p50", "p90", "p99"), 60)
    rows = np.random.default_rng(0).gamma(2.0, 0.05, size=(500, 3)).cumsum(axis=1)
    artefact = tmp_path / "custom.pkl"
    importlib.import_module("joblib").dump(model, artefact)
    meta = NewVersionMetadata(
        trainer="notebook:custom",
        feature_contract=contract.to_json(),
        extra={"reference": distribution_reference(rows, contract.feature_names)},
    )
    return registry.register("latency-model", artefact, meta).version


def test_a_custom_model_is_checked_on_its_training_reference_rows(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.gamma(2.0, 0.05, size=(300, 3)).cumsum(axis=1)
    good = importlib.import_module("sklearn.linear_model").LinearRegression().fit(x, x.sum(axis=1))
    registry = Registry(tmp_path / "registry")
    version = _custom(registry, good, tmp_path)
    options = GateOptions(environ=probe_environ())
    report = check_version(registry, "latency-model", version, options=options)
    assert report.verdict == "blessed", report.reasons
    assert report.holdout is not None and report.holdout["rows"] == 11  # one row per recorded quantile
    assert report.check("quality").outcome == "skipped"
    assert report.check("infra").passed

    broken = _custom(registry, NaNPredictions(width=3), tmp_path)
    report = check_version(registry, "latency-model", broken, options=options)
    assert report.verdict == "rejected"
    assert report.check("predictions").failed
    assert "11 non-finite predictions (NaN) on 11 held-out rows" in report.check("predictions").reason


@pytest.mark.parametrize(
    ("recorded", "seed"),
    [(7, 7), ("7", 7), (" 12 ", 12), (True, 42), (7.5, 42), ("seven", 42), (None, 42)],
)
def test_the_training_seed_has_one_parser(recorded: object, seed: int) -> None:
    metadata = {"extra": {"notebook_parameters": {"seed": recorded}}}
    assert training_seed(metadata) == seed
    assert training_seed({}) == 42


def test_the_held_out_rows_are_the_rows_the_trainer_held_out() -> None:
    end = datetime(2025, 3, 5, 7, tzinfo=UTC)
    data = fetch(ANOMALY, "synthetic", 24, DataSettings(synthetic=SyntheticSettings(seed=7)), end=end)
    result = anomaly.train_and_evaluate(data)
    metadata = {
        "data_source_effective": "synthetic",
        "training_window": {"hours": 24.0, "end": end.isoformat()},
        "extra": {"notebook_parameters": {"seed": 7, "anomaly_rate": 0.03}},
    }
    rows = held_out(ANOMALY, metadata)  # no `end`: the recorded window, not the hours before now
    features = build_features(ANOMALY, data.frame).matrix()
    split = holdout_split(ANOMALY, np.zeros(len(features), dtype=np.int64))
    assert np.array_equal(rows.inputs, features[split.test])
    assert rows.description["same_data_as_training"] is True and rows.description["rows"] == 360
    assert rows.labels is not None and int(np.nansum(rows.labels)) == result.metrics["anomalies"]
