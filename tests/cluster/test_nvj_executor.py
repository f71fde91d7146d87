"""`training.executor: notebook-validation-job`: the rendered train Tasks create NotebookValidationJobs.

- the render: the train steps run `retrain train --executor notebook-validation-job`, hold no GPU themselves,
  carry the job's pod config (resources, GPU placement, claim, Prometheus), the RBAC lets them create jobs,
  and `retrain cluster validate` passes every document;
- the job a rendered Task creates (its step's own environment, through `retrain train`) is accepted by the
  stand-in API server, which validates it against the operator's published CRD (a verbatim copy);
- that schema bites: a job outside it is refused;
- a site that asks for the executor without a git repository is refused where it says so.
The local engine running the whole rendered pipeline against the stand-in is in test_nvj_pipeline.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import typer
import yaml
from typer.testing import CliRunner

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import Env, running
from cluster.standin.sims import NotebookJobSim
from fixtures.serving_helpers import ANOMALY, anomaly_model, save
from retrain.cli import train as train_cli
from retrain.cluster.client import NOTEBOOKJOB
from retrain.cluster.render import catalog_documents, render, write_tree
from retrain.cluster.validate import validate_tree
from retrain.cluster.values import load_values
from retrain.errors import InvalidInput
from retrain.registry import Registry

HA = Path(__file__).parents[2] / "examples" / "site-ha.yaml"
CRDS = Path(__file__).resolve().parents[3] / "shared" / "tekton" / "crds-v1.15.0"
REPO = "https://git.example.com/platform/notebooks.git"
TRAIN_TASKS = ("run-notebook-validation", "run-notebook-validation-gpu")

APP = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
train_cli.register(APP)


@APP.callback()
def _group() -> None:
    """A group, so `train` is a sub-command as in `retrain`."""


def _values_file(tmp_path: Path, base: Path | None) -> Path:
    data: dict[str, Any] = yaml.safe_load(base.read_text()) if base is not None else {"namespace": "retrain"}
    data["training"] = {"executor": "notebook-validation-job", "git": {"url": REPO, "ref": "v1.2"}}
    path = tmp_path / ("ha-nvj.yaml" if base else "nvj.yaml")
    path.write_text(yaml.safe_dump(data))
    return path


def _rendered(tmp_path: Path, base: Path | None) -> tuple[Path, list[dict[str, Any]]]:
    out = tmp_path / ("ha" if base else "default")
    tree = render(load_values(_values_file(tmp_path, base)), catalog_documents())
    write_tree(tree, out)
    return out, [d for docs in tree.files.values() for d in docs]


def _task(docs: list[dict[str, Any]], name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == "Task" and d["metadata"]["name"] == name)


def _step_env(task: dict[str, Any]) -> dict[str, str]:
    return {e["name"]: e["value"] for e in task["spec"]["steps"][0]["env"]}


@pytest.mark.parametrize("site", [None, HA], ids=["default", "ha"])
def test_the_train_tasks_create_jobs_and_every_document_validates(tmp_path: Path, site: Path | None) -> None:
    out, docs = _rendered(tmp_path, site)
    for name in TRAIN_TASKS:
        step = _task(docs, name)["spec"]["steps"][0]
        assert "--executor notebook-validation-job" in step["script"]
        assert "workspaces.source.path" not in step["script"]  # the notebook path is the repository's
        assert not any(k.endswith("/gpu") for s in step["computeResources"].values() for k in s)
        env = _step_env(_task(docs, name))
        assert (env["RETRAIN_NOTEBOOK_GIT_URL"], env["RETRAIN_NOTEBOOK_GIT_REF"]) == (REPO, "v1.2")
        pod = json.loads(env["RETRAIN_NOTEBOOK_POD_CONFIG"])
        assert pod["resources"]["requests"]["cpu"] in ("2", "4")  # the catalog's notebook resources
        assert ("nodeSelector" in pod) == name.endswith("-gpu") == ("tolerations" in pod)
    gpu = json.loads(_step_env(_task(docs, TRAIN_TASKS[1]))["RETRAIN_NOTEBOOK_POD_CONFIG"])
    assert gpu["resources"]["limits"]["nvidia.com/gpu"] == "1"
    rules = [r for d in docs if d["kind"] == "Role" for r in d.get("rules", [])]
    assert any("notebookvalidationjobs" in r["resources"] and "create" in r["verbs"] for r in rules)
    report = validate_tree(out, crds=CRDS if CRDS.is_dir() else None)
    assert report.ok, [p.message for p in report.problems]


def test_the_default_executor_is_papermill(tmp_path: Path) -> None:
    tree = render(load_values(None, namespace="retrain"), catalog_documents())
    docs = [d for docs in tree.files.values() for d in docs]
    for name in TRAIN_TASKS:
        step = _task(docs, name)["spec"]["steps"][0]
        assert "--executor" not in step["script"] and "RETRAIN_NOTEBOOK_POD_CONFIG" not in str(step)


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with running(tmp_path) as started:
        yield started


def _fit(model_dir: Path, job_env: dict[str, str]) -> None:
    save(anomaly_model(seed=11), model_dir / "model.pkl")
    (model_dir / "metrics.json").write_text('{"f1": 0.61}')


def test_the_gpu_tasks_job_is_accepted_against_the_operators_crd(tmp_path: Path, env: Env) -> None:
    _, docs = _rendered(tmp_path, HA)
    task = _task(docs, TRAIN_TASKS[1])
    step_env = {k: v for k, v in _step_env(task).items() if k.startswith("RETRAIN_")}
    claim = step_env["RETRAIN_MODEL_STORAGE_CLAIM"]
    timeout = re.search(r"--timeout (\d+)", task["spec"]["steps"][0]["script"])
    assert claim == "model-storage-gpu" and timeout is not None  # the GPU pipeline's volume
    registry = Registry(tmp_path / "gpu-claim", actor="tester")
    registry.root.mkdir()
    sim = NotebookJobSim(env.standin, {claim: registry.root}, _fit)
    argv = ["train", ANOMALY, "--gpu", "--executor", "notebook-validation-job"]
    argv += ["--timeout", timeout.group(1), "--registry", str(registry.root), "--run", "pr-7"]
    result = CliRunner().invoke(APP, argv, env={**step_env, "KUBECONFIG": str(env.kubeconfig)})
    assert result.exit_code == 0, result.output
    job = sim.seen[0]
    spec, pod = job["spec"], job["spec"]["podConfig"]
    assert spec["notebook"] == {
        "git": {"url": REPO, "ref": "v1.2"},
        "path": f"src/retrain/catalog/notebooks/{ANOMALY}.ipynb",
    }
    assert spec["timeout"] == f"{timeout.group(1)}s"
    assert pod["containerImage"] == step_env["RETRAIN_NOTEBOOK_IMAGE"]
    assert pod["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["nodeSelector"] and pod["tolerations"][0]["key"] == "nvidia.com/gpu"
    assert [v["name"] for v in pod["volumes"]] == ["model-storage", "prometheus-token"]
    assert pod["volumes"][0]["persistentVolumeClaim"]["claimName"] == "model-storage-gpu"
    names = {e["name"]: e.get("value") for e in pod["env"]}
    assert names["DATA_SOURCE"] == "synthetic" and names["PROMETHEUS_URL"].startswith("https://")
    assert names["PROMETHEUS_BEARER_TOKEN_FILE"] == "/var/run/secrets/retrain/prometheus/token"
    info = registry.get(ANOMALY, 1)
    assert info.metadata["extra"]["executor"] == "notebook-validation-job"
    assert registry.aliases(ANOMALY) == {}  # a candidate: nothing is served


@pytest.mark.parametrize(
    ("pod_extra", "timeout", "said"),
    [
        ({"securityContext": {}}, "10m", 'unknown field "spec.podConfig.securityContext"'),
        ({}, "1d", "spec.timeout in body should match"),
    ],
    ids=["unknown-field", "bad-timeout"],
)
def test_the_operators_crd_refuses_a_job_outside_it(
    env: Env, pod_extra: dict[str, Any], timeout: str, said: str
) -> None:
    body: dict[str, Any] = {
        "apiVersion": "mlops.mlops.dev/v1alpha1",
        "kind": "NotebookValidationJob",
        "metadata": {"name": "bad", "namespace": env.standin.namespace},
        "spec": {
            "notebook": {"git": {"url": REPO, "ref": "main"}, "path": "a.ipynb"},
            "podConfig": {"containerImage": "x", **pod_extra},
            "timeout": timeout,
        },
    }
    with env.cluster() as cluster, pytest.raises(InvalidInput) as refused:
        cluster.create(NOTEBOOKJOB, body)
    assert said in refused.value.message
    assert not env.standin.items("notebookvalidationjobs")


def test_the_executor_without_a_repository_is_refused_where_it_is_set(tmp_path: Path) -> None:
    path = tmp_path / "site.yaml"
    path.write_text("namespace: retrain\ntraining:\n  executor: notebook-validation-job\n")
    with pytest.raises(InvalidInput) as refused:
        load_values(path)
    assert "needs training.git.url" in refused.value.message
    assert refused.value.location is not None and refused.value.location.line == 3
