"""Drift retrains a model, end to end, with the real monitoring stack on 127.0.0.1.

Prometheus holds twelve hours of the anomaly detector's five metrics: eight "normal" hours the serving
version was trained on (its stored reference), two more normal hours, and then two hours in which the
cluster is twice as busy (drift injected into the data). `retrain drift check` reads them from Prometheus
and pushes its gauges to a real Pushgateway; the same Prometheus scrapes it every second and evaluates the
shipped `ModelDrift` rule (deploy/prometheus/retrain-drift-rules.yaml, its `for:` shortened); a real
Alertmanager posts the alert to the real service's /hooks/alertmanager (bearer token), and the service
starts a retraining run of that model with the real training pipeline, which finishes.
"""

from __future__ import annotations

import json
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
import typer
import yaml
from typer.testing import CliRunner

from fixtures.alertmanager import start_alertmanager, stop_alertmanager
from fixtures.prometheus import (
    PrometheusServer,
    SeriesData,
    backfill,
    free_port,
    require_prometheus,
    stop_prometheus,
)
from fixtures.pushgateway import Pushgateway, pushgateway, scrape  # noqa: F401
from fixtures.service_helpers import AM_TOKEN, make_service, served, service_config
from retrain.cli import drift as drift_cli
from retrain.cli.exits import EXIT_DRIFTED, EXIT_OK
from retrain.data import DataSettings, PrometheusSettings, builtin_contract, fetch
from retrain.data.features import build_features
from retrain.registry import NewVersionMetadata, Registry
from retrain.training.anomaly import make_model
from retrain.training.reference import distribution_reference

pytestmark = pytest.mark.slow
REPO = Path(__file__).resolve().parents[2]
MODEL = "anomaly-detector"
# metric -> (mean, sd) of the "normal" cluster; the restart counter stays at 3
NORMAL = {
    "instance:node_cpu:ratio": (0.3, 0.03),
    "instance:node_memory_utilisation:ratio": (0.55, 0.02),
    "namespace:container_cpu_usage:sum": (2.0, 0.2),
    "namespace:container_memory_usage:sum": (4e9, 1e8),
}


def history(end: int, drift_from: int) -> list[SeriesData]:
    rng = np.random.default_rng(5)
    stamps = list(range(end - 12 * 3600, end + 1, 60))
    out = []
    for name, (mean, sd) in NORMAL.items():
        values = [
            float(v) * (2.0 if t > drift_from else 1.0)
            for t, v in zip(stamps, rng.normal(mean, sd, len(stamps)), strict=True)
        ]
        out.append(SeriesData(name, {"instance": "node-a"}, stamps, values))
    out.append(
        SeriesData("kube_pod_container_status_restarts_total", {"pod": "api-0"}, stamps, [3.0] * len(stamps))
    )
    return out


def start_monitoring(
    workdir: Path, series: list[SeriesData], pushgateway_url: str, alertmanager_url: str
) -> PrometheusServer:
    """Prometheus on the backfilled data, scraping the Pushgateway each second, with the shipped rule."""
    binary, promtool = require_prometheus()
    backfill(series, workdir / "tsdb", promtool)
    rules = yaml.safe_load((REPO / "deploy/prometheus/retrain-drift-rules.yaml").read_text())
    (drift_rule,) = [r for g in rules["groups"] for r in g["rules"] if r["alert"] == "ModelDrift"]
    drift_rule["for"] = "1s"
    (workdir / "rules.yaml").write_text(yaml.safe_dump(rules))
    config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(workdir / "rules.yaml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [alertmanager_url.split("//")[1]]}]}]},
        "scrape_configs": [
            {"job_name": "pushgateway", "honor_labels": True,
             "static_configs": [{"targets": [pushgateway_url.split("//")[1]]}]},
        ],
    }  # fmt: skip
    (workdir / "prometheus.yml").write_text(json.dumps(config))
    checked = subprocess.run(
        [promtool, "check", "config", str(workdir / "prometheus.yml")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    port = free_port()
    log = (workdir / "prometheus.log").open("wb")
    process = subprocess.Popen(
        [binary, f"--config.file={workdir / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'tsdb'}",
         f"--web.listen-address=127.0.0.1:{port}", "--storage.tsdb.retention.time=30d",
         "--rules.alert.resend-delay=1s"],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    log.close()
    stamps = [t for s in series for t in s.timestamps]
    server = PrometheusServer(f"http://127.0.0.1:{port}", max(stamps), min(stamps), workdir / "tsdb", process)
    if not wait_for(lambda: _ok(f"{server.url}/-/ready"), 60):
        stop_prometheus(server)
        raise RuntimeError((workdir / "prometheus.log").read_text(errors="replace")[-2000:])
    return server


def _ok(url: str) -> bool:
    try:
        with urllib.request.urlopen(url, timeout=1) as answer:
            return bool(answer.status == 200)
    except OSError:
        return False


def wait_for(predicate: Any, timeout_s: float) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:  # bounded polling of real processes
        if predicate():
            return True
        time.sleep(0.1)
    return False


def serve_trained_on(registry: Path, prometheus_url: str, end: datetime) -> int:
    """The serving version: an anomaly detector trained on the eight normal hours, with their reference."""
    settings = DataSettings(prometheus=PrometheusSettings(url=prometheus_url, step_s=60))
    data = fetch(MODEL, "prometheus", 8, settings, end=end)
    features = build_features(MODEL, data.frame)
    matrix = features.matrix()
    model = make_model()
    model.set_params(model__n_estimators=20).fit(matrix)
    artefact = registry.parent / "model.pkl"
    joblib.dump(model, artefact)
    reg = Registry(registry)
    info = reg.register(
        MODEL,
        artefact,
        NewVersionMetadata(
            trainer="e2e", data_source_requested="prometheus", training_hours=8.0,
            feature_contract=dict(builtin_contract(MODEL).to_json()),
            extra={"reference": distribution_reference(matrix, features.contract.feature_names)},
        ),
    )  # fmt: skip
    reg.promote(MODEL, info.version, reason="e2e: trained on the normal hours")
    return info.version


def _cli() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only `drift`."""

    drift_cli.register(app)
    return app


@pytest.fixture
def stack(tmp_path: Path, pushgateway: Pushgateway) -> Iterator[dict[str, Any]]:  # noqa: F811
    end = int(time.time()) // 60 * 60
    config = service_config(
        tmp_path, "defaults:\n  training_hours: 24\n  data_source: synthetic\n  health_check: false\n"
    )
    service = make_service(config, tmp_path / "home", tmp_path / "registry", real=True)
    with served(service, config) as server:
        alertmanager = start_alertmanager(
            tmp_path / "am", f"{server.url}/hooks/alertmanager", bearer_token=AM_TOKEN, group_interval="1s"
        )
        prometheus = None
        try:
            prometheus = start_monitoring(
                tmp_path / "prom", history(end, end - 2 * 3600), pushgateway.url, alertmanager.url
            )
            yield {"end": end, "service": service, "prometheus": prometheus, "pushgateway": pushgateway,
                   "alertmanager": alertmanager, "registry": tmp_path / "registry"}  # fmt: skip
        finally:
            if prometheus is not None:
                stop_prometheus(prometheus)
            stop_alertmanager(alertmanager)


def test_drift_fires_the_alert_and_retrains_the_model(stack: dict[str, Any]) -> None:
    end, service, prometheus = stack["end"], stack["service"], stack["prometheus"]
    registry: Path = stack["registry"]
    serving = serve_trained_on(registry, prometheus.url, datetime.fromtimestamp(end - 4 * 3600, UTC))
    args = ["drift", "check", MODEL, "--registry", str(registry), "--data-source", "prometheus",
            "--hours", "2", "--prometheus-url", prometheus.url, "--pushgateway", stack["pushgateway"].url,
            "-o", "json"]  # fmt: skip
    env = {"PROMETHEUS_STEP": "60"}

    # Control: the two normal hours after the training window do not drift, and nothing is pushed as drifted.
    before = datetime.fromtimestamp(end - 2 * 3600, UTC).isoformat()
    control = CliRunner().invoke(_cli(), [*args, "--end", before], env=env)
    assert control.exit_code == EXIT_OK, control.output
    assert json.loads(control.stdout)["score"] < 0.3
    assert service.store.list_runs() == []

    # Drift injected in the last two hours: the check says so, and the gauge rises.
    drifted = CliRunner().invoke(_cli(), args, env=env)
    assert drifted.exit_code == EXIT_DRIFTED, drifted.output
    report = json.loads(drifted.stdout)
    assert report["version"] == serving and report["score"] >= 0.5
    assert "node_cpu_utilization_value" in report["drifted_features"]
    gauges = {
        s.labels["model"]: s.value
        for s in scrape(stack["pushgateway"].url)
        if s.name == "retrain_model_drift_score"
    }
    assert gauges == {MODEL: report["score"]}

    # Prometheus fires ModelDrift, Alertmanager posts it to /hooks/alertmanager, the service retrains.
    def runs() -> list[Any]:
        return list(service.store.list_runs(label={"retrain.dev/trigger": "drift-alert"}))

    assert wait_for(lambda: bool(runs()), 30), "no retraining run started: " + _alerts(prometheus.url)
    run = runs()[0]
    assert run.labels["retrain.dev/model"] == MODEL and run.labels["retrain.dev/alert"] == "ModelDrift"
    assert wait_for(lambda: service.store.get_run(run.name).finished, 90), f"run {run.name} did not finish"
    finished = service.store.get_run(run.name)
    assert finished.state == "Succeeded", finished.status.get("conditions")
    assert max(v.version for v in Registry(registry).versions(MODEL)) > serving  # the retrained candidate
    assert len(runs()) == 1  # Alertmanager's re-sends of the same alert start nothing more


def _alerts(prometheus_url: str) -> str:
    try:
        with urllib.request.urlopen(f"{prometheus_url}/api/v1/alerts", timeout=2) as answer:
            text: str = answer.read().decode()
            return text[:1000]
    except OSError as err:
        return str(err)
