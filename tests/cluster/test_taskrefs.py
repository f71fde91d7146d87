"""`retrain cluster validate` resolves every Pipeline's `taskRef` against the Tasks of the same tree: a Task
that is not rendered, a param or workspace the Task does not declare, one it needs and is not given, and a
result it does not produce are each an error at the pipeline task's line (the API server would accept them
all, and the run would fail when it starts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from retrain.cluster.render import catalog_documents, render, write_tree
from retrain.cluster.validate import validate_tree
from retrain.cluster.values import load_values


def _tree(tmp_path: Path) -> Path:
    out = tmp_path / "rendered"
    write_tree(render(load_values(None, namespace="retrain"), catalog_documents()), out)
    return out


def _edit(out: Path, change: Any) -> None:
    """Apply `change(docs)` to pipelines.yaml's documents."""
    path = out / "pipelines.yaml"
    docs = [d for d in yaml.safe_load_all(path.read_text()) if d]
    change(docs)
    path.write_text(yaml.safe_dump_all(docs, sort_keys=False))


def _named(docs: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    return next(d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name)


def _task(docs: list[dict[str, Any]], task: str) -> dict[str, Any]:
    pipeline = _named(docs, "Pipeline", "model-training-pipeline")
    return next(t for t in pipeline["spec"]["tasks"] if t["name"] == task)


def _drop_task(docs: list[dict[str, Any]]) -> None:
    docs.remove(_named(docs, "Task", "restart-inference-service"))


def _extra_param(docs: list[dict[str, Any]]) -> None:
    _task(docs, "deploy-model")["params"].append({"name": "deploy-targte", "value": "kserve"})


def _missing_param(docs: list[dict[str, Any]]) -> None:
    params = _task(docs, "deploy-model")["params"]
    params[:] = [p for p in params if p["name"] != "model-version"]


def _missing_workspace(docs: list[dict[str, Any]]) -> None:
    _task(docs, "health-check")["workspaces"] = []


def _wrong_result(docs: list[dict[str, Any]]) -> None:
    _task(docs, "deploy-model")["when"][0]["input"] = "$(tasks.health-check.results.verdcit)"


CASES = [
    (_drop_task, "names Task 'restart-inference-service', which is not in the tree", "taskRef.name"),
    (
        _extra_param,
        "passes param 'deploy-targte', which Task restart-inference-service does not declare",
        "params",
    ),
    (
        _missing_param,
        "does not pass param 'model-version', which Task restart-inference-service needs",
        "params",
    ),
    (
        _missing_workspace,
        "does not bind workspace 'model-storage', which Task validate-model-health needs",
        "workspaces",
    ),
    (_wrong_result, "the Task of 'health-check' has no result 'verdcit'", "spec.tasks[2]"),
]


@pytest.mark.parametrize(("change", "message", "field"), CASES, ids=[c[0].__name__ for c in CASES])
def test_each_broken_task_reference_is_an_error_at_its_pipeline_task(
    tmp_path: Path, change: Any, message: str, field: str
) -> None:
    out = _tree(tmp_path)
    assert validate_tree(out, crds=None).problems == []
    _edit(out, change)
    problems = validate_tree(out, crds=None).problems
    hits = [p for p in problems if message in p.message]
    assert hits, [str(p) for p in problems]
    where = hits[0].location
    assert where is not None and where.file == str(out / "pipelines.yaml") and where.line is not None
    assert where.field is not None and field in where.field, str(hits[0])
