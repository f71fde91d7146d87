"""`retrain cluster apply`: server-side apply against the strict stand-in API server."""

from __future__ import annotations

import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import Env, cluster_app, running
from cluster.standin.kinds import TEKTON_CRDS
from retrain.catalog import pipeline_files

APP = cluster_app()
NS = "retrain"


def _write(path: Path, *docs: dict[str, Any]) -> str:
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False), encoding="utf-8")
    return path.name


def _isvc(uri: str = "pvc://model-storage/anomaly-detector/versions/1") -> dict[str, Any]:
    return {
        "apiVersion": "serving.kserve.io/v1beta1",
        "kind": "InferenceService",
        "metadata": {"name": "anomaly-detector"},
        "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}}},
    }


@pytest.fixture
def tree(tmp_path: Path) -> Path:
    """A small rendered tree: ServiceAccount, Role(Binding), PVC, CronJob, InferenceService, a catalog "
    "Pipeline."""
    out = tmp_path / "tree"
    out.mkdir()
    files = [
        _write(
            out / "serviceaccount.yaml",
            {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "retrain"}},
        ),
        _write(
            out / "rbac.yaml",
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "Role",
                "metadata": {"name": "retrain"},
                "rules": [
                    {"apiGroups": ["tekton.dev"], "resources": ["pipelineruns"], "verbs": ["create", "get"]}
                ],
            },
            {
                "apiVersion": "rbac.authorization.k8s.io/v1",
                "kind": "RoleBinding",
                "metadata": {"name": "retrain"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "retrain"},
                "subjects": [{"kind": "ServiceAccount", "name": "retrain", "namespace": NS}],
            },
        ),
        _write(
            out / "pvc.yaml",
            {
                "apiVersion": "v1",
                "kind": "PersistentVolumeClaim",
                "metadata": {"name": "model-storage", "labels": {"app.kubernetes.io/part-of": "retrain"}},
                "spec": {"accessModes": ["ReadWriteMany"], "resources": {"requests": {"storage": "10Gi"}}},
            },
        ),
        _write(out / "isvc.yaml", _isvc()),
    ]
    pipeline = next(p for p in pipeline_files() if p.name == "model-training-pipeline.yaml")
    shutil.copy(pipeline, out / pipeline.name)
    files.append(pipeline.name)
    (out / "kustomization.yaml").write_text(
        yaml.safe_dump({"namespace": NS, "resources": files}), encoding="utf-8"
    )
    return out


@pytest.fixture
def env(tmp_path: Path) -> Iterator[Env]:
    with running(tmp_path) as item:
        yield item


def test_apply_creates_then_is_idempotent(env: Env, tree: Path) -> None:
    first = env.cli(APP, "apply", str(tree))
    assert first.exit_code == 0, first.output
    assert "persistentvolumeclaim/model-storage created" in first.stdout
    assert "pipeline/model-training-pipeline created" in first.stdout
    assert first.stdout.index("serviceaccount/retrain") < first.stdout.index(
        "pipeline/model-training-pipeline"
    )
    applies = [r for r in env.standin.requests if r[0] == "PATCH"]
    assert applies and all(
        ct == "application/apply-patch+yaml" and "fieldManager=retrain" in p for _, p, ct in applies
    )
    pipeline = env.standin.get("pipelines", "model-training-pipeline")
    assert [m["manager"] for m in pipeline["metadata"]["managedFields"]] == ["retrain"]
    rv = pipeline["metadata"]["resourceVersion"]

    second = env.cli(APP, "apply", str(tree))
    assert second.exit_code == 0, second.output
    assert second.stdout.count(" unchanged") == 6, second.stdout
    assert env.standin.get("pipelines", "model-training-pipeline")["metadata"]["resourceVersion"] == rv
    third = env.cli(APP, "apply", str(tree), "-o", "json")
    assert third.exit_code == 0, third.output
    items = json.loads(third.stdout)
    assert {i["action"] for i in items} == {"unchanged"} and len(items) == 6


def test_apply_removes_what_the_tree_no_longer_has(env: Env, tree: Path) -> None:
    assert env.cli(APP, "apply", str(tree)).exit_code == 0
    pvc = yaml.safe_load((tree / "pvc.yaml").read_text())
    del pvc["metadata"]["labels"]
    _write(tree / "pvc.yaml", pvc)
    result = env.cli(APP, "apply", str(tree))
    assert "persistentvolumeclaim/model-storage configured" in result.stdout
    assert "labels" not in env.standin.get("persistentvolumeclaims", "model-storage")["metadata"]


@pytest.mark.skipif(not TEKTON_CRDS.is_dir(), reason="Tekton's CRDs are read from ../shared, absent here")
def test_apply_surfaces_the_servers_refusal_and_goes_on(env: Env, tree: Path) -> None:
    pipeline = yaml.safe_load((tree / "model-training-pipeline.yaml").read_text())
    pipeline["spec"]["tasks"][0]["retries"] = "two"  # 422 Invalid from the CRD schema
    pipeline["spec"]["tasks"][0]["runAfterr"] = ["x"]  # unknown field: refused under fieldValidation=Strict
    _write(tree / "model-training-pipeline.yaml", pipeline)
    result = env.cli(APP, "apply", str(tree))
    assert result.exit_code == 2
    assert (
        "pipeline/model-training-pipeline failed: apply Pipeline model-training-pipeline in retrain: "
        'strict decoding error: unknown field "spec.tasks[0].runAfterr"' in result.stdout
    )
    assert "persistentvolumeclaim/model-storage created" in result.stdout  # the rest went on
    del pipeline["spec"]["tasks"][0]["runAfterr"]
    _write(tree / "model-training-pipeline.yaml", pipeline)
    invalid = env.cli(APP, "apply", str(tree))
    assert invalid.exit_code == 2
    assert "spec.tasks[0].retries in body must be of type integer" in invalid.stdout


def test_apply_conflict_names_the_other_manager_and_force_takes_over(env: Env, tree: Path) -> None:
    assert env.cli(APP, "apply", str(tree)).exit_code == 0
    with env.cluster() as cluster:
        from retrain.cluster.client import KNOWN

        role = KNOWN[("rbac.authorization.k8s.io/v1", "Role")]
        cluster.patch(
            role,
            "retrain",
            {"rules": [{"apiGroups": ["*"], "resources": ["*"], "verbs": ["*"]}]},
            manager="kubectl-edit",
        )
    rbac = list(yaml.safe_load_all((tree / "rbac.yaml").read_text()))
    rbac[0]["rules"][0]["verbs"] = ["create", "get", "list"]
    _write(tree / "rbac.yaml", *rbac)
    conflict = env.cli(APP, "apply", str(tree))
    assert conflict.exit_code == 4
    assert (
        "role/retrain failed: apply Role retrain in retrain: Apply failed with 1 conflict: conflict with "
        '"kubectl-edit"' in conflict.stdout
    )
    assert ".rules" in conflict.stdout
    forced = env.cli(APP, "apply", str(tree), "--force-conflicts")
    assert forced.exit_code == 0, forced.output
    assert env.standin.get("roles", "retrain")["rules"][0]["verbs"] == ["create", "get", "list"]


def test_apply_keeps_the_model_version_a_deploy_put_in_service(env: Env, tree: Path) -> None:
    assert env.cli(APP, "apply", str(tree)).exit_code == 0
    with env.cluster() as cluster:
        from retrain.cluster.client import INFERENCESERVICE

        patch = {
            "metadata": {"annotations": {"retrain.dev/model-version": "4"}},
            "spec": {
                "predictor": {"model": {"storageUri": "pvc://model-storage/anomaly-detector/versions/4"}}
            },
        }
        cluster.patch(INFERENCESERVICE, "anomaly-detector", patch, manager="retrain-deploy")
    result = env.cli(APP, "apply", str(tree))
    assert result.exit_code == 0, result.output
    assert "kept the served storageUri pvc://model-storage/anomaly-detector/versions/4" in result.stdout
    live = env.standin.get("inferenceservices", "anomaly-detector")
    assert live["spec"]["predictor"]["model"]["storageUri"].endswith("/versions/4")


def test_apply_errors_for_kinds_unknown_forbidden_and_a_bad_token(
    env: Env, tree: Path, tmp_path: Path
) -> None:
    _write(
        tree / "rule.yaml",
        {
            "apiVersion": "monitoring.coreos.com/v1",
            "kind": "PrometheusRule",
            "metadata": {"name": "drift"},
            "spec": {},
        },
    )
    spec = yaml.safe_load((tree / "kustomization.yaml").read_text())
    spec["resources"].append("rule.yaml")
    (tree / "kustomization.yaml").write_text(yaml.safe_dump(spec))
    env.standin.deny("patch", "persistentvolumeclaims")
    result = env.cli(APP, "apply", str(tree))
    assert "prometheusrule/drift failed: the cluster at" in result.stdout
    assert "does not serve PrometheusRule (monitoring.coreos.com/v1)" in result.stdout
    assert (
        "persistentvolumeclaim/model-storage failed: apply PersistentVolumeClaim model-storage in retrain: "
        'persistentvolumeclaims "model-storage" is forbidden: User "system:serviceaccount:retrain:retrain" '
        'cannot patch resource "persistentvolumeclaims"' in result.stdout
    )
    assert result.exit_code == 1  # the first failure (the PVC: 403) decides
    bad = env.standin.kubeconfig(tmp_path / "bad", token="wrong")
    from typer.testing import CliRunner

    denied = CliRunner().invoke(APP, ["apply", str(tree)], env={"KUBECONFIG": str(bad)})
    assert denied.exit_code == 1
    assert "Unauthorized" in denied.stdout


def test_apply_refuses_a_tree_it_cannot_read(env: Env, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    broken.mkdir()
    _write(broken / "a.yaml", {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"generateName": "x-"}})
    result = env.cli(APP, "apply", str(broken))
    assert result.exit_code == 2
    assert "has no metadata.name" in result.stderr
    assert not [r for r in env.standin.requests if r[0] != "GET"]  # nothing was sent
