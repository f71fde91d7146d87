"""`retrain train --executor notebook-validation-job`: the notebook runs as a NotebookValidationJob."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import Env, running
from cluster.standin.sims import NotebookJobSim
from fixtures.serving_helpers import ANOMALY, anomaly_model, register, save
from retrain.cli import train as train_cli
from retrain.registry import Registry

APP = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
train_cli.register(APP)


@APP.callback()
def _group() -> None:
    """A group, so `train` is a sub-command as in `retrain`."""


REPO = "https://git.example.com/platform/notebooks.git"


@dataclass
class World:
    env: Env
    registry: Registry
    served: bytes

    def train(self, *args: str) -> Result:
        argv = [
            "train",
            ANOMALY,
            "--executor",
            "notebook-validation-job",
            "--git-url",
            REPO,
            "--registry",
            str(self.registry.root),
            *args,
        ]
        return CliRunner().invoke(
            APP, argv, env={"KUBECONFIG": str(self.env.kubeconfig), "RETRAIN_RUN_NAME": None}
        )


def _unmodified_notebook(model_dir: Path, env: dict[str, str]) -> None:
    """Like the platform's old notebooks: writes <models>/<name>/model.pkl at a hard-coded path."""
    assert env["MODEL_DIR"] == f"/mnt/models/{ANOMALY}"
    save(anomaly_model(seed=7), model_dir / "model.pkl")
    (model_dir / "metrics.json").write_text('{"f1": 0.5}')


@pytest.fixture
def world(tmp_path: Path) -> Iterator[World]:
    registry = Registry(tmp_path / "claim", actor="tester")
    registry.promote(ANOMALY, register(registry, ANOMALY, save(anomaly_model(0), tmp_path / "a0.pkl")))
    with running(tmp_path) as env:
        yield World(env, registry, (registry.root / ANOMALY / "model.pkl").read_bytes())


def test_a_successful_job_registers_a_candidate_and_cannot_touch_the_served_model(
    world: World, tmp_path: Path
) -> None:
    sim = NotebookJobSim(world.env.standin, {"model-storage": world.registry.root}, _unmodified_notebook)
    result = world.train("--results-dir", str(tmp_path / "results"), "--hours", "24", "--run", "pr-1")
    assert result.exit_code == 0, result.output
    assert f"registered {ANOMALY} version 2 (candidate; serving: version 1, unchanged)" in result.stdout
    job: dict[str, Any] = sim.seen[0]
    pod = job["spec"]["podConfig"]
    assert job["spec"]["notebook"] == {
        "git": {"url": REPO, "ref": "main"},
        "path": f"src/retrain/catalog/notebooks/{ANOMALY}.ipynb",
    }
    assert pod["volumeMounts"] == [
        {
            "name": "model-storage",
            "mountPath": "/mnt/models",
            "subPath": f".retrain-scratch/{job['metadata']['name']}",
        }
    ]
    assert pod["volumes"] == [
        {"name": "model-storage", "persistentVolumeClaim": {"claimName": "model-storage"}}
    ]
    assert {"name": "TRAINING_HOURS", "value": "24"} in pod["env"] and job["spec"]["timeout"] == "3600s"
    assert world.registry.aliases(ANOMALY) == {"serving": 1}
    assert (world.registry.root / ANOMALY / "model.pkl").read_bytes() == world.served
    info = world.registry.get(ANOMALY, 2)
    assert info.metadata["metrics"]["f1"] == 0.5 and info.metadata["run"] == "pr-1"
    assert info.metadata["extra"]["notebook_validation_job"] == job["metadata"]["name"]
    assert (tmp_path / "results" / "model-version").read_text() == "2"
    assert not any((world.registry.root / ".retrain-scratch").iterdir())  # scratch removed


def test_a_failed_job_registers_nothing_and_says_which_cell(world: World) -> None:
    def failing(model_dir: Path, env: dict[str, str]) -> None:
        raise ValueError("Prometheus returned no data")

    NotebookJobSim(world.env.standin, {"model-storage": world.registry.root}, failing)
    result = world.train()
    assert result.exit_code == 1
    assert (
        "failed: Notebook execution failed; cell 3: ValueError: Prometheus returned no data; nothing was "
        "registered" in result.stderr
    )
    assert [v.version for v in world.registry.versions(ANOMALY)] == [1]
    assert (world.registry.root / ANOMALY / "model.pkl").read_bytes() == world.served


def test_a_notebook_that_writes_no_model_fails_clearly(world: World) -> None:
    NotebookJobSim(world.env.standin, {"model-storage": world.registry.root}, lambda model_dir, env: None)
    result = world.train()
    assert result.exit_code == 1
    assert "wrote no model.pkl into MODEL_DIR" in result.stderr
    assert [v.version for v in world.registry.versions(ANOMALY)] == [1]


def test_bad_input_is_refused_before_any_job(world: World) -> None:
    bad = CliRunner().invoke(
        APP,
        [
            "train",
            ANOMALY,
            "--executor",
            "notebook-validation-job",
            "--git-url",
            "ftp://x",
            "--registry",
            str(world.registry.root),
        ],
        env={"KUBECONFIG": str(world.env.kubeconfig)},
    )
    assert bad.exit_code == 2 and "--git-url must be an https://" in bad.stderr
    assert not world.env.standin.items("notebookvalidationjobs")


@pytest.mark.parametrize(
    ("config", "said"),
    [
        ('{"securityContext": {}}', "--job-pod-config: unknown field(s) securityContext"),
        ("{resources:", "--job-pod-config: not JSON"),
        ('{"tolerations": {"key": "x"}}', "tolerations must be a list of objects"),
    ],
    ids=["unknown-field", "not-json", "wrong-shape"],
)
def test_a_bad_pod_config_is_refused_before_any_job(world: World, config: str, said: str) -> None:
    result = world.train("--job-pod-config", config)
    assert result.exit_code == 2 and said in result.stderr
    assert not world.env.standin.items("notebookvalidationjobs")


def test_the_pod_config_reaches_the_jobs_pod(world: World) -> None:
    sim = NotebookJobSim(world.env.standin, {"model-storage": world.registry.root}, _unmodified_notebook)
    config = {
        "resources": {"requests": {"cpu": "2"}, "limits": {"memory": "8Gi"}},
        "env": [
            {"name": "PROMETHEUS_URL", "value": "https://thanos:9091"},
            {"name": "MODEL_DIR", "value": "/x"},
        ],
        "volumes": [{"name": "token", "secret": {"secretName": "t"}}],
        "volumeMounts": [{"name": "token", "mountPath": "/var/run/t", "readOnly": True}],
    }
    result = world.train("--job-pod-config", json.dumps(config))
    assert result.exit_code == 0, result.output
    pod = sim.seen[0]["spec"]["podConfig"]
    assert pod["resources"] == config["resources"]
    env = [(e["name"], e["value"]) for e in pod["env"]]
    assert ("PROMETHEUS_URL", "https://thanos:9091") in env
    assert ("MODEL_DIR", f"/mnt/models/{ANOMALY}") in env and ("MODEL_DIR", "/x") not in env  # ours wins
    assert [v["name"] for v in pod["volumes"]] == ["model-storage", "token"]
    assert pod["volumeMounts"][1] == {"name": "token", "mountPath": "/var/run/t", "readOnly": True}
