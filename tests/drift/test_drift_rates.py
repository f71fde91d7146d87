"""The drift check's statistical promises on the built-in models' data, with fixed seeds.

Data of the training distribution (fresh synthetic noise over like periods) must not drift, a 50% rise of
every metric must; a day must not drift against a week it belongs to (the reference records periods, the
check compares like with like); autocorrelation and window length widen the PSI band. bench/drift_rates.py
measures the rates over 20 seeds and 24/168/720 h; these are a few of its cases, fast enough for CI.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import numpy as np
import pandas as pd
import pytest

from retrain.app.drift import DriftCheckRequest, drift_check
from retrain.data import DataSettings, SyntheticSettings, fetch
from retrain.data.contracts import ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS, raw_metrics
from retrain.drift import Thresholds
from retrain.drift.check import frame_drift
from retrain.drift.periods import psi_limit
from retrain.errors import InvalidInput
from retrain.registry import NewVersionMetadata, Registry
from retrain.training import anomaly, forecast
from retrain.training.outputs import TrainResult
from retrain.training.reference import ReferenceJSON, effective_size

SUNDAY = datetime(2025, 3, 9, 20, tzinfo=UTC)  # a week ending on a Sunday evening: the case
TUESDAY = datetime(2025, 3, 4, 20, tzinfo=UTC)
RATIOS = {"node_cpu_utilization", "node_memory_utilization", "cpu_usage", "memory_usage", "disk_usage"}
LIVE_SEEDS = (1001, 1002, 1003)


def window(model: str, hours: float, end: datetime, seed: int, factor: float = 1.0) -> pd.DataFrame:
    settings = DataSettings(synthetic=SyntheticSettings(seed=seed))
    frame = fetch(model, "synthetic", hours, settings, end=end).frame
    if factor != 1.0:
        for name in raw_metrics(model):
            frame[name] = frame[name] * factor
            if name in RATIOS:
                frame[name] = frame[name].clip(upper=1.0)
    return frame


def trained(model: str, hours: float, end: datetime) -> TrainResult:
    dataset = fetch(model, "synthetic", hours, DataSettings(synthetic=SyntheticSettings(seed=42)), end=end)
    if model == ANOMALY_DETECTOR:
        return anomaly.train_and_evaluate(dataset)
    return forecast.train_and_evaluate(dataset)


@pytest.fixture(scope="module")
def week_forecaster() -> TrainResult:
    return trained(PREDICTIVE_ANALYTICS, 168, SUNDAY)


@pytest.fixture(scope="module")
def day_references() -> dict[str, ReferenceJSON]:
    return {m: trained(m, 24, TUESDAY).reference for m in (ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS)}


def test_a_day_does_not_drift_against_the_week_it_belongs_to(week_forecaster: TrainResult) -> None:
    reference, thresholds = week_forecaster.reference, Thresholds()
    assert reference.get("periods")  # the trainer records counts per period
    for seed in LIVE_SEEDS:
        found, score, _ = frame_drift(
            PREDICTIVE_ANALYTICS, reference, window(PREDICTIVE_ANALYTICS, 24, SUNDAY, seed), thresholds
        )
        assert score < thresholds.share, [(f.feature, f.psi, f.psi_limit) for f in found]
        assert all(f.unmatched_share == 0 for f in found)
    # Without periods the same Sunday is judged against the whole week, weekdays included: it "drifts".
    whole: ReferenceJSON = {**reference, "features": {
        name: {k: v for k, v in feature.items() if k != "periods"}  # type: ignore[misc]
        for name, feature in reference["features"].items()
    }}  # fmt: skip
    _, score, _ = frame_drift(
        PREDICTIVE_ANALYTICS, whole, window(PREDICTIVE_ANALYTICS, 24, SUNDAY, 1001), thresholds
    )
    assert score >= thresholds.share


@pytest.mark.parametrize("model", [ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS])
def test_fresh_days_do_not_drift_and_a_fifty_percent_rise_does(
    day_references: dict[str, ReferenceJSON], model: str
) -> None:
    reference, thresholds = day_references[model], Thresholds()
    for seed in LIVE_SEEDS:
        same = frame_drift(model, reference, window(model, 24, TUESDAY, seed), thresholds)[1]
        busier = frame_drift(model, reference, window(model, 24, TUESDAY, seed, factor=1.5), thresholds)[1]
        assert same < thresholds.share <= busier, (seed, same, busier)


def test_live_rows_of_periods_the_training_never_saw_are_flagged_as_such(
    day_references: dict[str, ReferenceJSON],
) -> None:
    # Trained on a Tuesday, checked on a Sunday: no weekend rows in the reference.
    found, score, _ = frame_drift(
        PREDICTIVE_ANALYTICS,
        day_references[PREDICTIVE_ANALYTICS],
        window(PREDICTIVE_ANALYTICS, 24, SUNDAY, 7),
        Thresholds(),
    )
    assert all(f.unmatched_share > 0.9 for f in found)
    assert score >= Thresholds().share  # a weekend is half the load: the model never saw one


def test_effective_size_discounts_autocorrelation_but_not_the_daily_cycle() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(size=5000)
    assert effective_size(noise) == pytest.approx(5000, rel=0.05)
    ar = np.zeros(5000)
    for i in range(1, 5000):
        ar[i] = 0.9 * ar[i - 1] + noise[i]
    assert effective_size(ar) == pytest.approx(5000 * 0.1 / 1.9, rel=0.2)
    cycle = np.sin(np.arange(1440) * 2 * np.pi / 1440) + 0.1 * rng.normal(size=1440)
    assert effective_size(cycle) < 50  # the cycle alone looks like a handful of draws
    assert effective_size(cycle, smooth=60) > 1000  # deviations from it are nearly independent


def test_the_psi_band_widens_for_few_effective_rows() -> None:
    assert psi_limit(10, 1440, 1080, 0.25) == 0.25  # a day of nearly independent rows: the usual band
    assert psi_limit(10, 30, 1080, 0.25) == pytest.approx(21.666 * (1 / 30 + 1 / 1080), rel=1e-3)


def _serve(root: Path, result: TrainResult) -> Registry:
    registry = Registry(root)
    artefact = root.parent / "model.pkl"
    joblib.dump(result.model, artefact)
    meta = NewVersionMetadata(trainer=result.trainer, extra={"reference": result.reference})
    info = registry.register(PREDICTIVE_ANALYTICS, artefact, meta)
    registry.promote(PREDICTIVE_ANALYTICS, info.version, reason="drift test")
    return registry


def test_the_use_case_reports_no_drift_for_a_day_of_the_training_week(
    tmp_path: Path, week_forecaster: TrainResult
) -> None:
    _serve(tmp_path / "registry", week_forecaster)
    request = DriftCheckRequest(
        PREDICTIVE_ANALYTICS, hours=24, data_source="synthetic", end=SUNDAY, registry=tmp_path / "registry",
        report_path=tmp_path / "report.json", environ={"SYNTHETIC_SEED": "1042"},
    )  # fmt: skip
    result = drift_check(request)
    assert (result.outcome, result.version, result.push) == ("no-drift", 1, None)
    assert result.reason.startswith(f"{len(result.report.drifted_features)} of 5 features drifted")
    assert result.next_action.startswith("nothing to do")
    assert (tmp_path / "report.json").is_file()
    with pytest.raises(InvalidInput, match="--share"):
        drift_check(DriftCheckRequest(PREDICTIVE_ANALYTICS, share=0.0, registry=tmp_path / "registry"))
