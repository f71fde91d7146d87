"""The gate end to end on real models in a real registry: good candidates are blessed, and each kind of bad
candidate is rejected by the check that should catch it, with its reason, while the serving version stays."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from fixtures.gate_models import (
    ANOMALY,
    FORECAST,
    AnyWidth,
    ConstantPredictions,
    CrashingLoad,
    HangingLoad,
    HangingPredict,
    NaNPredictions,
    RaisingPredict,
    anomaly_rows,
    probe_environ,
    register,
    train_anomaly,
)
from retrain.data import DataSettings, SyntheticSettings, fetch
from retrain.gate import (
    ChangeThreshold,
    GateOptions,
    GateReport,
    MetricThreshold,
    check_version,
    default_gate,
)
from retrain.registry import NewVersionMetadata, Registry
from retrain.training import anomaly, forecast
from retrain.training.outputs import TrainResult


def outcomes(report: GateReport) -> dict[str, str]:
    return {c.name: c.outcome for c in report.checks}


def assert_serving_untouched(registry: Registry, before: bytes) -> None:
    assert registry.aliases(ANOMALY) == {"serving": 1}
    assert (registry.root / ANOMALY / "model.pkl").read_bytes() == before


def rejected_by(registry: Registry, report: GateReport, check: str, *words: str) -> None:
    """The verdict is rejected, `check` is the (first) failure, it names `words`, later checks are skipped,
    and the rejection with its reasons is in the audit log."""
    assert report.verdict == "rejected", report.checks
    failed = [c for c in report.checks if c.failed]
    assert failed[0].name == check, failed
    for word in words:
        assert word in failed[0].reason, failed[0].reason
    stages = ["artefact", "load", "contract", "predictions", "quality", "infra"]
    for later in stages[stages.index(check.split(".", maxsplit=1)[0]) + 1 :]:
        assert report.check(later).outcome == "skipped", later
        assert report.check(later).reason == f"not run: {check} failed"
    event = registry.history(ANOMALY)[-1]
    assert (event.event, event.version) == ("rejected", report.version)
    assert any(check in reason for reason in event.reasons)


@pytest.fixture
def legacy(served: Registry) -> bytes:
    return (served.root / ANOMALY / "model.pkl").read_bytes()


def test_the_first_good_model_is_blessed_by_a_rubber_stamp(
    tmp_path: Path, good_anomaly: TrainResult, options: GateOptions
) -> None:
    registry = Registry(tmp_path / "registry")
    version = register(registry, ANOMALY, good_anomaly.model, tmp_path, like=good_anomaly).version
    report = check_version(registry, ANOMALY, version, options=options)
    assert report.verdict == "blessed", report.reasons
    assert report.baseline["mode"] == "rubber-stamp"
    assert "rubber stamp" in report.baseline["note"]
    assert report.check("quality.f1.change").outcome == "skipped"
    assert "no version of anomaly-detector serves yet" in report.check("quality.f1.change").reason
    for name in ("artefact", "load", "contract", "predictions", "quality.f1", "quality.roc_auc", "infra"):
        assert report.check(name).passed, report.check(name)
    f1 = report.metrics["candidate"]["f1"]
    assert report.check("quality.f1").value == f1 >= 0.15
    # The rows the trainer held out of its training window: 15 minutes of each of the 168 hours.
    assert report.holdout is not None and report.holdout["seed"] == 42 == report.holdout["training_seed"]
    assert report.holdout["rows"] == 168 * 15 == good_anomaly.rows["test"]
    assert report.metrics["candidate"]["f1"] == good_anomaly.metrics["f1"]  # the same rows, measured again
    assert registry.history(ANOMALY)[-1].event == "registered"  # a blessing records nothing


def test_a_second_good_model_is_blessed_against_the_serving_baseline(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    retrained = train_anomaly(168, seed=7)  # another forest on the same week: as good, not identical
    version = register(served, ANOMALY, retrained.model, tmp_path, like=retrained).version
    report = check_version(served, ANOMALY, version, options=options)
    assert report.verdict == "blessed", report.reasons
    assert report.baseline == {
        "version": 1,
        "mode": "serving",
        "note": "the serving version 1, measured on the same held-out rows",
    }
    change = report.check("quality.f1.change")
    assert change.passed and change.value["baseline_version"] == 1
    assert change.value["baseline"] == report.metrics["baseline"]["f1"]
    assert change.value["candidate"] == report.metrics["candidate"]["f1"]
    assert_serving_untouched(served, legacy)


def test_a_good_forecaster_is_blessed(
    tmp_path: Path, good_forecast: TrainResult, options: GateOptions
) -> None:
    registry = Registry(tmp_path / "registry")
    version = register(registry, FORECAST, good_forecast.model, tmp_path, like=good_forecast).version
    report = check_version(registry, FORECAST, version, options=options)
    assert report.verdict == "blessed", report.reasons
    assert report.check("quality.r2").value >= 0.3
    assert report.check("quality.skill").value >= 0.01
    assert report.check("predictions").value["shape"] == [report.holdout["rows"], 5]  # type: ignore[index]
    infra = report.check("infra")
    assert [q["protocol"] for q in infra.value["queries"]] == ["v1", "v2"]
    assert all(q["status"] == 200 and q["model_version"] == str(version) for q in infra.value["queries"])


@pytest.mark.parametrize(
    ("damage", "words"),
    [
        ("missing", ("is missing",)),
        ("truncated", ("truncated", "digest mismatch")),
        ("changed", ("digest mismatch", "changed after registration")),
    ],
)
def test_a_damaged_artefact_is_rejected_without_being_loaded(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions,
    damage: str, words: tuple[str, ...],
) -> None:  # fmt: skip
    info = register(served, ANOMALY, good_anomaly.model, tmp_path, like=good_anomaly)
    data = info.artefact.read_bytes()
    if damage == "missing":
        info.artefact.unlink()
    elif damage == "truncated":
        info.artefact.write_bytes(data[: len(data) // 2])
    else:
        info.artefact.write_bytes(data[:-1] + bytes([data[-1] ^ 0xFF]))
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, "artefact", *words)
    assert report.check("load").reason == "not run: artefact failed"
    assert_serving_untouched(served, legacy)


def test_damaged_metadata_is_a_rejection_not_a_crash(
    served: Registry, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    info = register(served, ANOMALY, good_anomaly.model, tmp_path, like=good_anomaly)
    (info.path / "metadata.json").write_text("{not json")
    report = check_version(served, ANOMALY, info.version, options=options)
    assert report.verdict == "rejected"
    assert report.check("artefact").reason.startswith("the version's metadata is damaged")
    assert report.check("load").reason == "not run: artefact failed"


def test_a_pickled_dict_is_not_a_model(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    weights = {"weights": [float(i) for i in range(100)]}
    info = register(served, ANOMALY, weights, tmp_path, like=good_anomaly)
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, "load", "not a model", "builtins.dict", "no callable predict()")
    assert_serving_untouched(served, legacy)


def test_a_model_fitted_on_44_features_is_rejected_by_the_contract(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    narrow = anomaly.make_model().set_params(model__n_estimators=20).fit(anomaly_rows()[:2000, :44])
    info = register(served, ANOMALY, narrow, tmp_path, like=good_anomaly)
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, "contract", "fitted on 44 features", "contract has 45")
    assert_serving_untouched(served, legacy)


def test_a_model_that_takes_any_width_is_rejected_by_the_contract(
    served: Registry, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    info = register(served, ANOMALY, AnyWidth(), tmp_path, like=good_anomaly)
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, "contract", "accepts rows of 44 and 46 features")


@pytest.mark.parametrize(
    ("model", "check", "words"),
    [
        (NaNPredictions(), "predictions", ("non-finite predictions (NaN)", "the first in row 0")),
        (ConstantPredictions(), "predictions", ("constant predictions", "for all 2520 held-out rows")),
        (RaisingPredict(), "contract", ("predict() fails on 2 rows", "RuntimeError: predict exploded")),
    ],
    ids=["nan", "constant", "raises"],
)
def test_broken_predictions_are_rejected(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions,
    model: Any, check: str, words: tuple[str, ...],
) -> None:  # fmt: skip
    info = register(served, ANOMALY, model, tmp_path, like=good_anomaly)
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, check, *words)
    assert_serving_untouched(served, legacy)


def test_a_load_that_hangs_is_killed_after_the_timeout(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    info = register(served, ANOMALY, HangingLoad(), tmp_path, like=good_anomaly)
    gate = replace(default_gate(ANOMALY), load_timeout_s=2.0)
    report = check_version(served, ANOMALY, info.version, gate, options)
    rejected_by(served, report, "load", "loading the artefact did not finish within 2 s", "killed")
    assert report.check("load").threshold == {"timeout_s": 2.0}
    assert_serving_untouched(served, legacy)


def test_a_predict_that_hangs_is_killed_after_the_request_timeout(
    served: Registry, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    info = register(served, ANOMALY, HangingPredict(), tmp_path, like=good_anomaly)
    gate = replace(default_gate(ANOMALY), request_timeout_s=1.0)
    report = check_version(served, ANOMALY, info.version, gate, options)
    rejected_by(served, report, "contract", "predict() on 45 features did not finish within 1 s", "killed")
    assert report.check("load").passed


def test_a_load_that_crashes_the_interpreter_is_a_failure_with_its_signal(
    served: Registry, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    info = register(served, ANOMALY, CrashingLoad(), tmp_path, like=good_anomaly)
    report = check_version(served, ANOMALY, info.version, options=options)
    rejected_by(served, report, "load", "the probe process was killed by signal SIGSEGV")


def test_a_quality_regression_beyond_the_change_threshold_is_rejected(
    served: Registry, legacy: bytes, good_anomaly: TrainResult, tmp_path: Path, options: GateOptions
) -> None:
    # Flags 30% of the rows instead of 5%: the ranking is as good, but F1 collapses against the baseline.
    noisy = anomaly.make_model().set_params(model__contamination=0.3, model__n_estimators=50)
    info = register(served, ANOMALY, noisy.fit(anomaly_rows()), tmp_path, like=good_anomaly)
    gate = replace(
        default_gate(ANOMALY),
        metrics=(MetricThreshold("f1", "higher_is_better", min=0.0, change=ChangeThreshold(absolute=0.05)),),
    )
    report = check_version(served, ANOMALY, info.version, gate, options)
    rejected_by(served, report, "quality.f1.change", "regression: f1", "for the serving version 1")
    change = report.check("quality.f1.change")
    assert change.value["worse_by"] > 0.05
    assert report.check("quality.f1").passed  # the value threshold alone would have blessed it
    assert report.check("infra").outcome == "skipped"
    assert_serving_untouched(served, legacy)


def _first_version(tmp_path: Path, name: str, model: Any, like: TrainResult) -> tuple[Registry, int]:
    """Register `model` as version 1 with the 24 h window `like` was trained on, as `retrain train` does."""
    registry = Registry(tmp_path / "registry")
    artefact = tmp_path / "model.pkl"
    joblib.dump(model, artefact)
    window = like.data
    assert window is not None
    meta = NewVersionMetadata(
        trainer=like.trainer,
        data_source_requested="synthetic",
        data_source_effective="synthetic",
        training_hours=24.0,
        window_start=datetime.fromisoformat(str(window["start"])),
        window_end=datetime.fromisoformat(str(window["end"])),
        feature_contract=like.contract.to_json(),
        metrics=like.metrics,
        extra={"reference": like.reference, "notebook_parameters": {"seed": 42}},
    )
    return registry, registry.register(name, artefact, meta).version


@pytest.fixture(scope="module")
def day_models() -> dict[str, TrainResult]:
    """Both built-in models trained on 24 h of synthetic data ending now (not a hand-picked window)."""
    settings = DataSettings(synthetic=SyntheticSettings(seed=42))
    return {
        ANOMALY: anomaly.train_and_evaluate(fetch(ANOMALY, "synthetic", 24, settings)),
        FORECAST: forecast.train_and_evaluate(fetch(FORECAST, "synthetic", 24, settings)),
    }


@pytest.mark.parametrize("name", [ANOMALY, FORECAST])
def test_the_first_training_on_a_day_is_blessed(
    tmp_path: Path, day_models: dict[str, TrainResult], name: str
) -> None:
    good = day_models[name]
    registry, version = _first_version(tmp_path, name, good.model, good)
    report = check_version(registry, name, version, options=GateOptions(environ=probe_environ()))
    assert report.verdict == "blessed", report.reasons
    assert report.holdout is not None and report.holdout["rows"] == good.rows["test"]
    assert good.data is not None
    assert report.holdout["end"] == good.data["end"]  # the training window, not the hours before the check


def test_a_degraded_first_anomaly_detector_is_rejected(
    tmp_path: Path, day_models: dict[str, TrainResult]
) -> None:
    good = day_models[ANOMALY]
    # Three trees that flag 30% of the rows: it still ranks anomalies above chance, but flags far too much.
    rows = anomaly_rows(24)
    bad = anomaly.make_model().set_params(model__n_estimators=3, model__contamination=0.3).fit(rows)
    registry, version = _first_version(tmp_path, ANOMALY, bad, good)
    report = check_version(registry, ANOMALY, version, options=GateOptions(environ=probe_environ()))
    assert report.verdict == "rejected"
    assert report.check("quality.flagged_rate").failed, report.check("quality.flagged_rate")


def test_a_forecaster_no_better_than_no_change_is_rejected(
    tmp_path: Path, day_models: dict[str, TrainResult]
) -> None:
    from sklearn.dummy import DummyRegressor  # type: ignore[import-untyped]

    from retrain.training.estimators import ResidualForecaster

    # The naive forecast as a model: a change of exactly 0, so the value an hour ahead is the value now.
    good = day_models[FORECAST]
    rows = np.ones((10, 5))
    no_change = ResidualForecaster(DummyRegressor(strategy="constant", constant=np.zeros(5))).fit(rows, rows)
    registry, version = _first_version(tmp_path, FORECAST, no_change, good)
    report = check_version(registry, FORECAST, version, options=GateOptions(environ=probe_environ()))
    assert report.verdict == "rejected"
    assert report.check("quality.skill").failed and report.check("quality.skill").value == 0.0
