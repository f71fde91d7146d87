"""Drift gauges: the text exposition (checked by promtool), a real Pushgateway, and the DriftMonitor."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fixtures.drift_helpers import serve_with_reference, synthetic_reference
from fixtures.pushgateway import Pushgateway, pushgateway, scrape  # noqa: F401
from retrain.data import DataSettings, SyntheticSettings
from retrain.drift import (
    DriftMonitor,
    DriftReport,
    DriftSettings,
    FeatureDrift,
    Thresholds,
    exposition_lines,
    push,
)
from retrain.drift.exposition import PushOutcome
from retrain.engine.clock import FakeClock
from retrain.errors import TemporaryError
from retrain.gate.pushgateway import PushPolicy
from retrain.registry import Registry

END = datetime(2026, 3, 1, 12, tzinfo=UTC)


def _report(
    model: str = "anomaly-detector", score: float = 0.5, psis: tuple[float, ...] = (0.3, 0.05)
) -> DriftReport:
    features = tuple(
        FeatureDrift(f"f{i}", p, "significant" if p >= 0.25 else "stable", p / 2, 0.5, p >= 0.25, 0.0, 1.0)
        for i, p in enumerate(psis)
    )
    return DriftReport(model, 3, score, score >= 0.3, features, 1000, 100, Thresholds(), END)


def test_exposition_is_valid_prometheus_text() -> None:
    promtool = shutil.which("promtool")
    lines = exposition_lines([_report(), _report("predictive-analytics", 0.0, (0.01,))])
    text = "\n".join(lines) + "\n"
    assert 'retrain_model_drift_score{model="anomaly-detector"} 0.5' in lines
    assert 'retrain_model_drift_threshold{model="anomaly-detector"} 0.3' in lines
    assert 'retrain_feature_drift_psi{model="anomaly-detector",feature="f0"} 0.3' in lines
    assert 'retrain_model_drifted{model="predictive-analytics"} 0.0' in lines
    assert sum(line.startswith("# TYPE retrain_model_drift_score ") for line in lines) == 1
    if promtool is None:
        pytest.skip("promtool not installed (Debian package `prometheus`)")
    checked = subprocess.run(
        [promtool, "check", "metrics"], input=text, capture_output=True, text=True, timeout=30, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_push_to_a_real_pushgateway_replaces_the_models_series(pushgateway: Pushgateway) -> None:  # noqa: F811
    first = push(pushgateway.url, _report(score=0.5, psis=(0.3, 0.05)))
    assert first.ok, first.message
    push(pushgateway.url, _report("predictive-analytics", score=0.0, psis=(0.01,)))
    second = push(pushgateway.url, _report(score=1.0, psis=(0.9, 0.8)))
    assert second.ok and second.attempts == 1
    samples = scrape(pushgateway.url)
    scores = {s.labels["model"]: s.value for s in samples if s.name == "retrain_model_drift_score"}
    assert scores == {"anomaly-detector": 1.0, "predictive-analytics": 0.0}
    psi = {
        s.labels["feature"]: s.value
        for s in samples
        if s.name == "retrain_feature_drift_psi" and s.labels["model"] == "anomaly-detector"
    }
    assert psi == {"f0": 0.9, "f1": 0.8}
    assert all(s.labels.get("job") == "retrain_drift" for s in samples if s.name.startswith("retrain_"))


def test_push_retries_with_backoff_and_gives_up_on_4xx() -> None:
    answers = iter([503, 502, 200])
    calls: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(request.method)
        return httpx.Response(next(answers))

    slept: list[float] = []
    outcome = push("http://pgw:9091", _report(), sleep=slept.append, transport=httpx.MockTransport(handler))
    assert outcome.ok and outcome.attempts == 3 and slept == [0.5, 1.0]
    refused = push(
        "http://pgw:9091", _report(), sleep=slept.append, policy=PushPolicy(attempts=5),
        transport=httpx.MockTransport(lambda r: httpx.Response(400, text="bad body")),
    )  # fmt: skip
    assert not refused.ok and refused.attempts == 1 and "HTTP 400" in refused.message


def test_monitor_checks_every_serving_model_and_exposes_gauges(tmp_path: Path) -> None:
    root = tmp_path / "reg"
    serve_with_reference(
        root, "anomaly-detector", synthetic_reference("anomaly-detector", hours=168, end=END)
    )
    serve_with_reference(root, "predictive-analytics", None)  # no reference: its check fails, visibly
    serve_with_reference(root, "my-custom-model", None)  # not built in: not checked
    pushed: list[str] = []
    checked: list[datetime] = []
    clock = FakeClock(END)

    def pusher(url: str, report: DriftReport) -> PushOutcome:
        pushed.append(f"{url} {report.model}")
        return PushOutcome(True, url, 1, "pushed")

    settings = DriftSettings(hours=24, data_source="synthetic", pushgateway="http://pgw")
    monitor = DriftMonitor(
        Registry(root), settings, data_settings=DataSettings(synthetic=SyntheticSettings(seed=7)),
        pusher=pusher, on_report=lambda report: checked.append(clock.now()),
    )  # fmt: skip
    assert monitor.models() == ["anomaly-detector", "predictive-analytics"]

    async def scenario() -> None:
        async def checks() -> None:
            await monitor.run(
                lambda now: now.replace(minute=0, second=0, microsecond=0) + timedelta(hours=1), clock
            )

        task = asyncio.ensure_future(checks())
        for _ in range(1000):  # bounded: the checks run in worker threads, which fake time does not wait for
            if len(checked) >= 2:
                break
            await asyncio.sleep(0.01)
        monitor.stop()
        await asyncio.wait_for(task, 10)

    asyncio.run(scenario())
    assert checked[:2] == [END + timedelta(hours=1), END + timedelta(hours=2)]
    assert pushed[:2] == ["http://pgw anomaly-detector"] * 2
    lines = monitor.metrics_lines()
    assert any(line.startswith('retrain_model_drift_score{model="anomaly-detector"} ') for line in lines)
    assert 'retrain_model_drift_check_up{model="anomaly-detector"} 1.0' in lines
    assert 'retrain_model_drift_check_up{model="predictive-analytics"} 0.0' in lines
    assert "no drift reference" in monitor.failures()["predictive-analytics"].message


def test_monitor_records_a_temporary_failure(tmp_path: Path) -> None:
    def unreachable(*args: object, **kwargs: object) -> DriftReport:
        raise TemporaryError("Prometheus at http://prom:9090 is unreachable")

    monitor = DriftMonitor(
        Registry(tmp_path), DriftSettings(models=("anomaly-detector",)), checker=unreachable
    )
    assert asyncio.run(monitor.run_once()) == []
    assert monitor.metrics_lines()[-1] == 'retrain_model_drift_check_up{model="anomaly-detector"} 0.0'


def test_the_shipped_rule_and_route_are_valid() -> None:
    repo = Path(__file__).resolve().parents[2]
    promtool, amtool = shutil.which("promtool"), shutil.which("amtool")
    if promtool is None or amtool is None:
        pytest.skip("promtool/amtool not installed (Debian packages `prometheus`, `prometheus-alertmanager`)")
    rules = subprocess.run(
        [promtool, "check", "rules", str(repo / "deploy/prometheus/retrain-drift-rules.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert rules.returncode == 0 and "SUCCESS: 2 rules found" in rules.stdout, rules.stdout + rules.stderr
    route = subprocess.run(
        [amtool, "check-config", str(repo / "deploy/alertmanager/alertmanager-route.yaml")],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert route.returncode == 0, route.stdout + route.stderr
    routed = subprocess.run(
        [amtool, "config", "routes", "test", "--config.file",
         str(repo / "deploy/alertmanager/alertmanager-route.yaml"),
         "alertname=ModelDrift", "model=anomaly-detector"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert routed.stdout.strip() == "retrain", routed.stdout + routed.stderr
