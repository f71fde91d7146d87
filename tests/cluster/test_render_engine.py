"""The YAML that goes to a cluster is the YAML we ran: the local engine runs the rendered Pipelines unchanged.

- default site: `model-training-pipeline` trains, gates, deploys and verifies against a live local server;
- HA site: `model-training-pipeline-gpu` trains on the separate GPU volume between its copy tasks, and the
  candidate lands in model-storage with its audit events, next to a version that was already there;
- the copy back refuses to overwrite a version model-storage gained meanwhile.
The two pipeline runs go in parallel (separate processes, homes and registries) to keep the time down.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.serving_helpers import anomaly_model, register, save, start
from retrain.cluster.render import catalog_documents, render, write_tree
from retrain.cluster.values import load_values
from retrain.registry import Registry

pytestmark = pytest.mark.slow
HA = Path(__file__).parents[2] / "examples" / "site-ha.yaml"
MODEL = "anomaly-detector"
NOWHERE = ""  # registry only: no server is told, and the post-deployment check is skipped by its when


def _retrain(*args: str | Path) -> tuple[int, str]:
    done = subprocess.run(
        [sys.executable, "-m", "retrain.cli.main", *map(str, args)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=60,
        check=False,
    )
    return done.returncode, done.stdout


def _train(
    pipelines: Path, pipeline: str, home: Path, serving_url: str, **workspaces: Path
) -> subprocess.Popen[bytes]:
    """Start `retrain run --pipeline` in the background; its output goes to home/out.log."""
    bound = [arg for name, path in workspaces.items() for arg in ("-w", f"{name.replace('_', '-')}={path}")]
    params = {
        "model-name": MODEL,
        "data-source": "synthetic",
        "training-hours": "168",
        "serving-url": serving_url,
    }
    args = [
        "run", "-f", pipelines, "--pipeline", pipeline, "--home", home,
        *[arg for k, v in params.items() for arg in ("-p", f"{k}={v}")], *bound,
    ]  # fmt: skip
    home.mkdir(parents=True)
    with (home / "out.log").open("wb") as log:
        return subprocess.Popen(
            [sys.executable, "-m", "retrain.cli.main", *map(str, args)], stdout=log, stderr=log
        )


@dataclass
class Runs:
    cpu: tuple[int, str]
    gpu: tuple[int, str]
    cpu_registry: Registry
    served_version: str | None
    registry: Registry
    gpu_storage: Path


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Runs]:
    root = tmp_path_factory.mktemp("render-engine")
    default = root / "default"
    ha = root / "ha"
    write_tree(render(load_values(None, namespace="retrain"), catalog_documents()), default)
    write_tree(render(load_values(HA), catalog_documents()), ha)
    cpu_registry = Registry(root / "cpu-registry")
    registry = Registry(root / "registry")
    # A version registered before (not serving): the copy tasks must carry it and its audit event along.
    register(registry, MODEL, save(anomaly_model(seed=3), root / "old" / "model.pkl"))
    gpu_storage = root / "gpu-storage"
    gpu_storage.mkdir()
    with start(cpu_registry, wait=False) as served:
        cpu = _train(default / "pipelines.yaml", "model-training-pipeline", root / "h1", served.server.url,
                     model_storage=cpu_registry.root)  # fmt: skip
        gpu = _train(ha / "pipelines.yaml", "model-training-pipeline-gpu", root / "h2", NOWHERE,
                     model_storage=registry.root, gpu_storage=gpu_storage)  # fmt: skip
        codes = [p.wait(timeout=100) for p in (cpu, gpu)]  # bounded: each run takes about 20 s
        results = [
            (code, (root / h / "out.log").read_text()) for code, h in zip(codes, ("h1", "h2"), strict=True)
        ]
        answer = served.client.get(f"/v2/models/{MODEL}")
        version = answer.headers.get("X-Model-Version") if answer.status_code == 200 else None
    yield Runs(results[0], results[1], cpu_registry, version, registry, gpu_storage)


def test_the_rendered_cpu_pipeline_runs_to_succeeded_and_serves_the_new_version(runs: Runs) -> None:
    code, output = runs.cpu
    assert code == 0, output[-4000:]
    assert "Succeeded=True reason=Succeeded" in output or "Succeeded=True reason=Completed" in output
    assert runs.cpu_registry.aliases(MODEL).get("serving") == 1
    assert runs.served_version == "1"  # the live server was told and answers with the new version
    assert "NOT CHECKED" not in output  # the post-deployment check really called the endpoint


def _events(registry: Registry) -> list[tuple[str, int | None]]:
    return [(e.event, e.version) for e in registry.history(MODEL)]


def test_the_rendered_gpu_pipeline_trains_on_the_gpu_volume_and_copies_back(runs: Runs) -> None:
    code, output = runs.gpu
    assert code == 0, output[-4000:]
    assert (
        "copy-to-gpu-storage/copy] anomaly-detector: registry copied to the GPU volume (1 audit events)"
        in output
    )
    assert "copy-from-gpu-storage/copy] anomaly-detector: version 2 copied back to model-storage" in output
    registry = runs.registry
    assert [v.version for v in registry.versions(MODEL)] == [1, 2]
    registry.verify(MODEL, 2)  # the copied artefact matches its recorded digest
    assert registry.aliases(MODEL).get("serving") == 2
    assert _events(registry) == [("registered", 1), ("registered", 2), ("promoted", 2)]
    mirror = runs.gpu_storage / MODEL
    assert sorted(p.name for p in (mirror / "versions").iterdir()) == ["1", "2"]
    assert not (mirror / "aliases.json").exists()  # the mirror only trained; it never served


def _copy_back_taskrun(ha: Path, version: str, events_before: str) -> dict[str, Any]:
    pipelines = list(yaml.safe_load_all((ha / "pipelines.yaml").read_text()))
    gpu = next(d for d in pipelines if d["metadata"]["name"] == "model-training-pipeline-gpu")
    task = next(t for t in gpu["spec"]["tasks"] if t["name"] == "copy-from-gpu-storage")
    # The pipeline task references the catalog's Task; the TaskRun runs that rendered Task's spec.
    copy_task = next(
        d for d in pipelines if d["kind"] == "Task" and d["metadata"]["name"] == task["taskRef"]["name"]
    )
    params = {"model-name": MODEL, "model-version": version, "events-before": events_before}
    return {
        "apiVersion": "tekton.dev/v1",
        "kind": "TaskRun",
        "metadata": {"name": f"copy-back-{version}"},
        "spec": {
            "taskSpec": copy_task["spec"],
            "params": [{"name": k, "value": v} for k, v in params.items()],
            "workspaces": [{"name": w, "emptyDir": {}} for w in ("model-storage", "gpu-storage")],
        },
    }


SEED_TASKS = {
    "run-notebook-validation",
    "run-notebook-validation-gpu",
    "validate-model-health",
    "restart-inference-service",
    "test-inference-endpoint",
    "copy-gpu-model-to-shared",
}


@pytest.mark.parametrize("values", [None, HA], ids=["default", "ha"])
def test_the_render_has_the_seeds_tasks_and_pipelines_that_only_reference_them(values: Path | None) -> None:
    docs = render(load_values(values, namespace="retrain"), catalog_documents()).files["pipelines.yaml"]
    tasks = {d["metadata"]["name"]: d for d in docs if d["kind"] == "Task"}
    assert len(tasks) >= 6 and set(tasks) >= SEED_TASKS, sorted(tasks)
    assert all(d["apiVersion"] == "tekton.dev/v1" for d in tasks.values())
    pipelines = [d for d in docs if d["kind"] == "Pipeline"]
    assert len(pipelines) == 3
    used = set()
    for pipeline in pipelines:
        for task in [*pipeline["spec"]["tasks"], *pipeline["spec"].get("finally", [])]:
            where = f"{pipeline['metadata']['name']}/{task['name']}"
            assert "taskSpec" not in task, where
            assert task["taskRef"]["name"] in tasks, where  # a Task this render ships
            used.add(task["taskRef"]["name"])
            declared = {p["name"] for p in tasks[task["taskRef"]["name"]]["spec"].get("params", [])}
            assert {p["name"] for p in task.get("params", [])} <= declared, where
    assert SEED_TASKS - {"copy-gpu-model-to-shared"} <= used
    # the GPU copy Task is referenced only where the GPU nodes have their own volume (the HA site)
    assert ("copy-gpu-model-to-shared" in used) == (values is HA)
    gpu = next(p for p in pipelines if p["metadata"]["name"] == "model-training-pipeline-gpu")
    train = next(t for t in gpu["spec"]["tasks"] if t["name"] == "train-model")
    assert train["taskRef"]["name"] == "run-notebook-validation-gpu" and train["timeout"] == "45m"


def test_the_copy_back_never_overwrites_a_version_model_storage_gained_meanwhile(tmp_path: Path) -> None:
    ha = tmp_path / "ha"
    write_tree(render(load_values(HA), catalog_documents()), ha)
    main, gpu = tmp_path / "main" / MODEL, tmp_path / "gpu" / MODEL
    for root, content in ((main, "registered on model-storage meanwhile"), (gpu, "trained on the GPU")):
        (root / "versions" / "3").mkdir(parents=True)
        (root / "versions" / "3" / "model.pkl").write_text(content)
    (gpu / "events.jsonl").write_text('{"old": 1}\n{"event": "registered", "version": 3}\n')
    run = tmp_path / "copy-back.yaml"
    run.write_text(yaml.safe_dump(_copy_back_taskrun(ha, "3", "1")))
    bind = ["-w", f"model-storage={main.parent}", "-w", f"gpu-storage={gpu.parent}"]
    code, output = _retrain("run", "-f", run, "--home", tmp_path / "home", *bind)
    assert code == 1, output
    assert "version 3 already exists on model-storage" in output
    assert (main / "versions" / "3" / "model.pkl").read_text() == "registered on model-storage meanwhile"
    assert not (main / "events.jsonl").exists()

    (main / "versions" / "3" / "model.pkl").unlink()
    (main / "versions" / "3").rmdir()
    run.write_text(
        yaml.safe_dump(_copy_back_taskrun(ha, "3", "1") | {"metadata": {"name": "copy-back-again"}})
    )
    code, output = _retrain("run", "-f", run, "--home", tmp_path / "home", *bind)
    assert code == 0, output
    assert (main / "versions" / "3" / "model.pkl").read_text() == "trained on the GPU"
    # only the events written after the copy to the GPU volume (line 2 on) are appended
    assert [json.loads(line) for line in (main / "events.jsonl").read_text().splitlines()] == [
        {"event": "registered", "version": 3}
    ]
    assert not any(p.name.startswith(".tmp-") for p in (main / "versions").iterdir())
