"""`retrain cluster validate`: the rendered trees pass every check, and each kind of mistake is caught at
its file:line and field path; site values are checked the same way."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from fixtures.engine_helpers import SHARED
from retrain.cli.cluster import app
from retrain.cluster.render import catalog_documents, render, write_tree
from retrain.cluster.validate import validate_tree
from retrain.cluster.values import load_values
from retrain.errors import InvalidInput, InvalidInputs

HERE = Path(__file__).parent
HA = HERE.parents[1] / "examples" / "site-ha.yaml"
CRDS = SHARED / "tekton" / "crds-v1.15.0"
needs_crds = pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/tekton/crds-v1.15.0 is not here")
needs_kubernetes_validate = pytest.mark.skipif(
    importlib.util.find_spec("kubernetes_validate") is None, reason="kubernetes-validate is not installed"
)


def _rendered(tmp_path: Path, values: Path | None = HA, namespace: str | None = None) -> Path:
    out = tmp_path / "rendered"
    write_tree(render(load_values(values, namespace=namespace), catalog_documents()), out)
    return out


def _mutate(path: Path, old: str, new: str) -> int:
    """Replace the one line holding `old`; return its line number."""
    lines = path.read_text().splitlines(keepends=True)
    hits = [i for i, line in enumerate(lines) if old in line]
    assert hits, f"{old!r} not in {path.name}"
    lines[hits[0]] = lines[hits[0]].replace(old, new)
    path.write_text("".join(lines))
    return hits[0] + 1


@pytest.mark.parametrize(("values", "namespace"), [(None, "retrain"), (HA, None)], ids=["default", "ha"])
def test_rendered_trees_pass_every_check(tmp_path: Path, values: Path | None, namespace: str | None) -> None:
    report = validate_tree(_rendered(tmp_path, values, namespace), crds=CRDS if CRDS.is_dir() else None)
    assert [str(p) for p in report.problems] == []
    assert report.documents >= 30
    if CRDS.is_dir():
        assert any("Tekton v1 CRD schemas" in c for c in report.checks)
    if importlib.util.find_spec("kubernetes_validate") is not None:
        assert any("Kubernetes 1.29 schemas" in c for c in report.checks)


# (file, text on one line, its replacement, what the problem says, its field path)
MISTAKES = [
    (
        "pipelines.yaml",
        "      retries: 2",
        "      retries: 2\n      retrys: 3",
        "unknown field 'retrys' (did you mean 'retries'?)",
        "spec.tasks[1].retrys",
    ),
    (
        "cron.yaml",
        "      taskRunTemplate:",
        "      taskRunTemplat:",
        "unknown field 'taskRunTemplat'",
        'data["pipelinerun.yaml"].spec.taskRunTemplat',
    ),
    (
        "triggers.yaml",
        "value: $(tt.params.data-source)",
        "value: $(tt.params.data-sorce)",
        "$(tt.params.data-sorce) is not a param of this TriggerTemplate",
        "spec.resourcetemplates[0].spec.params[2].value",
    ),
    (
        "triggers.yaml",
        "- ref: retrain-event",
        "- ref: retrain-evnt",
        "TriggerBinding 'retrain-evnt' is not in the tree",
        "spec.triggers[0].bindings[1]",
    ),
    ("triggers.yaml", "    - name: eventTypes", "    - name: eventType", "no param 'eventType'", "name"),
    (
        "triggers.yaml",
        "  serviceAccountName: retrain-triggers",
        "  serviceAcountName: x",
        "did you mean 'serviceAccountName'?",
        "spec.serviceAcountName",
    ),
    (
        "rbac.yaml",
        "  - kind: ServiceAccount",
        "  - kind: ServiceAccount\n    namespace: x\n  - kind: Group",
        "",
        "",
    ),
    (
        "kserve.yaml",
        "    maxReplicas: 4",
        "    maxReplicas: '4'",
        "wrong type: expected an integer",
        "maxReplicas",
    ),
    (
        "monitoring.yaml",
        "    for: 15m",
        "    for: 15 minutes",
        "invalid duration",
        "spec.groups[0].rules[0].for",
    ),
    (
        "storage.yaml",
        "  name: model-storage-gpu",
        "  name: model-storage-gpu2",
        "claim 'model-storage-gpu'",
        "",
    ),
    (
        "kustomization.yaml",
        "- monitoring.yaml",
        "- monitor.yaml",
        "monitor.yaml does not exist",
        "resources[6]",
    ),
]


@pytest.mark.parametrize(
    ("file", "old", "new", "message", "field"), MISTAKES, ids=[f"{m[0]}:{m[4]}" for m in MISTAKES]
)
def test_each_mistake_is_reported_at_its_line(
    tmp_path: Path, file: str, old: str, new: str, message: str, field: str
) -> None:
    out = _rendered(tmp_path)
    line = _mutate(out / file, old, new)
    problems = validate_tree(out, crds=None if not CRDS.is_dir() else CRDS).problems
    assert problems, "the mistake went unnoticed"
    if not message:  # a structural change: something must complain, anywhere
        return
    hits = [p for p in problems if message in p.message + f" ({p.hint})"]
    assert hits, [str(p) for p in problems]
    where = hits[0].location
    assert where is not None
    if file == "storage.yaml":  # a renamed claim is reported where it is used, not where it was renamed
        assert where.file is not None
        return
    assert where.file == str(out / file)
    assert where.field is not None
    assert where.field.endswith(field), str(hits[0])
    assert where.line is not None and abs(where.line - line) <= 2, (where.line, line, str(hits[0]))


@needs_crds
def test_the_crd_schema_catches_what_the_model_coerces(tmp_path: Path) -> None:
    out = _rendered(tmp_path)
    line = _mutate(out / "pipelines.yaml", "      retries: 2", "      retries: '2'")
    problems = validate_tree(out, crds=CRDS).problems
    assert [(p.location.line if p.location else None) for p in problems] == [line]
    assert (
        "[Tekton v1 CRD schema]" in problems[0].message
        and "'2' is not of type 'integer'" in problems[0].message
    )


@needs_kubernetes_validate
def test_core_kinds_go_through_kubernetes_schemas(tmp_path: Path) -> None:
    out = _rendered(tmp_path)
    line = _mutate(
        out / "cron.yaml", "  concurrencyPolicy: Forbid", "  concurrencyPolicy: Forbid\n  concurrency: 1"
    )
    problems = validate_tree(out, crds=None).problems
    assert len(problems) == 1
    assert problems[0].location is not None and problems[0].location.line == line + 1
    assert "unknown field 'concurrency' [Kubernetes 1.29 schema]" in problems[0].message
    assert problems[0].hint == "did you mean 'concurrencyPolicy'?"


def test_the_cli_exits_0_when_valid_and_2_with_file_and_line_when_not(tmp_path: Path) -> None:
    out = _rendered(tmp_path)
    ok = CliRunner().invoke(app, ["validate", str(out)])
    assert ok.exit_code == 0, ok.output
    assert "all valid" in ok.output
    line = _mutate(out / "kserve.yaml", "  predictor:", "  predicter:")
    bad = CliRunner().invoke(app, ["validate", str(out)])
    assert bad.exit_code == 2
    assert f"error: {out / 'kserve.yaml'}:{line}: spec.predicter: unknown field 'predicter'" in bad.output
    as_json = CliRunner().invoke(app, ["validate", str(out), "-o", "json"])
    assert as_json.exit_code == 2
    report = json.loads(as_json.stdout)
    assert report["valid"] is False and report["documents"] > 0
    assert any(f"{line}: spec.predicter: unknown field" in p for p in report["problems"])


def _values_error(tmp_path: Path, text: str) -> list[str]:
    path = tmp_path / "site.yaml"
    path.write_text(text)
    with pytest.raises(InvalidInput) as caught:
        load_values(path, namespace="ml")
    errors = caught.value.errors if isinstance(caught.value, InvalidInputs) else [caught.value]
    return [str(e) for e in errors]


def test_values_errors_say_file_line_field_and_how_to_fix(tmp_path: Path) -> None:
    site = tmp_path / "site.yaml"
    assert _values_error(tmp_path, "storage:\n  modelStorage:\n    claimName: m\n    sise: 5Gi\n") == [
        f"{site}:4: storage.modelStorage.sise: unknown field 'sise' (did you mean 'size'?)"
    ]
    errors = _values_error(
        tmp_path,
        "models:\n  - name: a\n    notebook: elsewhere/a.ipynb\n"
        "schedules:\n  - name: s\n    model: b\n    cron: '0 1 * * *'\n",
    )
    assert errors[0].startswith(f"{site}:3: models[0].notebook: notebook 'elsewhere/a.ipynb' is not under")
    assert errors[1] == f"{site}:6: schedules[0].model: schedule 's' names unknown model 'b' (models: a)"
    assert _values_error(tmp_path, "models:\n  - name: Bad_Name\n")[0].startswith(
        f"{site}:2: models[0].name:"
    )
    assert _values_error(tmp_path, "models:\n  - name: a\n    trainingHours: '24'\n")[0].startswith(
        f"{site}:3: models[0].trainingHours: wrong type: expected an integer"
    )


def test_a_namespace_is_required_and_must_be_a_dns_label(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="no namespace"):
        load_values(None)
    with pytest.raises(InvalidInput, match="not a DNS-1123 label"):
        load_values(None, namespace="Not_OK")
    done = CliRunner().invoke(app, ["render", "--out", str(tmp_path / "x")])
    assert done.exit_code == 2
    assert "give --namespace NS" in done.output


def test_what_was_not_checked_is_said(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    out = _rendered(tmp_path)

    def missing(version: str) -> None:
        raise ImportError("no kubernetes_validate")

    monkeypatch.setattr("retrain.cluster.validate.KubernetesSchemas", missing)
    monkeypatch.delenv("RETRAIN_TEKTON_CRDS", raising=False)
    monkeypatch.setattr("retrain.cluster.validate.find_crds", lambda explicit: explicit)
    report = validate_tree(out)
    assert report.ok
    assert report.checks == ["retrain strict models and cross-document references"]
    assert report.skipped == [
        "Tekton CRD schemas: none found (give --crds DIR or RETRAIN_TEKTON_CRDS)",
        "Kubernetes schemas: the kubernetes-validate package is not installed",
    ]
    done = CliRunner().invoke(app, ["validate", str(out)])
    assert done.exit_code == 0
    assert "not checked: Kubernetes schemas: the kubernetes-validate package is not installed" in done.output
