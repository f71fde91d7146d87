"""`retrain cluster render` against golden trees: a default site and an HA site with a separate GPU volume.

Regenerate after an intended change with `RETRAIN_REGENERATE_GOLDEN=1 .venv/bin/pytest tests/cluster`
(then read the diff before committing it).
"""

from __future__ import annotations

import difflib
import os
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from retrain.cli.cluster import app
from retrain.cluster.render import FILES, KUSTOMIZATION, catalog_documents, render
from retrain.cluster.values import load_values

HERE = Path(__file__).parent
GOLDEN = HERE / "golden"
SITES = {"default": (None, "retrain"), "ha": (HERE.parents[1] / "examples" / "site-ha.yaml", None)}
REGENERATE = os.environ.get("RETRAIN_REGENERATE_GOLDEN") == "1"


def _render_texts(site: str) -> dict[str, str]:
    values_file, namespace = SITES[site]
    return render(load_values(values_file, namespace=namespace), catalog_documents()).texts()


def _docs(text: str) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(text) if d]


@pytest.mark.parametrize("site", sorted(SITES))
def test_rendered_tree_matches_the_golden_files(site: str) -> None:
    texts = _render_texts(site)
    golden = GOLDEN / site
    if REGENERATE:
        golden.mkdir(parents=True, exist_ok=True)
        for stale in golden.glob("*.yaml"):
            stale.unlink()
        for name, text in texts.items():
            (golden / name).write_text(text, encoding="utf-8")
    expected = {p.name: p.read_text(encoding="utf-8") for p in sorted(golden.glob("*.yaml"))}
    assert sorted(texts) == sorted(expected), "files differ; regenerate with RETRAIN_REGENERATE_GOLDEN=1"
    for name, text in texts.items():
        if text != expected[name]:
            diff = "".join(
                difflib.unified_diff(
                    expected[name].splitlines(True),
                    text.splitlines(True),
                    f"golden/{site}/{name}",
                    "rendered",
                )
            )
            pytest.fail(
                f"{name} differs from the golden file (RETRAIN_REGENERATE_GOLDEN=1 to accept):\n{diff}"
            )


def test_render_is_deterministic_and_does_not_change_its_inputs() -> None:
    catalog = catalog_documents()
    before = yaml.safe_dump_all(catalog)
    values = load_values(SITES["ha"][0])
    first = render(values, catalog).texts()
    assert render(values, catalog).texts() == first
    assert yaml.safe_dump_all(catalog) == before  # the catalog documents were copied, not edited


def test_the_cli_writes_the_files_and_the_kustomization_lists_them(tmp_path: Path) -> None:
    out = tmp_path / "site"
    out.mkdir()
    (out / "cron.yaml").write_text("stale: true\n")  # a file of an earlier render with nothing now
    (out / "mine.txt").write_text("not ours")
    values = tmp_path / "values.yaml"
    values.write_text("schedules: []\nhealthCheck: {enabled: false}\ndrift: {checks: false}\n")
    done = CliRunner().invoke(
        app, ["render", "--namespace", "ml", "--values", str(values), "--out", str(out)]
    )
    assert done.exit_code == 0, done.output
    written = sorted(p.name for p in out.glob("*.yaml"))
    assert "cron.yaml" not in written  # no schedules: no CronJobs, and the stale file is gone
    assert (out / "mine.txt").read_text() == "not ours"
    kustomization = yaml.safe_load((out / KUSTOMIZATION).read_text())
    assert kustomization["namespace"] == "ml"
    assert sorted([*kustomization["resources"], KUSTOMIZATION]) == written
    assert kustomization["resources"] == [f for f in FILES if f in written]  # apply order
    for name in kustomization["resources"]:
        for doc in _docs((out / name).read_text()):
            if doc["kind"] not in ("ClusterRole", "ClusterRoleBinding"):
                assert doc["metadata"]["namespace"] == "ml", (name, doc["metadata"])


def test_render_to_stdout_streams_every_document() -> None:
    done = CliRunner().invoke(app, ["render", "-n", "ml", "--out", "-"])
    assert done.exit_code == 0, done.output
    kinds = [d["kind"] for d in _docs(done.output)]
    assert kinds.count("Pipeline") == 3
    assert {"PersistentVolumeClaim", "EventListener", "CronJob", "InferenceService", "PrometheusRule"} <= set(
        kinds
    )
    assert "Kustomization" not in kinds


def _by_name(texts: dict[str, str], file: str) -> dict[tuple[str, str], dict[str, Any]]:
    return {(d["kind"], d["metadata"]["name"]): d for d in _docs(texts[file])}


def test_pipelines_run_the_site_image_and_only_the_separate_volume_gets_copy_tasks() -> None:
    default = _by_name(_render_texts("default"), "pipelines.yaml")
    ha = _by_name(_render_texts("ha"), "pipelines.yaml")
    for docs, image in ((default, "quay.io/retrain/retrain:"), (ha, "registry.example.com/aiops/retrain:")):
        # the pipelines reference the catalog's Tasks: every step of every Task runs the site's image
        task_docs = [doc for doc in docs.values() if doc["kind"] == "Task"]
        assert task_docs
        for doc in task_docs:
            for step in doc["spec"]["steps"]:
                assert step["image"].startswith(image), doc["metadata"]["name"]

    def names(doc: dict[str, Any]) -> list[str]:
        return [t["name"] for t in doc["spec"]["tasks"]]

    gpu = "model-training-pipeline-gpu"
    assert "copy-to-gpu-storage" not in names(default[("Pipeline", gpu)])
    ha_gpu = ha[("Pipeline", gpu)]
    assert names(ha_gpu)[:3] == ["copy-to-gpu-storage", "train-model", "copy-from-gpu-storage"]
    tasks = {t["name"]: t for t in ha_gpu["spec"]["tasks"]}
    assert tasks["train-model"]["workspaces"][0] == {"name": "model-storage", "workspace": "gpu-storage"}
    assert "copy-from-gpu-storage" in tasks["health-check"]["runAfter"]
    # the CPU pipeline is untouched by the GPU volume
    assert names(ha[("Pipeline", "model-training-pipeline")]) == names(
        default[("Pipeline", "model-training-pipeline")]
    )


def test_gpu_placement_lives_in_the_runs_not_in_the_pipeline() -> None:
    texts = _render_texts("ha")
    templates = _by_name(texts, "triggers.yaml")
    run = templates[("TriggerTemplate", "retrain-model-training-pipeline-gpu")]["spec"]["resourcetemplates"][
        0
    ]
    assert run["spec"]["taskRunSpecs"] == [
        {
            "pipelineTaskName": "train-model",
            "podTemplate": {
                "nodeSelector": {"node-role.kubernetes.io/gpu": ""},
                "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}],
            },
        }
    ]
    assert run["spec"]["timeouts"] == {"pipeline": "45m"}  # from retrain.dev/pipeline-timeout
    bound = {w["name"]: w["persistentVolumeClaim"]["claimName"] for w in run["spec"]["workspaces"]}
    assert bound == {
        "model-storage": "model-storage",
        "gpu-storage": "model-storage-gpu",
        "source": "notebooks-checkout",
    }
    cpu = templates[("TriggerTemplate", "retrain-model-training-pipeline")]["spec"]["resourcetemplates"][0]
    assert "taskRunSpecs" not in cpu["spec"]
    pipeline = _by_name(texts, "pipelines.yaml")[("Pipeline", "model-training-pipeline-gpu")]
    assert "nodeSelector" not in yaml.safe_dump(pipeline)


def test_the_drift_rule_mirrors_the_deploy_rules_file() -> None:
    deploy = HERE.parents[1] / "deploy" / "prometheus" / "retrain-drift-rules.yaml"
    if not deploy.is_file():
        pytest.skip("deploy/prometheus/retrain-drift-rules.yaml is not in this tree")
    rendered = _by_name(_render_texts("default"), "monitoring.yaml")[("PrometheusRule", "retrain-drift")]
    assert rendered["spec"]["groups"] == yaml.safe_load(deploy.read_text())["groups"]
