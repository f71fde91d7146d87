"""`retrain cluster start|runs|logs|cancel` against the stand-in API server and a simulated Tekton."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import Env, cluster_app, running, wait_until
from cluster.standin.sims import Step, TaskScript, TektonSim
from retrain.cluster.manifests.runs import pipeline_named
from retrain.cluster.site_runs import rendered_pipelines
from retrain.cluster.values import load_values

APP = cluster_app()
TRAINING = "model-training-pipeline"


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with running(tmp_path) as item:
        item.standin.put("pipelines", _pipeline(item.standin.namespace))
        yield item


def _pipeline(namespace: str, name: str = TRAINING) -> dict[str, Any]:
    """The Pipeline as `retrain cluster render` renders it for the stand-in's namespace."""
    return pipeline_named(rendered_pipelines(load_values(None, namespace=namespace)), name)


def _start(env: Env, *args: str) -> str:
    result = env.cli(APP, "start", TRAINING, "-p", "model-name=anomaly-detector", *args)
    assert result.exit_code == 0, result.output
    return result.stdout.strip()


SCRIPT = [
    TaskScript("train-model", [Step("train", ["fetching data", "training", "registered version 3"])]),
    TaskScript("health-check", [Step("check", ["blessed"]), Step("report", ["pushed metrics"])]),
    TaskScript("deploy-model", [Step("deploy", ["serving version 3"])]),
]


def test_start_creates_a_v1_pipelinerun_bound_to_the_claim(env: Env) -> None:
    name = _start(env, "-p", "training-hours=24", "--claim", "models-rwx")
    assert name.startswith(f"{TRAINING}-run-")
    run = env.standin.get("pipelineruns", name)
    assert run["apiVersion"] == "tekton.dev/v1"
    assert run["spec"]["pipelineRef"] == {"name": TRAINING}
    assert run["spec"]["workspaces"] == [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": "models-rwx"}}
    ]
    assert {"name": "training-hours", "value": "24"} in run["spec"]["params"]
    assert run["spec"]["timeouts"] == {"pipeline": "30m"}  # from the Pipeline's retrain.dev/pipeline-timeout


def test_start_refuses_unknown_and_missing_params_and_pipelines(env: Env) -> None:
    typo = env.cli(APP, "start", TRAINING, "-p", "model-name=x", "-p", "training-hour=24")
    assert typo.exit_code == 2
    assert "has no param 'training-hour'" in typo.stderr and 'did you mean "training-hours"?' in typo.stderr
    missing = env.cli(APP, "start", TRAINING)
    assert missing.exit_code == 2 and "needs param 'model-name'" in missing.stderr
    absent = env.cli(APP, "start", "no-such-pipeline")
    assert absent.exit_code == 3 and "not in the built-in catalog" in absent.stderr
    env.standin.store.delete(env.standin.kind("pipelines"), env.standin.namespace, TRAINING)
    unapplied = env.cli(APP, "start", TRAINING, "-p", "model-name=x")
    assert unapplied.exit_code == 3 and "apply the rendered tree first" in unapplied.stderr
    env.standin.put("pipelines", _pipeline(env.standin.namespace))
    assert not env.standin.items("pipelineruns")
    env.standin.deny("create", "pipelineruns")
    forbidden = env.cli(APP, "start", TRAINING, "-p", "model-name=x")
    assert forbidden.exit_code == 1
    assert 'cannot create resource "pipelineruns" in API group "tekton.dev"' in forbidden.stderr
    assert "Role/RoleBinding" in forbidden.stderr


def test_runs_lists_newest_first_with_their_state(env: Env) -> None:
    sim = TektonSim(env.standin)
    first = _start(env)
    sim.run(first, SCRIPT).join(10)
    second = _start(env)
    result = env.cli(APP, "runs")
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["NAME", "PIPELINE", "STATUS", "STARTED", "FINISHED"]
    assert {lines[1].split()[0], lines[2].split()[0]} == {first, second}
    states = {line.split()[0]: line.split()[2] for line in lines[1:]}
    assert states == {first: "Succeeded", second: "Pending"}
    as_json = env.cli(APP, "runs", "-o", "json")
    assert {r["name"]: r["done"] for r in yaml.safe_load(as_json.stdout)} == {first: True, second: False}


def test_logs_follow_every_step_in_order_until_the_run_is_done(env: Env) -> None:
    sim = TektonSim(env.standin, gap_s=0.01, hold=threading.Event())
    name = _start(env)
    sim.run(name, SCRIPT)
    assert sim.hold is not None
    threading.Timer(0.3, sim.hold.set).start()  # the follower starts before any TaskRun exists
    result = env.cli(APP, "logs", name, "-f")
    assert result.exit_code == 0, result.output
    assert result.stdout.splitlines() == [
        "[train-model/train] fetching data",
        "[train-model/train] training",
        "[train-model/train] registered version 3",
        "[health-check/check] blessed",
        "[health-check/report] pushed metrics",
        "[deploy-model/deploy] serving version 3",
    ]
    assert f"PipelineRun {name}: Succeeded" in result.stderr
    again = env.cli(APP, "logs", name)  # without -f: what there is, at once
    assert again.stdout == result.stdout


def test_logs_follow_a_failing_run_exit_1(env: Env) -> None:
    sim = TektonSim(env.standin)
    name = _start(env)
    sim.run(
        name, [TaskScript("train-model", [Step("train", ["boom"], exit_code=1), Step("after", ["never"])])]
    )
    result = env.cli(APP, "logs", name, "-f")
    assert result.exit_code == 1
    assert result.stdout.splitlines() == ["[train-model/train] boom"]
    assert f"PipelineRun {name}: Failed" in result.stderr


def test_cancel_patches_spec_status_and_tekton_stops(env: Env) -> None:
    sim = TektonSim(env.standin, hold=threading.Event())
    name = _start(env)
    sim.run(name, SCRIPT)
    wait_until(lambda: bool(env.standin.get("pipelineruns", name).get("status")), what="run started")
    result = env.cli(APP, "cancel", name)
    assert result.exit_code == 0, result.output
    assert f"PipelineRun {name}: spec.status set to Cancelled" in result.stdout
    patch = [r for r in env.standin.requests if r[0] == "PATCH" and name in r[1]]
    assert patch[-1][2] == "application/merge-patch+json"
    assert env.standin.get("pipelineruns", name)["spec"]["status"] == "Cancelled"
    assert sim.hold is not None
    sim.hold.set()
    sim.threads[-1].join(10)
    final = env.standin.get("pipelineruns", name)["status"]["conditions"][0]
    assert (final["status"], final["reason"]) == ("False", "Cancelled")
    twice = env.cli(APP, "cancel", name, "--mode", "StoppedRunFinally")
    assert twice.exit_code == 0 and "already finished (Cancelled)" in twice.stdout
    unknown = env.cli(APP, "cancel", "nope")
    assert unknown.exit_code == 3 and 'pipelineruns.tekton.dev "nope" not found' in unknown.stderr


def test_unreachable_api_server_is_temporary(tmp_path: Path) -> None:
    with running(tmp_path) as env:
        pass
    result = env.cli(APP, "runs")  # the server has stopped
    assert result.exit_code == 75
    assert "cannot reach the Kubernetes API at http://127.0.0.1:" in result.stderr


def test_missing_client_names_the_extra(env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "kubernetes.client", None)
    result = env.cli(APP, "runs")
    assert result.exit_code == 2
    assert "pip install 'retrain[cluster]'" in result.stderr


def test_trigger_cluster_creates_the_requests_pipelinerun(env: Env) -> None:
    from retrain.cli import trigger as trigger_cli

    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    trigger_cli.register(app)
    app.callback()(lambda: None)
    result = env.cli(
        app, "trigger", "anomaly-detector", "24", "synthetic", "--cluster", "-y", "--claim", "models"
    )
    assert result.exit_code == 0, result.output
    name = result.stdout.strip().splitlines()[-1].split()[1]
    run = env.standin.get("pipelineruns", name)
    assert run["spec"]["pipelineRef"]["name"] == TRAINING
    params = {p["name"]: p["value"] for p in run["spec"]["params"]}
    assert (params["model-name"], params["training-hours"], params["deploy-target"]) == (
        "anomaly-detector",
        "24",
        "kserve",
    )
    assert run["spec"]["workspaces"] == [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": "models"}}
    ]
    assert run["spec"]["taskRunTemplate"] == {"serviceAccountName": "retrain-pipeline"}
    ns = env.standin.namespace
    assert params["serving-url"] == f"http://anomaly-detector-predictor.{ns}.svc.cluster.local"
    assert run["metadata"]["labels"]["retrain.dev/trigger"] == "manual"
    gpu = env.cli(app, "trigger", "predictive-analytics", "--cluster", "-y")
    assert gpu.exit_code == 3 and "model-training-pipeline-gpu" in gpu.stderr  # not applied to this cluster
