"""The two built-in trainers on small synthetic windows: they train, evaluate sensibly and pickle."""

from __future__ import annotations

import io
import logging
from datetime import UTC, datetime

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from retrain.data import fetch
from retrain.data.contracts import ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS, builtin_contract
from retrain.data.sources import Dataset
from retrain.training import anomaly, forecast
from retrain.training.gpu import CudaStatus, DevicePlan, choose_device

END = datetime(2025, 1, 29, 6, tzinfo=UTC)  # a fixed window: the same rows on every run


@pytest.fixture(scope="module")
def anomaly_day() -> Dataset:
    return fetch(ANOMALY_DETECTOR, "synthetic", 24, end=END)


@pytest.fixture(scope="module")
def forecast_month() -> Dataset:
    return fetch(PREDICTIVE_ANALYTICS, "synthetic", 720, end=END)


def test_anomaly_detector_finds_injected_anomalies_well_above_chance(anomaly_day: Dataset) -> None:
    result = anomaly.train_and_evaluate(anomaly_day)
    m = result.metrics
    # 15 minutes of every hour are held out (never the window's first or last quarter hour).
    assert result.rows == {"total": 1440, "train": 1080, "test": 360}
    # The 5 rows after an injected anomaly (their lags and windows hold it) are left out of the scores.
    assert 300 < m["labelled_rows"] < 360 and m["anomalies"] > 0
    assert m["f1"] > 3 * m["f1_random_baseline"]
    assert m["roc_auc"] > 0.8
    assert 0 < m["precision"] <= 1 and 0 < m["recall"] <= 1
    assert m["contamination"] == 0.05 and m["n_estimators"] == 200


def test_anomaly_detector_is_the_contract_pipeline_and_pickles(anomaly_day: Dataset) -> None:
    result = anomaly.train_and_evaluate(anomaly_day)
    scaler, forest = (step for _, step in result.model.steps)
    assert type(scaler).__name__ == "RobustScaler"
    assert type(forest).__name__ == "IsolationForest"
    assert forest.get_params()["random_state"] == 42
    assert result.contract.width == 45
    buffer = io.BytesIO()
    joblib.dump(result.model, buffer)
    loaded = joblib.load(io.BytesIO(buffer.getvalue()))
    answers = loaded.predict(np.zeros((3, 45)))
    assert set(answers.tolist()) <= {1, -1}
    assert len(answers) == 3


def test_anomaly_reference_describes_every_training_feature(anomaly_day: Dataset) -> None:
    reference = anomaly.train_and_evaluate(anomaly_day).reference
    assert reference["rows"] == 1080
    assert list(reference["features"]) == list(builtin_contract(ANOMALY_DETECTOR).feature_names)
    cpu = reference["features"]["node_cpu_utilization_value"]
    assert sum(cpu["counts"]) == cpu["count"] == 1080
    assert len(cpu["bin_edges"]) == len(cpu["counts"]) + 1
    assert cpu["bin_edges"] == sorted(cpu["bin_edges"])
    assert cpu["quantiles"][0] == cpu["min"] and cpu["quantiles"][-1] == cpu["max"]


def test_echo_rows_after_an_anomaly_are_left_out_of_the_scores() -> None:
    labels = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, np.nan, 0], dtype=np.float64)
    scored = anomaly.scoring_labels(labels)
    assert scored[:3].tolist() == [0, 1, 1]
    assert np.isnan(scored[3:8]).all()  # rows 3-7: within 5 rows after the last anomaly (row 2)
    assert scored[8] == 0 and np.isnan(scored[9]) and scored[10] == 0


def test_unlabelled_holdout_leaves_the_label_metrics_undefined() -> None:
    class Flags:
        def predict(self, x: np.ndarray) -> np.ndarray:
            return np.where(x[:, 0] > 0, -1, 1)

        def score_samples(self, x: np.ndarray) -> np.ndarray:
            return -x[:, 0]

    metrics = anomaly.evaluate(Flags(), np.array([[1.0], [0.0]]), np.array([np.nan, np.nan]))
    assert metrics["f1"] is None and metrics["roc_auc"] is None
    assert "no labelled rows" in metrics["evaluation_note"]
    metrics = anomaly.evaluate(Flags(), np.array([[1.0], [0.0], [2.0]]), np.array([1.0, 0.0, np.nan]))
    assert metrics["precision"] == 1.0 and metrics["recall"] == 1.0 and metrics["roc_auc"] == 1.0


def test_forecaster_beats_the_naive_forecast_on_a_month(forecast_month: Dataset) -> None:
    result = forecast.train_and_evaluate(forecast_month)
    m = result.metrics
    assert m["r2"] > 0.5
    assert m["skill"] > 0
    assert m["mae"] < m["naive_mae"]
    assert set(m["per_target"]) == set(result.contract.target_names)
    assert all(t["r2"] > 0 for t in m["per_target"].values())
    assert m["gpu_requested"] is False and m["gpu_used"] is False
    assert result.trainer == forecast.TRAINER_CPU
    answer = result.model.predict(np.ones((2, 5)))
    assert answer.shape == (2, 5)


def test_forecaster_on_a_day_reports_finite_metrics() -> None:
    result = forecast.train_and_evaluate(fetch(PREDICTIVE_ANALYTICS, "synthetic", 24, end=END))
    m = result.metrics
    assert result.rows["test"] == m["holdout_rows"] > 0
    for key in ("mae", "rmse", "r2", "naive_mae", "skill", "skill_rmse"):
        assert isinstance(m[key], float) and np.isfinite(m[key])
    # 30 minutes of every 2.5 hours are held out (not the edges): 9 half-hours of the 23 h with a target.
    assert result.rows == {"total": 276, "train": 222, "test": 54}
    assert m["skill"] > 0.01 and m["r2"] > 0.3  # what the gate asks of a first version


def test_gpu_request_without_cuda_falls_back_loudly(
    forecast_month: Dataset, caplog: pytest.LogCaptureFixture
) -> None:
    missing = CudaStatus(False, 0, "no CUDA driver on this machine (test)")
    with caplog.at_level(logging.WARNING, logger="retrain.training"):
        plan = choose_device(True, detect=lambda: missing)
    assert plan == DevicePlan(True, False, "no CUDA driver on this machine (test)")
    assert "training on the CPU" in caplog.text
    m = forecast.train_and_evaluate(forecast_month, gpu=True, plan=plan).metrics
    assert m["gpu_requested"] is True and m["gpu_used"] is False
    assert m["gpu_fallback_reason"] == "no CUDA driver on this machine (test)"
    assert m["trainer"] == forecast.TRAINER_CPU


def test_forecaster_is_a_plain_linear_regression_equal_to_the_ridge_of_the_change(
    forecast_month: Dataset,
) -> None:
    """Stored as scikit-learn's own LinearRegression (no retrain class), with the ridge's answers."""
    from retrain.data.features import build_features
    from retrain.training.estimators import ResidualForecaster

    result = forecast.train_and_evaluate(forecast_month)
    assert type(result.model).__module__.startswith("sklearn.linear_model")
    assert type(result.model).__name__ == "LinearRegression"
    assert b"retrain" not in _dumps(result.model)
    assert result.metrics["ridge_alpha"] in forecast.RIDGE_ALPHAS
    features = build_features(PREDICTIVE_ANALYTICS, forecast_month.frame)
    assert features.targets is not None
    x, y = features.matrix(), features.targets.to_numpy(dtype=np.float64)
    # The same ridge of the change, unfolded, gives the same forecasts (up to float rounding).
    residual = ResidualForecaster(forecast.make_model("sklearn")).fit(x[:3000], y[:3000])
    folded = forecast.fit_level_model(forecast.make_model("sklearn"), x[:3000], y[:3000])
    np.testing.assert_allclose(folded.predict(x[3000:]), residual.predict(x[3000:]), rtol=1e-9)
    with pytest.raises(ValueError, match="targets of the inputs' shape"):
        forecast.fit_level_model(forecast.make_model("sklearn"), x, y[:, :4])


def test_xgboost_forecaster_trains_and_is_left_on_the_cpu(forecast_month: Dataset) -> None:
    """The GPU path's estimator, run on the CPU here (no GPU on CI): fits, predicts, pickles, portable,
    and holds only scikit-learn and XGBoost classes: its answer is exactly now + the learned change."""
    from retrain.data.features import build_features

    features = build_features(PREDICTIVE_ANALYTICS, forecast_month.frame)
    assert features.targets is not None
    x, y = features.matrix()[:2000], features.targets.to_numpy()[:2000]
    model = forecast.fit_level_model(forecast.make_model("xgboost", device="cpu"), x, y)
    assert type(model).__name__ == "StackingRegressor"
    change = model.estimators_[0]
    assert change.regressor_.get_params()["device"] == "cpu"
    pickled = _dumps(model)
    assert b"retrain" not in pickled
    loaded = joblib.load(io.BytesIO(pickled))
    assert loaded.predict(x[:3]).shape == (3, 5)
    assert np.array_equal(loaded.predict(x[:50]), x[:50] + change.predict(x[:50]))


def _dumps(model: object) -> bytes:
    buffer = io.BytesIO()
    joblib.dump(model, buffer)
    return buffer.getvalue()
