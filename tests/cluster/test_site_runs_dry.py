"""`retrain cluster start --dry-run` and `retrain trigger --cluster --dry-run`: the PipelineRun the site
would run, printed with no cluster at all (no kubeconfig, and the Kubernetes client unimportable)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner, Result

from retrain.cli import trigger as trigger_cli
from retrain.cli.cluster_ops import register_ops

HA = Path(__file__).parents[2] / "examples" / "site-ha.yaml"


@pytest.fixture(autouse=True)
def no_cluster(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "kubernetes", None)  # importing the client would fail
    monkeypatch.setenv("KUBECONFIG", str(tmp_path / "no-such-kubeconfig"))


def _invoke(register: Any, *args: str) -> Result:
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    register(app)
    app.callback()(lambda: None)
    return CliRunner().invoke(app, list(args))


def _run(result: Result) -> dict[str, Any]:
    assert result.exit_code == 0, result.output
    run = yaml.safe_load(result.stdout)
    assert isinstance(run, dict) and run["kind"] == "PipelineRun"
    return run


def _params(run: dict[str, Any]) -> dict[str, str]:
    return {p["name"]: p["value"] for p in run["spec"]["params"]}


def test_cluster_start_dry_run_prints_the_sites_run() -> None:
    run = _run(
        _invoke(
            register_ops,
            "start",
            "model-training-pipeline-gpu",
            "-f",
            str(HA),
            "--dry-run",
            "-p",
            "model-name=predictive-analytics",
            "-p",
            "training-hours=24",
        )
    )
    assert run["metadata"]["namespace"] == "aiops-prod"
    params = _params(run)
    assert params["deploy-target"] == "kserve"
    assert params["serving-url"] == "http://predictive-analytics-predictor.aiops-prod.svc.cluster.local"
    assert params["training-hours"] == "24"  # -p wins over the site's 720
    assert params["data-source"] == "prometheus"  # the site's, for this model
    assert params["notebook-path"].endswith("05-predictive-analytics-kserve.ipynb")
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "retrain-pipeline"}
    claims = {w["name"]: w["persistentVolumeClaim"]["claimName"] for w in run["spec"]["workspaces"]}
    assert claims == {
        "model-storage": "model-storage",
        "gpu-storage": "model-storage-gpu",
        "source": "notebooks-checkout",
    }
    (placed,) = run["spec"]["taskRunSpecs"]
    assert placed["podTemplate"]["nodeSelector"] == {"node-role.kubernetes.io/gpu": ""}
    assert placed["podTemplate"]["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert run["spec"]["timeouts"]["pipeline"]


def test_cluster_start_dry_run_on_the_defaults_and_its_overrides() -> None:
    result = _invoke(
        register_ops,
        "start",
        "model-training-pipeline",
        "-n",
        "ml",
        "--dry-run",
        "-p",
        "model-name=anomaly-detector",
        "--claim",
        "models",
        "--service-account",
        "runner",
        "-o",
        "json",
    )
    assert result.exit_code == 0, result.output
    run = json.loads(result.stdout)
    assert _params(run)["deploy-target"] == "kserve"
    assert _params(run)["serving-url"] == "http://anomaly-detector-predictor.ml.svc.cluster.local"
    assert _params(run)["training-hours"] == "168"
    assert run["spec"]["workspaces"] == [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": "models"}}
    ]
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "runner"}


def test_cluster_start_dry_run_refuses_what_it_cannot_build() -> None:
    no_ns = _invoke(register_ops, "start", "model-training-pipeline", "-p", "model-name=x", "--dry-run")
    assert no_ns.exit_code == 2 and "no namespace" in no_ns.stderr
    typo = _invoke(
        register_ops,
        "start",
        "model-training-pipeline",
        "-n",
        "ml",
        "--dry-run",
        "-p",
        "model-name=anomaly-detector",
        "-p",
        "training-hour=1",
    )
    assert typo.exit_code == 2 and 'did you mean "training-hours"?' in typo.stderr
    absent = _invoke(register_ops, "start", "my-pipeline", "-n", "ml", "--dry-run")
    assert absent.exit_code == 3 and "not in the built-in catalog" in absent.stderr


def test_trigger_cluster_dry_run_takes_the_site_defaults() -> None:
    run = _run(
        _invoke(
            trigger_cli.register, "trigger", "predictive-analytics", "--cluster", "--dry-run", "-f", str(HA)
        )
    )
    assert run["spec"]["pipelineRef"]["name"] == "model-training-pipeline-gpu"
    params = _params(run)
    assert (params["training-hours"], params["data-source"]) == ("720", "prometheus")  # the site's
    assert params["deploy-target"] == "kserve"
    assert params["serving-url"] == "http://predictive-analytics-predictor.aiops-prod.svc.cluster.local"
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "retrain-pipeline"}
    assert {w["name"] for w in run["spec"]["workspaces"]} == {"model-storage", "gpu-storage", "source"}
    assert run["spec"]["taskRunSpecs"][0]["podTemplate"]["nodeSelector"] == {
        "node-role.kubernetes.io/gpu": ""
    }
    assert run["metadata"]["labels"]["retrain.dev/trigger"] == "manual"


def test_trigger_cluster_dry_run_arguments_win_over_the_site() -> None:
    run = _run(
        _invoke(
            trigger_cli.register,
            "trigger",
            "anomaly-detector",
            "24",
            "synthetic",
            "--cluster",
            "--dry-run",
            "-n",
            "ml",
            "--no-health-check",
        )
    )
    params = _params(run)
    assert (params["training-hours"], params["data-source"]) == ("24", "synthetic")
    assert params["health-check-enabled"] == "false"
    assert params["deploy-target"] == "kserve"
    assert run["metadata"]["namespace"] == "ml"


def test_dry_run_without_cluster_is_refused() -> None:
    result = _invoke(trigger_cli.register, "trigger", "anomaly-detector", "--dry-run", "-y")
    assert result.exit_code == 2 and "add --cluster" in result.stderr


def test_trigger_cluster_takes_a_custom_models_notebook_and_pipeline_from_the_site(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    site.write_text(
        "namespace: ml\nmodels:\n"
        "  - name: disk-forecaster\n    notebook: notebooks/disk.ipynb\n    gpu: true\n"
    )
    run = _run(
        _invoke(trigger_cli.register, "trigger", "disk-forecaster", "--cluster", "--dry-run", "-f", str(site))
    )
    assert run["spec"]["pipelineRef"]["name"] == "model-training-pipeline-gpu"  # the site says gpu
    params = _params(run)
    assert params["notebook-path"] == "notebooks/disk.ipynb"  # a path in the cluster's checkout
    assert params["serving-url"] == "http://disk-forecaster-predictor.ml.svc.cluster.local"
    unlisted = _invoke(trigger_cli.register, "trigger", "other", "--cluster", "--dry-run", "-f", str(site))
    assert unlisted.exit_code == 2 and "needs --notebook-path and --inference-service" in unlisted.stderr
