"""Fixtures of the gate tests: built-in models trained once per session, a registry whose serving version
is a good anomaly detector, and the real Pushgateway (tests/fixtures/pushgateway.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.gate_models import ANOMALY, END, probe_environ, register, train_anomaly, train_forecast
from fixtures.pushgateway import pushgateway  # noqa: F401  (the fixture, for the tests here)
from retrain.gate import GateOptions
from retrain.registry import Registry
from retrain.training.outputs import TrainResult


@pytest.fixture(scope="session")
def good_anomaly() -> TrainResult:
    """The anomaly detector as the pipeline trains it by default: 168 h of synthetic data."""
    return train_anomaly(168)


@pytest.fixture(scope="session")
def good_forecast() -> TrainResult:
    return train_forecast(168)


@pytest.fixture
def options() -> GateOptions:
    """Held-out windows end at END (fixed rows); probes can import tests/fixtures."""
    return GateOptions(now=lambda: END, environ=probe_environ())


@pytest.fixture
def served(tmp_path: Path, good_anomaly: TrainResult) -> Registry:
    """A registry where version 1 of the anomaly detector (a good model) serves."""
    registry = Registry(tmp_path / "registry", actor="tester")
    register(registry, ANOMALY, good_anomaly.model, tmp_path / "work", like=good_anomaly)
    registry.promote(ANOMALY, 1)
    return registry
