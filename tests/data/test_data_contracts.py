"""Feature contracts of the built-in models: names, order, width, JSON round trip, width checks."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import Any

import pytest

from retrain.data.contracts import (
    ANOMALY_DERIVED,
    ANOMALY_METRICS,
    FeatureContract,
    builtin_contract,
    raw_metrics,
)
from retrain.errors import InvalidInput


def test_anomaly_detector_has_45_features_metric_major_in_design_order() -> None:
    contract = builtin_contract("anomaly-detector")
    assert contract.width == 45
    assert contract.grid_seconds == 60
    assert contract.dtype == "float64"
    assert contract.feature_names[:10] == (
        "node_cpu_utilization_value",
        "node_cpu_utilization_mean_5m",
        "node_cpu_utilization_std_5m",
        "node_cpu_utilization_min_5m",
        "node_cpu_utilization_max_5m",
        "node_cpu_utilization_lag_1",
        "node_cpu_utilization_lag_5",
        "node_cpu_utilization_diff",
        "node_cpu_utilization_pct_change",
        "node_memory_utilization_value",
    )
    assert contract.feature_names[-1] == "container_restart_count_pct_change"
    assert contract.feature_names[9 * 2 + 1] == "pod_cpu_usage_mean_5m"
    assert list(contract.feature_names[::9]) == [f"{m}_value" for m in ANOMALY_METRICS]
    assert len(set(contract.feature_names)) == 45 == len(ANOMALY_METRICS) * len(ANOMALY_DERIVED)
    assert contract.target_names == ()


def test_predictive_analytics_maps_five_inputs_to_five_targets_a_horizon_ahead() -> None:
    contract = builtin_contract("predictive-analytics")
    assert contract.feature_names == ("cpu_usage", "memory_usage", "disk_usage", "network_in", "network_out")
    assert contract.target_names == (
        "cpu_usage_ahead_1h",
        "memory_usage_ahead_1h",
        "disk_usage_ahead_1h",
        "network_in_ahead_1h",
        "network_out_ahead_1h",
    )
    assert (contract.width, contract.target_width, contract.horizon_minutes) == (5, 5, 60)
    assert (
        builtin_contract("predictive-analytics", horizon_minutes=30).target_names[0] == "cpu_usage_ahead_30m"
    )


@pytest.mark.parametrize("horizon", [0, -5, 7])
def test_horizon_must_be_a_positive_multiple_of_the_grid(horizon: int) -> None:
    with pytest.raises(InvalidInput, match="multiple of 5 minutes") as info:
        builtin_contract("predictive-analytics", horizon_minutes=horizon)
    assert info.value.location is not None and info.value.location.field == "horizon_minutes"


def test_unknown_model_names_the_choices_and_suggests_the_closest() -> None:
    with pytest.raises(InvalidInput) as info:
        builtin_contract("anomaly-detectr")
    text = str(info.value)
    assert "unknown built-in model 'anomaly-detectr'" in text
    assert "did you mean 'anomaly-detector'?" in text
    assert "predictive-analytics" in text
    with pytest.raises(InvalidInput, match="unknown built-in model 'churn'"):
        raw_metrics("churn")


@pytest.mark.parametrize("model", ["anomaly-detector", "predictive-analytics"])
def test_contract_survives_a_json_round_trip(model: str) -> None:
    contract = builtin_contract(model)
    stored = json.loads(json.dumps(contract.to_json()))
    assert stored["width"] == contract.width
    assert FeatureContract.from_json(stored) == contract


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"width": 44}, "width"),
        ({"dtype": "float32"}, "dtype"),
        ({"feature_names": "a,b"}, "feature_names"),
        ({"feature_names": ["a", ""]}, "feature_names"),
        ({"schema": 2}, "schema"),
        ({"grid_seconds": 0}, "grid_seconds"),
        ({"horizon_minutes": "1h"}, "horizon_minutes"),
        ({"model": ""}, "model"),
    ],
)
def test_a_damaged_contract_is_refused_naming_the_field(change: dict[str, Any], field: str) -> None:
    stored: dict[str, Any] = dict(builtin_contract("anomaly-detector").to_json()) | change
    with pytest.raises(InvalidInput) as info:
        FeatureContract.from_json(stored, where="metadata.feature_contract")
    assert info.value.location is not None
    assert info.value.location.field == f"metadata.feature_contract.{field}"


def test_check_width_accepts_rows_of_the_contract_width() -> None:
    contract = builtin_contract("predictive-analytics")
    contract.check_width([[0.1, 0.2, 0.3, 1e6, 2e6], (0.0,) * 5])


def test_check_width_names_expected_width_row_and_feature_names() -> None:
    contract = builtin_contract("anomaly-detector")
    with pytest.raises(InvalidInput) as info:
        contract.check_width([[0.0] * 45, [0.0] * 5])
    error = info.value
    assert "anomaly-detector expects 45 features per row, row 1 has 5" in str(error)
    assert error.location is not None and error.location.field == "instances[1]"
    assert error.hint is not None and "node_cpu_utilization_mean_5m" in error.hint
    assert error.hint.index("node_cpu_utilization_value") < error.hint.index("container_restart_count_diff")


def test_check_width_refuses_a_row_that_is_not_a_list() -> None:
    with pytest.raises(InvalidInput, match="row 0 is not a list of 5 numbers"):
        builtin_contract("predictive-analytics").check_width(["0.1,0.2,0.3,0.4,0.5"])


def test_importing_the_package_loads_no_pandas_numpy_or_httpx() -> None:
    code = (
        "import sys, retrain.data, retrain.data.sources, retrain.data.contracts, retrain.data.settings;"
        "print(sorted(m for m in ('pandas', 'numpy', 'httpx') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True, text=True).stdout
    assert out.strip() == "[]"
