"""`retrain models ...` through Typer's test runner, on a real registry in a temporary directory."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from fixtures.registry_helpers import FakeClock, make_artefact, meta
from retrain.cli.models import app
from retrain.registry import Registry

MODEL = "anomaly-detector"


def cli() -> typer.Typer:
    root = typer.Typer()
    root.add_typer(app, name="models")
    return root


@pytest.fixture
def root(tmp_path: Path) -> Path:
    registry = Registry(tmp_path / "registry", clock=FakeClock(), actor="tester")
    for seed in range(3):
        registry.register(
            MODEL, make_artefact(tmp_path / "work", seed), meta(metrics={"f1": 0.5 + seed / 10})
        )
    registry.promote(MODEL, 1)
    registry.promote(MODEL, 2)
    return registry.root


def invoke(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli(), list(args), env=env)
    return result.exit_code, result.stdout, result.stderr


def test_list_as_table_and_json(root: Path) -> None:
    code, out, _ = invoke("models", "list", "--registry", str(root))
    assert code == 0
    assert MODEL in out
    assert "last registered" in out
    code, out, _ = invoke("models", "list", "--registry", str(root), "-o", "json")
    assert code == 0
    assert json.loads(out) == [
        {
            "model": MODEL,
            "versions": 3,
            "serving": 2,
            "previous": 1,
            "last_registered": "2025-01-31T12:00:04.000Z",
        }
    ]


def test_registry_root_comes_from_the_environment(root: Path, tmp_path: Path) -> None:
    code, out, _ = invoke("models", "list", "-o", "json", env={"RETRAIN_REGISTRY": str(root)})
    assert code == 0
    assert [m["model"] for m in json.loads(out)] == [MODEL]
    code, out, _ = invoke("models", "list", env={"RETRAIN_REGISTRY": "", "RETRAIN_HOME": str(tmp_path / "h")})
    assert code == 0
    assert f"no models in {tmp_path / 'h' / 'registry'}" in out


def test_show_serving_version_in_every_format(root: Path) -> None:
    code, out, _ = invoke("models", "show", MODEL, "--registry", str(root), "-o", "json")
    assert code == 0
    shown = json.loads(out)
    assert (shown["version"], shown["aliases"], shown["metrics"]) == (2, ["serving"], {"f1": 0.6})
    assert shown["feature_contract"]["width"] == 2
    assert shown["data_source_requested"] == "synthetic"

    code, out, _ = invoke("models", "show", MODEL, "1", "--registry", str(root), "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out)["aliases"] == ["previous"]

    code, out, _ = invoke("models", "show", MODEL, "3", "--registry", str(root))
    assert code == 0
    assert shown["artefact"]["sha256"] != ""
    for text in ("metrics", "f1", "feature contract", "synthetic", "test-trainer"):
        assert text in out


def test_history_lists_the_audit_log(root: Path) -> None:
    code, out, _ = invoke("models", "history", MODEL, "--registry", str(root), "-o", "json")
    assert code == 0
    assert [e["event"] for e in json.loads(out)] == ["registered"] * 3 + ["promoted"] * 2
    code, out, _ = invoke("models", "history", MODEL, "--registry", str(root))
    assert code == 0
    assert "promoted" in out
    assert "tester" in out


def test_promote_rollback_and_prune(root: Path) -> None:
    code, out, _ = invoke("models", "promote", MODEL, "3", "--registry", str(root), "--reason", "better")
    assert code == 0
    assert "version 3 is serving (was: 2" in out
    code, out, _ = invoke("models", "promote", MODEL, "3", "--registry", str(root))
    assert (code, "already serving" in out) == (0, True)
    code, out, _ = invoke("models", "rollback", MODEL, "--registry", str(root), "--run", "r1")
    assert code == 0
    assert "version 2 is serving (was: 3" in out
    code, out, _ = invoke("models", "prune", MODEL, "--keep", "1", "--registry", str(root))
    assert code == 0
    assert "deleted version(s) 1" in out
    assert Registry(root).aliases(MODEL) == {"serving": 2}
    assert [v.version for v in Registry(root).versions(MODEL)] == [2, 3]


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (("show", "anomaly-detectr"), 3, "did you mean 'anomaly-detector'"),
        (("show", MODEL, "9"), 3, "has no version 9"),
        (("promote", MODEL, "9"), 3, "has no version 9"),
        (("promote", "no/such", "1"), 2, "model name 'no/such' is not allowed"),
        (("prune", MODEL, "--keep", "0"), 2, "--keep must be at least 1"),
        (("history", "nope"), 3, "model 'nope' is not in the registry"),
    ],
)
def test_errors_are_clear_and_mapped_to_exit_codes(
    root: Path, args: tuple[str, ...], code: int, message: str
) -> None:
    got, _, err = invoke("models", *args, "--registry", str(root))
    assert got == code
    assert message in err
    assert err.startswith("error: ")


def test_rollback_without_previous_is_a_conflict(root: Path) -> None:
    assert invoke("models", "rollback", MODEL, "--registry", str(root))[0] == 0
    code, _, err = invoke("models", "rollback", MODEL, "--registry", str(root))
    assert code == 4
    assert "no previous version" in err
    assert "retrain models promote anomaly-detector VERSION" in err


def test_promote_rollback_and_prune_report_as_json(root: Path) -> None:
    code, out, _ = invoke("models", "promote", MODEL, "3", "--registry", str(root), "-o", "json")
    assert code == 0
    assert json.loads(out) == {
        "model": MODEL,
        "serving": 3,
        "was": 2,
        "previous": 2,
        "changed": True,
        "outcome": "promoted",
        "reason": "version 3 is serving in the registry",
    }
    code, out, _ = invoke("models", "promote", MODEL, "3", "--registry", str(root), "-o", "json")
    assert (code, json.loads(out)["outcome"], json.loads(out)["changed"]) == (0, "unchanged", False)
    code, out, _ = invoke("models", "rollback", MODEL, "--registry", str(root), "-o", "yaml")
    assert code == 0
    assert yaml.safe_load(out)["outcome"] == "rolled_back" and yaml.safe_load(out)["serving"] == 2
    code, out, _ = invoke("models", "prune", MODEL, "--keep", "1", "--registry", str(root), "-o", "json")
    assert code == 0
    assert json.loads(out) == {"model": MODEL, "deleted": [1], "kept": [2, 3]}


def test_show_names_the_executed_notebook_as_lineage(root: Path, tmp_path: Path) -> None:
    notebook = tmp_path / "executed.ipynb"
    notebook.write_text('{"cells": []}')
    Registry(root).register(MODEL, make_artefact(tmp_path / "work", 9), meta(), executed_notebook=notebook)
    code, out, _ = invoke("models", "show", MODEL, "4", "--registry", str(root), "-o", "json")
    assert code == 0
    shown = json.loads(out)
    stored = root / MODEL / "versions" / "4" / "executed.ipynb"
    assert shown["executed_notebook_path"] == str(stored)
    assert (
        shown["executed_notebook"]["file"] == "executed.ipynb"
        and len(shown["executed_notebook"]["sha256"]) == 64
    )
    code, out, _ = invoke("models", "show", MODEL, "4", "--registry", str(root))
    assert code == 0
    assert "executed notebook" in out  # the value (a long path) may be folded by the table
    code, out, _ = invoke("models", "show", MODEL, "1", "--registry", str(root), "-o", "json")
    assert json.loads(out)["executed_notebook_path"] is None  # registered without one
