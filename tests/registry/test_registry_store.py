"""Registry behaviour: layout contract, metadata, digests, aliases, promote, rollback, reject, prune."""

from __future__ import annotations

import json
import logging
import math
import shutil
import subprocess
from pathlib import Path

import pytest

from fixtures.registry_helpers import FakeClock, assert_consistent, make_artefact, meta, registered, sha256
from retrain.errors import Conflict, InvalidInput, NotFound, TemporaryError
from retrain.registry import IntegrityError, Registry, default_root
from retrain.registry.lock import model_lock

MODEL = "anomaly-detector"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    return Registry(tmp_path / "registry", clock=FakeClock(), actor="tester")


def test_register_writes_exactly_the_layout_and_never_touches_aliases(
    registry: Registry, tmp_path: Path
) -> None:
    artefact = make_artefact(tmp_path / "work")
    info = registry.register(MODEL, artefact, meta())

    model_dir = registry.root / MODEL
    files = sorted(str(p.relative_to(model_dir)) for p in model_dir.rglob("*") if p.is_file())
    assert files == [".lock", "events.jsonl", "versions/1/metadata.json", "versions/1/model.pkl"]
    assert info.version == 1
    assert info.artefact == model_dir / "versions" / "1" / "model.pkl"
    assert info.artefact.read_bytes() == artefact.read_bytes()
    assert registry.aliases(MODEL) == {}


def test_the_executed_notebook_is_stored_with_the_version_and_named_with_its_digest(
    registry: Registry, tmp_path: Path
) -> None:
    notebook = tmp_path / "work" / "executed.ipynb"
    notebook.parent.mkdir(parents=True, exist_ok=True)
    notebook.write_text('{"cells": [], "nbformat": 4}')
    info = registry.register(MODEL, make_artefact(tmp_path / "work"), meta(), executed_notebook=notebook)
    assert info.executed_notebook == info.path / "executed.ipynb"
    assert info.executed_notebook.read_bytes() == notebook.read_bytes()
    record = info.metadata.get("executed_notebook")
    assert record == {"file": "executed.ipynb", "sha256": sha256(notebook), "size": notebook.stat().st_size}
    plain = registry.register(MODEL, make_artefact(tmp_path / "work", 1), meta())
    assert plain.executed_notebook is None and "executed_notebook" not in plain.metadata
    assert_consistent(registry.root, MODEL)


def test_a_model_file_that_changed_since_it_was_checked_is_not_registered(
    registry: Registry, tmp_path: Path
) -> None:
    artefact = make_artefact(tmp_path / "work")
    checked = sha256(artefact)
    registry.register(MODEL, artefact, meta(), expected_sha256=checked)
    artefact.write_bytes(artefact.read_bytes() + b"tampered")
    with pytest.raises(IntegrityError, match="changed after it was checked"):
        registry.register(MODEL, artefact, meta(), expected_sha256=checked)
    assert [v.version for v in registry.versions(MODEL)] == [1]
    assert not [p for p in (registry.root / MODEL / "versions").iterdir() if p.name.startswith(".tmp-")]


def test_metadata_records_lineage_digest_and_contract(registry: Registry, tmp_path: Path) -> None:
    artefact = make_artefact(tmp_path / "work")
    registry.register(
        MODEL,
        artefact,
        meta(
            data_source_requested="hybrid",
            data_source_effective="synthetic",
            metrics={"f1": 0.5, "auc": math.nan},
        ),
    )
    stored = json.loads((registry.root / MODEL / "versions" / "1" / "metadata.json").read_text())

    assert set(stored) == {
        "schema", "model", "version", "created_at", "trainer", "notebook_path", "git_commit",
        "data_source_requested", "data_source_effective", "training_window", "rows", "feature_contract",
        "metrics", "artefact", "libraries", "run", "extra",
    }  # fmt: skip
    assert stored["model"] == MODEL
    assert stored["version"] == 1
    assert stored["created_at"] == "2025-01-31T12:00:00.000Z"
    assert stored["data_source_requested"] == "hybrid"
    assert stored["data_source_effective"] == "synthetic"
    assert stored["training_window"] == {"hours": 24.0, "start": None, "end": None}
    assert stored["rows"] == {"train": 100, "test": 20}
    assert stored["feature_contract"] == {"names": ["a", "b"], "dtype": "float64", "width": 2}
    assert stored["metrics"] == {"f1": 0.5, "auc": None}  # JSON has no NaN
    assert stored["artefact"] == {
        "file": "model.pkl",
        "sha256": sha256(artefact),
        "size": artefact.stat().st_size,
    }
    assert stored["run"] == "run-1"
    assert {"python", "joblib"} <= set(stored["libraries"])
    assert stored["git_commit"] is None


@pytest.mark.skipif(shutil.which("git") is None, reason="git is not installed")
def test_git_commit_is_recorded_when_the_notebook_is_in_a_work_tree(
    registry: Registry, tmp_path: Path
) -> None:
    repo = tmp_path / "repo"
    repo.mkdir()
    notebook = repo / "train.ipynb"
    notebook.write_text("{}")
    git = ["git", "-C", str(repo), "-c", "user.name=t", "-c", "user.email=t@example.com"]
    subprocess.run([*git, "init", "-q"], check=True)
    subprocess.run([*git, "add", "train.ipynb"], check=True)
    subprocess.run([*git, "commit", "-q", "-m", "nb"], check=True)
    head = subprocess.run(
        [*git, "rev-parse", "HEAD"], check=True, capture_output=True, text=True
    ).stdout.strip()

    info = registry.register(MODEL, make_artefact(tmp_path / "work"), meta(notebook_path=notebook))
    assert info.metadata["git_commit"] == head
    assert info.metadata["notebook_path"] == str(notebook)


def test_versions_count_from_one_and_get_defaults_to_serving(registry: Registry, tmp_path: Path) -> None:
    assert registered(registry, MODEL, 3, tmp_path / "work") == [1, 2, 3]
    assert [v.version for v in registry.versions(MODEL)] == [1, 2, 3]
    assert registry.models() == [MODEL]
    with pytest.raises(NotFound, match="no serving version"):
        registry.get(MODEL)
    registry.promote(MODEL, 2)
    assert registry.get(MODEL).version == 2
    assert registry.get(MODEL, 3).version == 3
    with pytest.raises(NotFound, match=r"has no version 9.*1-3"):
        registry.get(MODEL, 9)


def test_promote_moves_serving_to_previous_and_refreshes_the_legacy_copy(
    registry: Registry, tmp_path: Path
) -> None:
    registered(registry, MODEL, 3, tmp_path / "work")
    first = registry.promote(MODEL, 1, reason="first")
    second = registry.promote(MODEL, 3, reason="better", run="run-7")

    assert (first.serving, first.previous, first.changed) == (1, None, True)
    assert (second.serving, second.previous, second.changed) == (3, 1, True)
    assert json.loads((registry.root / MODEL / "aliases.json").read_text()) == {"serving": 3, "previous": 1}
    legacy = registry.root / MODEL / "model.pkl"
    assert legacy.read_bytes() == registry.artefact_path(MODEL, 3).read_bytes()

    promoted = [e for e in registry.history(MODEL) if e.event == "promoted"]
    assert [(e.version, e.previous, e.reason, e.run, e.actor) for e in promoted] == [
        (1, None, "first", None, "tester"),
        (3, 1, "better", "run-7", "tester"),
    ]


def test_promoting_the_serving_version_again_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.promote(MODEL, 1)
    registry.promote(MODEL, 2)
    events_before = registry.history(MODEL)
    again = registry.promote(MODEL, 2)
    assert (again.changed, again.serving, again.previous, again.event) == (False, 2, 1, None)
    assert registry.history(MODEL) == events_before


def test_rollback_serves_previous_and_refuses_a_second_time(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.promote(MODEL, 1)
    registry.promote(MODEL, 2)
    back = registry.rollback(MODEL, reason="verify failed", run="run-9")

    assert (back.serving, back.previous) == (1, None)
    assert registry.aliases(MODEL) == {"serving": 1}
    assert (registry.root / MODEL / "model.pkl").read_bytes() == registry.artefact_path(MODEL, 1).read_bytes()
    last = registry.history(MODEL)[-1]
    assert (last.event, last.version, last.previous, last.reason, last.run) == (
        "rolled_back", 1, 2, "verify failed", "run-9",
    )  # fmt: skip
    with pytest.raises(Conflict, match=r"no previous version \(version 1 is serving\).*promote"):
        registry.rollback(MODEL)


def test_rollback_with_nothing_served_is_a_clear_conflict(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 1, tmp_path / "work")
    with pytest.raises(Conflict, match="nothing is serving"):
        registry.rollback(MODEL)


def test_reject_is_only_an_audit_event(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.promote(MODEL, 1)
    registry.reject(MODEL, 2, reasons=["f1 0.4 < baseline 0.9", "width 4 != 5"], run="run-3")

    assert registry.aliases(MODEL) == {"serving": 1}
    last = registry.history(MODEL)[-1]
    assert last.event == "rejected"
    assert last.reasons == ("f1 0.4 < baseline 0.9", "width 4 != 5")
    with pytest.raises(InvalidInput, match="at least one reason"):
        registry.reject(MODEL, 2, reasons=[])
    with pytest.raises(NotFound):
        registry.reject(MODEL, 7, reasons=["x"])


def test_prune_keeps_newest_serving_previous_and_aliased(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 8, tmp_path / "work")
    registry.promote(MODEL, 2)
    registry.promote(MODEL, 3)
    registry.set_alias(MODEL, "champion", 5)

    removed = registry.prune(MODEL, keep=2, reason="retention")
    assert removed == [1, 4, 6]
    assert [v.version for v in registry.versions(MODEL)] == [2, 3, 5, 7, 8]
    assert registry.history(MODEL)[-1].versions == (1, 4, 6)
    assert registry.prune(MODEL, keep=2) == []
    # Numbers are never reused: the newest version is always kept.
    assert registry.register(MODEL, make_artefact(tmp_path / "work", 99), meta()).version == 9
    with pytest.raises(InvalidInput, match="at least 1"):
        registry.prune(MODEL, keep=0)
    assert_consistent(registry.root, MODEL)


def test_user_aliases(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.set_alias(MODEL, "champion", 2)
    assert registry.aliases(MODEL) == {"champion": 2}
    with pytest.raises(InvalidInput, match="moved only by promote and rollback"):
        registry.set_alias(MODEL, "serving", 1)
    with pytest.raises(InvalidInput, match="alias name"):
        registry.set_alias(MODEL, "Bad Alias", 1)
    registry.remove_alias(MODEL, "champion")
    assert registry.aliases(MODEL) == {}
    with pytest.raises(NotFound, match="no alias 'champion'"):
        registry.remove_alias(MODEL, "champion")
    assert [e.event for e in registry.history(MODEL)][-2:] == ["alias_set", "alias_removed"]


def test_unknown_model_bad_names_and_bad_artefacts(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 1, tmp_path / "work")
    with pytest.raises(NotFound, match="did you mean 'anomaly-detector'"):
        registry.versions("anomaly-detectr")
    with pytest.raises(InvalidInput, match="model name"):
        registry.register("../escape", make_artefact(tmp_path / "work"), meta())
    with pytest.raises(NotFound, match="does not exist"):
        registry.register("other", tmp_path / "missing.pkl", meta())
    empty = tmp_path / "empty.pkl"
    empty.write_bytes(b"")
    with pytest.raises(InvalidInput, match="is empty"):
        registry.register("other", empty, meta())
    with pytest.raises(InvalidInput, match="cannot be stored as JSON"):
        registry.register("other", make_artefact(tmp_path / "work"), meta(metrics={"f": object()}))
    # Bad input leaves no trace.
    assert sorted(p.name for p in registry.root.iterdir()) == [MODEL]


def test_verify_names_the_version_and_both_digests(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.verify(MODEL, 2)
    artefact = registry.artefact_path(MODEL, 2)
    expected = sha256(artefact)
    artefact.write_bytes(b"tampered")
    with pytest.raises(IntegrityError) as caught:
        registry.verify(MODEL, 2)
    message = str(caught.value)
    assert "version 2" in message
    assert expected in message
    assert sha256(artefact) in message
    assert caught.value.permanent


def test_promote_refuses_a_damaged_version_and_changes_nothing(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.promote(MODEL, 1)
    registry.artefact_path(MODEL, 2).write_bytes(b"tampered")
    with pytest.raises(IntegrityError, match="version 2"):
        registry.promote(MODEL, 2)
    assert registry.aliases(MODEL) == {"serving": 1}
    assert (registry.root / MODEL / "model.pkl").read_bytes() == registry.artefact_path(MODEL, 1).read_bytes()


def test_torn_audit_line_is_skipped_with_a_warning_and_the_next_event_stays_whole(
    registry: Registry, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    events = registry.root / MODEL / "events.jsonl"
    with events.open("a") as handle:
        handle.write('{"event": "promoted", "at": "2025-')  # a crash mid-append
    with caplog.at_level(logging.WARNING, logger="retrain.registry"):
        assert [e.event for e in registry.history(MODEL)] == ["registered", "registered"]
    assert "unreadable audit line" in caplog.text
    registry.promote(MODEL, 2)
    assert [e.event for e in registry.history(MODEL)] == ["registered", "registered", "promoted"]


def test_writers_tidy_what_a_killed_writer_left(registry: Registry, tmp_path: Path) -> None:
    registered(registry, MODEL, 2, tmp_path / "work")
    registry.promote(MODEL, 1)
    model_dir = registry.root / MODEL
    scratch = model_dir / "versions" / ".tmp-abc"
    scratch.mkdir()
    (scratch / "model.pkl").write_bytes(b"half")
    (model_dir / ".tmp-aliases.json.x").write_text("{")
    # Killed between committing aliases.json and installing the legacy copy:
    (model_dir / "aliases.json").write_text(json.dumps({"serving": 2, "previous": 1}))

    assert [v.version for v in registry.versions(MODEL)] == [1, 2]  # readers ignore scratch
    registry.repair(MODEL)
    assert not scratch.exists()
    assert not (model_dir / ".tmp-aliases.json.x").exists()
    assert (model_dir / "model.pkl").read_bytes() == registry.artefact_path(MODEL, 2).read_bytes()


def test_a_held_lock_times_out_with_a_temporary_error(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", lock_timeout_s=0.05)
    registered(registry, MODEL, 1, tmp_path / "work")
    with model_lock(registry.root / MODEL / ".lock"), pytest.raises(TemporaryError, match="held by another"):
        registry.promote(MODEL, 1)
    assert registry.aliases(MODEL) == {}


def test_default_root_follows_the_environment(tmp_path: Path) -> None:
    assert default_root({"RETRAIN_REGISTRY": "/r", "RETRAIN_HOME": "/h"}) == Path("/r")
    assert default_root({"RETRAIN_HOME": "/h", "XDG_DATA_HOME": "/x"}) == Path("/h/registry")
    assert default_root({"XDG_DATA_HOME": "/x", "HOME": "/home/u"}) == Path("/x/retrain/registry")
    assert default_root({"HOME": "/home/u"}) == Path("/home/u/.local/share/retrain/registry")
