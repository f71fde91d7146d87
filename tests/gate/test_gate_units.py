"""The gate's pure parts: thresholds files, value and change thresholds, the checks, the push body."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import numpy as np
import pytest

from retrain.data.contracts import builtin_contract
from retrain.errors import InvalidInput
from retrain.exposition import group_url
from retrain.gate import (
    ChangeThreshold,
    CheckResult,
    GateReport,
    MetricThreshold,
    checks,
    default_gate,
    load_thresholds,
)
from retrain.gate.pushgateway import JOB, exposition
from retrain.gate.quality import change_check, quality, value_check

ANOMALY = builtin_contract("anomaly-detector")
FORECAST = builtin_contract("predictive-analytics")


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "thresholds.yaml"
    path.write_text(text, encoding="utf-8")
    return path


# -- thresholds files --------------------------------------------------------------------------------------


def test_defaults_of_the_built_in_models() -> None:
    anomaly = {m.metric: m for m in default_gate("anomaly-detector").metrics}
    assert (anomaly["f1"].min, anomaly["f1"].change) == (0.15, ChangeThreshold(absolute=0.1))
    assert (anomaly["flagged_rate"].direction, anomaly["flagged_rate"].max) == ("lower_is_better", 0.12)
    forecast = {m.metric: m for m in default_gate("predictive-analytics").metrics}
    assert (forecast["r2"].min, forecast["skill"].min) == (0.3, 0.01)
    custom = default_gate("my-model")
    assert custom.metrics == () and custom.load_timeout_s == 30.0


def test_a_file_overrides_replaces_and_removes_default_thresholds(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
models:
  anomaly-detector:
    load_timeout_s: 5
    holdout: {hours: 24, seed: 7}
    metrics:
      f1: {min: 0.4, change: {absolute: 0.02, relative: 0.1}}
      roc_auc: null
      mae: {max: 3}
  other-model:
    metrics:
      accuracy: {min: 0.9}
""",
    )
    gate = load_thresholds(path, "anomaly-detector")
    metrics = {m.metric: m for m in gate.metrics}
    assert set(metrics) == {"f1", "flagged_rate", "mae"}
    assert metrics["f1"] == MetricThreshold("f1", "higher_is_better", 0.4, None, ChangeThreshold(0.02, 0.1))
    assert metrics["mae"].direction == "lower_is_better"
    assert (gate.load_timeout_s, gate.holdout.hours, gate.holdout.seed, gate.holdout.source) == (
        5.0, 24.0, 7, "synthetic",
    )  # fmt: skip
    assert gate.origin.endswith("thresholds.yaml: models.anomaly-detector")
    assert load_thresholds(path, "predictive-analytics") == default_gate("predictive-analytics")
    assert [m.metric for m in load_thresholds(path, "other-model").metrics] == ["accuracy"]


@pytest.mark.parametrize(
    ("text", "line", "words"),
    [
        (
            "models:\n  anomaly-detector:\n    metrics:\n      f1: {min: 0.5, max: 0.1}\n",
            4,
            "greater than max",
        ),
        ("models:\n  anomaly-detector:\n    load_timout_s: 3\n", 3, "Extra inputs are not permitted"),
        ("models:\n  x:\n    holdout:\n      source: kafka\n", 4, "'synthetic', 'prometheus' or 'hybrid'"),
        ("models:\n  x:\n    metrics:\n      f1: {}\n", 4, "needs `min`, `max` and/or `change`"),
        ("models: [1, 2\n", 2, "not valid YAML"),
    ],
)
def test_a_bad_thresholds_file_names_the_file_line_and_field(
    tmp_path: Path, text: str, line: int, words: str
) -> None:
    path = write(tmp_path, text)
    with pytest.raises(InvalidInput) as caught:
        load_thresholds(path, "anomaly-detector")
    assert caught.value.location is not None
    assert (caught.value.location.file, caught.value.location.line) == (str(path), line)
    assert words in str(caught.value)


def test_a_missing_thresholds_file_is_bad_input(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot read the thresholds file"):
        load_thresholds(tmp_path / "nope.yaml", "anomaly-detector")


# -- value and change thresholds ---------------------------------------------------------------------------

F1 = MetricThreshold("f1", "higher_is_better", min=0.25, change=ChangeThreshold(absolute=0.08, relative=0.25))
MAE = MetricThreshold("mae", "lower_is_better", max=1.0, change=ChangeThreshold(relative=0.1))


def test_value_thresholds_are_inclusive_bounds_and_undefined_metrics_fail() -> None:
    assert value_check(F1, {"f1": 0.25}).passed
    failed = value_check(F1, {"f1": 0.2})
    assert failed.failed and failed.reason == "f1 = 0.2, below the minimum 0.25"
    assert value_check(MAE, {"mae": 1.5}).reason == "mae = 1.5, above the maximum 1"
    undefined = value_check(F1, {"f1": None, "evaluation_note": "no labelled rows"})
    assert (
        undefined.failed
        and "could not be measured on the held-out rows (no labelled rows)" in undefined.reason
    )


@pytest.mark.parametrize(
    ("threshold", "candidate", "baseline", "outcome"),
    [
        (F1, 0.33, 0.40, "passed"),  # 0.07 worse: within 0.08 and within 25% of 0.40
        (F1, 0.31, 0.40, "failed"),  # 0.09 worse: beyond the absolute margin
        (F1, 0.14, 0.20, "failed"),  # 0.06 worse, but 30% of the baseline: beyond the relative margin
        (F1, 0.50, 0.40, "passed"),  # better
        (MAE, 1.05, 1.00, "passed"),  # lower is better: 5% worse
        (MAE, 1.20, 1.00, "failed"),  # 20% worse
        (MAE, 0.50, 1.00, "passed"),
    ],
)
def test_change_thresholds_follow_the_metric_direction(
    threshold: MetricThreshold, candidate: float, baseline: float, outcome: str
) -> None:
    name = threshold.metric
    result = change_check(threshold, {name: candidate}, {name: baseline}, 3, "unused")
    assert result.outcome == outcome, result.reason
    assert result.value["baseline_version"] == 3
    if outcome == "failed":
        assert result.reason.startswith(f"regression: {name}")


def test_without_a_baseline_change_thresholds_are_skipped_and_say_why() -> None:
    results = quality(
        [F1, MAE], {"f1": 0.3, "mae": 0.5}, None, baseline_version=None, no_baseline="rubber stamp"
    )
    assert [(r.name, r.outcome) for r in results] == [
        ("quality.f1", "passed"),
        ("quality.f1.change", "skipped"),
        ("quality.mae", "passed"),
        ("quality.mae.change", "skipped"),
    ]
    assert results[1].reason == "rubber stamp"
    skipped = change_check(F1, {"f1": 0.3}, {"f1": None}, 2, "")
    assert skipped.outcome == "skipped" and "baseline (version 2)" in skipped.reason
    assert quality([], {}, None, baseline_version=None, no_baseline="")[0].outcome == "skipped"


# -- the check functions -----------------------------------------------------------------------------------


def test_predictions_must_have_the_contracts_output_shape() -> None:
    assert checks.predictions(np.arange(50.0).reshape(10, 5), 10, FORECAST, "predictive-analytics").passed
    wrong = checks.predictions(np.ones((10, 4)), 10, FORECAST, "predictive-analytics")
    assert wrong.failed and "returned shape (10, 4) for 10 held-out rows, expected (10, 5)" in wrong.reason


def test_infinite_and_constant_columns_are_named() -> None:
    values = np.tile(np.arange(6.0), (5, 1)).T[:, :5].copy()
    values[3, 2] = np.inf
    result = checks.predictions(values, 6, FORECAST, "predictive-analytics")
    assert "1 non-finite predictions (inf) on 6 held-out rows, the first in row 3" in result.reason
    values = np.column_stack([np.arange(6.0)] * 4 + [np.full(6, 0.5)])
    result = checks.predictions(values, 6, FORECAST, "predictive-analytics")
    assert "network_out_ahead_1h is 0.5 for all 6 held-out rows" in result.reason


def test_the_anomaly_detector_must_answer_1_or_minus_1() -> None:
    result = checks.predictions(np.array([0.0, 1.0, 0.0]), 3, ANOMALY, "anomaly-detector")
    assert result.failed and "the consumer expects 1 (normal) or -1 (anomaly)" in result.reason
    good = checks.predictions(np.array([1.0, -1.0, 1.0, 1.0]), 4, ANOMALY, "anomaly-detector")
    assert good.passed and good.value["flagged_rate"] == 0.25


def test_a_failed_infra_validation_reports_the_servers_problems() -> None:
    report = {
        "ok": False,
        "loaded": True,
        "engine": "numpy",
        "version": 4,
        "queries": [{"protocol": "v1", "status": 500, "model_version": "4", "seconds": 0.01}],
        "problems": ["V1 /v1/models/m:predict answered 500: boom"],
    }
    result = checks.infra(report, None, 60)
    assert result.failed and result.reason == "V1 /v1/models/m:predict answered 500: boom"
    assert checks.infra(None, "infra validation did not finish within 90 s", 60).failed


# -- the push body -----------------------------------------------------------------------------------------


def test_the_exposition_holds_the_verdict_checks_metrics_and_timestamp() -> None:
    report = GateReport(
        model="anomaly-detector",
        version=3,
        checks=(
            CheckResult.ok("artefact", "fine"),
            CheckResult.fail("quality.f1", "low"),
            CheckResult.skip("infra", "not run"),
            CheckResult("push", "failed", reason="x", blocking=False),
        ),
        baseline={},
        holdout=None,
        thresholds={},
        metrics={"candidate": {"f1": 0.125, "per_target": {"a": 1}, "evaluation_note": "x", "ok": True}},
        started_at="",
        seconds=0.0,
    )
    text = exposition(report, datetime(2025, 3, 5, 7, tzinfo=UTC))
    lines = [line for line in text.splitlines() if not line.startswith("#")]
    assert lines == [
        'retrain_gate_verdict{version="3"} 0.0',
        'retrain_gate_check_passed{version="3",check="artefact"} 1.0',
        'retrain_gate_check_passed{version="3",check="quality.f1"} 0.0',
        'retrain_gate_check_passed{version="3",check="infra"} 0.0',
        'retrain_model_metric{version="3",metric="f1"} 0.125',
        "retrain_gate_last_run_timestamp_seconds 1741158000.0",
    ]
    assert "# TYPE retrain_gate_verdict gauge" in text
    assert group_url("http://pg:9091/", JOB, "anomaly-detector") == (
        "http://pg:9091/metrics/job/retrain_gate/model/anomaly-detector"
    )
