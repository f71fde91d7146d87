"""The local engine runs the rendered model-training-pipeline of a notebook-validation-job site to Succeeded.

The rendered YAML runs unchanged (`retrain run -f pipelines.yaml`); its train step runs `retrain train
--executor notebook-validation-job` with the step environment the render gave it, and reaches the stand-in
API server through RETRAIN_KUBECONFIG (a step sees only RETRAIN_* variables of the host). The stand-in checks
the job against the operator's published CRD and plays the operator (NotebookJobSim): it "runs the notebook"
by writing a model into the job's scratch directory of the claim, the registry's own directory here. The
rest of the pipeline (the gate, the registry-only deploy) then runs on the version the step registered.

The steps run in host mode: the kubeconfig lies in the test's temporary directory, which a bubblewrap
sandbox would not show to the step.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import running
from cluster.standin.sims import NotebookJobSim
from fixtures.serving_helpers import ANOMALY
from retrain.catalog import notebook_path
from retrain.cluster.render import catalog_documents, render, write_tree
from retrain.cluster.values import load_values
from retrain.registry import Registry

pytestmark = pytest.mark.slow
REPO = "https://git.example.com/platform/notebooks.git"


def _notebook(model_dir: Path, env: dict[str, str]) -> None:
    """The operator's pod: the built-in notebook's code cells, in a process of their own with the job's
    environment only (MODEL_DIR mapped to the claim's scratch directory on this host)."""
    assert env["DATA_SOURCE"] == "synthetic" and env["TRAINING_HOURS"] == "168"
    cells = json.loads(notebook_path(ANOMALY).read_text(encoding="utf-8"))["cells"]
    script = "\n\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    job_env = {**env, "MODEL_DIR": str(model_dir), "PATH": os.environ["PATH"]}
    ran = subprocess.run(
        [sys.executable, "-c", script], env=job_env, capture_output=True, text=True, timeout=90, check=False
    )
    if ran.returncode != 0:
        raise RuntimeError(ran.stderr[-2000:])


def test_the_rendered_training_pipeline_runs_a_notebook_validation_job_to_succeeded(tmp_path: Path) -> None:
    values = tmp_path / "site.yaml"
    site = {"namespace": "retrain", "training": {"executor": "notebook-validation-job", "git": {"url": REPO}}}
    values.write_text(yaml.safe_dump(site))
    out = tmp_path / "rendered"
    write_tree(render(load_values(values), catalog_documents()), out)
    registry = Registry(tmp_path / "claim")
    registry.root.mkdir()
    params = {"model-name": ANOMALY, "data-source": "synthetic", "training-hours": "168", "serving-url": ""}
    args = [
        "run", "-f", str(out / "pipelines.yaml"), "--pipeline", "model-training-pipeline",
        "--home", str(tmp_path / "home"), "--sandbox", "host",
        *[arg for k, v in params.items() for arg in ("-p", f"{k}={v}")],
        "-w", f"model-storage={registry.root}",
    ]  # fmt: skip
    with running(tmp_path) as env:
        sim = NotebookJobSim(env.standin, {"model-storage": registry.root}, _notebook)
        step_env = {k: v for k, v in os.environ.items() if k not in ("KUBECONFIG", "RETRAIN_KUBECONFIG")}
        done = subprocess.run(
            [sys.executable, "-m", "retrain.cli.main", *args],
            env={**step_env, "RETRAIN_KUBECONFIG": str(env.kubeconfig)},
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            timeout=120,
            check=False,
        )
    assert done.returncode == 0, done.stdout[-4000:]
    assert "Succeeded=True" in done.stdout
    assert f"{ANOMALY} version 1: BLESSED" in done.stdout  # the gate judged what the job's notebook trained
    assert registry.aliases(ANOMALY) == {"serving": 1}  # and the registry-only deploy promoted it
    assert len(sim.seen) == 1  # the train step created exactly one job
    job = sim.seen[0]
    assert job["spec"]["notebook"]["git"] == {"url": REPO, "ref": "main"}
    assert job["spec"]["podConfig"]["resources"]["requests"]["cpu"] == "2"
    info = registry.get(ANOMALY, 1)
    assert info.metadata["extra"]["notebook_validation_job"] == job["metadata"]["name"]
    assert info.metadata["run"]  # the PipelineRun's name, as the papermill step records it
    # The notebook took its window from the job's environment (TRAINING_HOURS=168), not its own 24 h default:
    # the training rows behind its reference outnumber a whole day's minutes.
    rows = info.metadata["extra"]["reference"]["features"]["container_restart_count_diff"]["count"]
    assert rows > 24 * 60
    assert not any((registry.root / ".retrain-scratch").iterdir())  # the job's scratch is removed
