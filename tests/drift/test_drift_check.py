"""`check_model` and `retrain drift check` on real registries and the synthetic data source."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from fixtures.drift_helpers import serve_with_reference, synthetic_reference
from retrain.cli import drift as drift_cli
from retrain.cli.exits import EXIT_DRIFTED, EXIT_INVALID, EXIT_NOT_FOUND, EXIT_OK
from retrain.data import DataSettings, SyntheticSettings
from retrain.drift import Thresholds, check_model, load_drift_settings
from retrain.errors import InvalidInput, NotFound
from retrain.registry import Registry
from retrain.training.reference import ReferenceJSON

END = datetime(2026, 3, 1, 12, tzinfo=UTC)
LIVE_END = END + timedelta(days=3)
# The reference of a cluster at half today's load on four of the five metrics: today looks twice as busy.
LOAD_METRICS = ("node_cpu_utilization", "node_memory_utilization", "pod_cpu_usage", "pod_memory_usage")
HALF_LOAD = dict.fromkeys(LOAD_METRICS, 0.5)
RESTARTS = {
    f"container_restart_count_{s}" for s in ("value", "mean_5m", "min_5m", "max_5m", "lag_1", "lag_5")
}


@pytest.fixture(scope="module")
def normal_reference() -> ReferenceJSON:
    return synthetic_reference("anomaly-detector", hours=168, end=END)


def test_fresh_data_of_the_same_kind_does_not_drift(tmp_path: Path, normal_reference: ReferenceJSON) -> None:
    version = serve_with_reference(tmp_path / "reg", "anomaly-detector", normal_reference)
    report = check_model(
        Registry(tmp_path / "reg"), "anomaly-detector", hours=24, source="synthetic", end=LIVE_END,
        settings=DataSettings(synthetic=SyntheticSettings(seed=7)),
    )  # fmt: skip
    assert report.version == version
    assert not report.drifted
    assert len(report.features) == 45
    # Only the cumulative restart counter moves out of its training range (a known property of the feature).
    assert set(report.drifted_features) <= RESTARTS
    assert report.score < report.thresholds.share
    assert report.live_rows == 24 * 60
    assert report.window["data_source_effective"] == "synthetic"
    json.dumps(report.to_json())  # the report is plain JSON


def test_a_busier_cluster_drifts(tmp_path: Path) -> None:
    quiet = synthetic_reference("anomaly-detector", hours=168, end=END, scale=HALF_LOAD)
    serve_with_reference(tmp_path / "reg", "anomaly-detector", quiet)
    report = check_model(
        Registry(tmp_path / "reg"), "anomaly-detector", hours=24, source="synthetic", end=LIVE_END,
        settings=DataSettings(synthetic=SyntheticSettings(seed=7)),
    )  # fmt: skip
    assert report.drifted
    assert report.score > 0.6
    assert "node_cpu_utilization_value" in report.drifted_features
    cpu = next(f for f in report.features if f.feature == "node_cpu_utilization_value")
    assert cpu.band == "significant" and cpu.ks_statistic > 0.3
    assert cpu.live_mean == pytest.approx(2 * cpu.reference_mean, rel=0.25)
    # A looser threshold is a decision, not a different measurement.
    loose = check_model(
        Registry(tmp_path / "reg"), "anomaly-detector", hours=24, source="synthetic", end=LIVE_END,
        settings=DataSettings(synthetic=SyntheticSettings(seed=7)), thresholds=Thresholds(share=0.95),
    )  # fmt: skip
    assert not loose.drifted and loose.score == pytest.approx(report.score)


def test_missing_versions_and_references_are_reported(tmp_path: Path) -> None:
    with pytest.raises(NotFound, match="is not in the registry"):
        check_model(Registry(tmp_path / "reg"), "anomaly-detector", source="synthetic")
    serve_with_reference(tmp_path / "reg", "anomaly-detector", None)
    with pytest.raises(NotFound, match="no drift reference") as err:
        check_model(Registry(tmp_path / "reg"), "anomaly-detector", source="synthetic")
    assert err.value.location is not None and err.value.location.field == "extra.reference"
    with pytest.raises(InvalidInput, match="not a built-in model"):
        check_model(Registry(tmp_path / "reg"), "my-model", source="synthetic")


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only `drift`, as the lead wires it into `retrain`."""

    drift_cli.register(app)
    return app


def _run(args: list[str], env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(_app(), ["drift", "check", *args], env=env)
    return result.exit_code, result.stdout, result.stderr


def _cli_args(root: Path) -> list[str]:
    return ["anomaly-detector", "--registry", str(root), "--data-source", "synthetic", "--hours", "24",
            "--end", LIVE_END.isoformat()]  # fmt: skip


def test_cli_exit_codes_and_output(tmp_path: Path, normal_reference: ReferenceJSON) -> None:
    quiet = synthetic_reference("anomaly-detector", hours=168, end=END, scale=HALF_LOAD)
    serve_with_reference(tmp_path / "ok", "anomaly-detector", normal_reference)
    serve_with_reference(tmp_path / "busy", "anomaly-detector", quiet)

    code, out, _ = _run(_cli_args(tmp_path / "ok"))
    assert code == EXIT_OK, out
    assert "no drift" in out and "FEATURE" in out and "node_cpu_utilization_value" in out

    code, out, _ = _run([*_cli_args(tmp_path / "busy"), "-o", "json", "--report", str(tmp_path / "r.json")])
    assert code == EXIT_DRIFTED
    body = json.loads(out)
    assert body["drifted"] is True and body["model"] == "anomaly-detector"
    assert json.loads((tmp_path / "r.json").read_text()) == body

    code, _, _ = _run([*_cli_args(tmp_path / "busy"), "--share", "0.99"])
    assert code == EXIT_OK

    config = tmp_path / "retrain.yaml"
    config.write_text("drift:\n  thresholds:\n    share: 0.99\n")
    code, _, _ = _run(_cli_args(tmp_path / "busy"), env={"RETRAIN_CONFIG": str(config)})
    assert code == EXIT_OK


def test_cli_bad_input_and_missing_things(tmp_path: Path) -> None:
    code, _, err = _run(_cli_args(tmp_path / "empty"))
    assert code == EXIT_NOT_FOUND and "error:" in err
    code, _, err = _run([*_cli_args(tmp_path / "empty"), "--share", "1.5"])
    assert code == EXIT_INVALID and "--share" in err
    code, _, err = _run([*_cli_args(tmp_path / "empty"), "--end", "yesterday"])
    assert code == EXIT_INVALID and "ISO 8601" in err
    config = tmp_path / "retrain.yaml"
    config.write_text("drift:\n  hours: 24\n  thresholds:\n    shares: 0.5\n")
    code, _, err = _run([*_cli_args(tmp_path / "empty"), "--config", str(config)])
    assert code == EXIT_INVALID
    assert f"{config}:4: drift.thresholds.shares" in err


def test_drift_section_defaults_and_overrides(tmp_path: Path) -> None:
    assert load_drift_settings(None).thresholds == Thresholds()
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "drift:\n  schedule: '@hourly'\n  hours: 48\n  models: [anomaly-detector]\n"
        "  model_thresholds:\n    anomaly-detector: {share: 0.5}\n"
    )
    settings = load_drift_settings(config)
    assert settings.hours == 48 and settings.models == ("anomaly-detector",)
    assert settings.thresholds_for("anomaly-detector") == Thresholds(share=0.5)
    assert settings.thresholds_for("predictive-analytics") == Thresholds()
    config.write_text("drift:\n  schedule: '0 * * *'\n")
    with pytest.raises(InvalidInput, match="5-field cron"):
        load_drift_settings(config)
    config.write_text("drift:\n  thresholds: {psi: 0.1, psi_moderate: 0.2}\n")
    with pytest.raises(InvalidInput, match="psi_moderate"):
        load_drift_settings(config)
