"""Fixtures of the serving tests: models built once per session, a registry and a live server per test."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from fixtures.serving_helpers import (
    ANOMALY,
    FORECAST,
    Served,
    anomaly_model,
    forecast_model,
    register,
    save,
    start,
)
from retrain.registry import Registry


@pytest.fixture(scope="session")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Pickles of real models, fitted once: anomaly-0, forecast-0, forecast-1, forecast-2."""
    folder = tmp_path_factory.mktemp("artefacts")
    files = {"anomaly-0": save(anomaly_model(0), folder / "anomaly-0.pkl")}
    for seed in (0, 1, 2):
        files[f"forecast-{seed}"] = save(forecast_model(seed), folder / f"forecast-{seed}.pkl")
    return files


@pytest.fixture
def registry(tmp_path: Path, artefacts: dict[str, Path]) -> Registry:
    """Both built-in models; version 1 of each serving; the forecaster also has versions 2 and 3."""
    reg = Registry(tmp_path / "registry", actor="tester")
    register(reg, ANOMALY, artefacts["anomaly-0"])
    for seed in (0, 1, 2):
        register(reg, FORECAST, artefacts[f"forecast-{seed}"])
    reg.promote(ANOMALY, 1)
    reg.promote(FORECAST, 1)
    return reg


@pytest.fixture
def served(registry: Registry) -> Iterator[Served]:
    """A live server on 127.0.0.1 with both models loaded."""
    with start(registry) as item:
        yield item
