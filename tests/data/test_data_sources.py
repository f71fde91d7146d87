"""`fetch`: bad input, the hybrid fallback when Prometheus is unreachable, what metadata gets."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from fixtures.prometheus import free_port
from retrain.data.promapi import PrometheusClient
from retrain.data.settings import DataSettings, PrometheusSettings, RetryPolicy
from retrain.data.sources import fetch
from retrain.errors import InvalidInput, TemporaryError

END = datetime(2024, 5, 6, 12, tzinfo=UTC)


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def unreachable() -> tuple[DataSettings, FakeSleep, Callable[[], PrometheusClient]]:
    """Settings pointing at a port nobody listens on, and a client factory whose sleeps are recorded."""
    settings = DataSettings(
        prometheus=PrometheusSettings(url=f"http://127.0.0.1:{free_port()}", retry=RetryPolicy(attempts=3))
    )
    sleep = FakeSleep()
    return settings, sleep, lambda: PrometheusClient(settings.prometheus, sleep=sleep)


@pytest.mark.parametrize("hours", [0, -24, 0.5 / 60, float("nan"), float("inf"), 24 * 367, True])
def test_a_bad_training_window_is_refused_before_anything_is_fetched(hours: float) -> None:
    with pytest.raises(InvalidInput, match="training window must be between") as info:
        fetch("anomaly-detector", "synthetic", hours, end=END)
    assert info.value.location is not None and info.value.location.field == "training-hours"


def test_the_window_must_hold_one_point_of_the_models_grid() -> None:
    assert fetch("anomaly-detector", "synthetic", 1 / 60, end=END).rows == 1
    with pytest.raises(InvalidInput, match=r"between 0\.0833333 and"):
        fetch("predictive-analytics", "synthetic", 1 / 60, end=END)


def test_an_unknown_source_names_the_choices_and_suggests_one() -> None:
    with pytest.raises(InvalidInput) as info:
        fetch("anomaly-detector", "promethues", 24, end=END)
    text = str(info.value)
    assert "unknown data source 'promethues'" in text and "did you mean 'prometheus'?" in text
    assert "synthetic, prometheus, hybrid" in text
    assert info.value.location is not None and info.value.location.field == "data-source"


def test_an_unknown_model_is_refused() -> None:
    with pytest.raises(InvalidInput, match="unknown built-in model 'my-model'"):
        fetch("my-model", "synthetic", 24, end=END)


def test_prometheus_mode_raises_when_unreachable_after_the_retries() -> None:
    settings, sleep, factory = unreachable()
    with pytest.raises(TemporaryError, match="unreachable after 3 attempts"):
        fetch("anomaly-detector", "prometheus", 24, settings, end=END, client_factory=factory)
    assert sleep.delays == [0.5, 1.0]


def test_hybrid_falls_back_to_synthetic_loudly_when_prometheus_is_unreachable(
    caplog: pytest.LogCaptureFixture,
) -> None:
    settings, sleep, factory = unreachable()
    with caplog.at_level(logging.WARNING, logger="retrain.data"):
        data = fetch("predictive-analytics", "hybrid", 24, settings, end=END, client_factory=factory)
    assert (data.source_requested, data.source_effective) == ("hybrid", "synthetic")
    assert data.fallback_reason is not None and "unreachable after 3 attempts" in data.fallback_reason
    assert data.rows == 24 * 12 and (data.frame["source"] == "synthetic").all()
    assert sleep.delays == [0.5, 1.0]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "fell back to synthetic" in warnings[0].getMessage()
    info = json.loads(json.dumps(data.info()))
    assert info["data_source_requested"] == "hybrid" and info["data_source_effective"] == "synthetic"
    assert info["fallback_reason"] == data.fallback_reason
    assert info["rows"] == 288 and info["step_seconds"] == 300
    assert info["end"] == "2024-05-06T12:00:00+00:00" and info["start"] == "2024-05-05T12:05:00+00:00"


def test_a_naive_end_is_taken_as_utc() -> None:
    naive = fetch("anomaly-detector", "synthetic", 1, end=END.replace(tzinfo=None))
    aware = fetch("anomaly-detector", "synthetic", 1, end=END)
    assert naive.end == aware.end == END
