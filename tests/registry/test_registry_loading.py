"""load_artefact / load_model: the one loader of model files; the digest is checked before unpickling."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.registry_helpers import FakeClock, make_artefact, meta, small_model
from retrain.errors import InvalidInput, NotFound, RunFailed
from retrain.registry import IntegrityError, Registry, load_artefact, load_model
from retrain.registry.digest import sha256_file

MODEL = "predictive-analytics"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "registry", clock=FakeClock(), actor="tester")
    for seed in (1, 2):
        reg.register(MODEL, make_artefact(tmp_path / "work", seed), meta())
    return reg


def test_load_serving_and_explicit_versions(registry: Registry) -> None:
    registry.promote(MODEL, 2)
    loaded, info = load_model(registry, MODEL)
    assert info.version == 2
    assert type(loaded) is type(small_model(2))
    if isinstance(loaded, dict):
        assert loaded == small_model(2)
    else:
        assert loaded.predict([[1.0]])[0] == pytest.approx(3.0)
    _, first = load_model(registry, MODEL, 1)
    assert first.version == 1


def test_a_digest_mismatch_refuses_the_load_and_names_the_version(registry: Registry) -> None:
    artefact = registry.artefact_path(MODEL, 1)
    artefact.write_bytes(artefact.read_bytes() + b"\0")
    with pytest.raises(IntegrityError, match=r"'predictive-analytics' version 1: artefact digest mismatch"):
        load_model(registry, MODEL, 1)


def test_a_missing_artefact_is_an_integrity_error(registry: Registry) -> None:
    registry.artefact_path(MODEL, 1).unlink()
    with pytest.raises(IntegrityError, match="version 1"):
        load_model(registry, MODEL, 1)


def test_no_serving_version_is_not_found(registry: Registry) -> None:
    with pytest.raises(NotFound, match="no serving version"):
        load_model(registry, MODEL)


def test_an_artefact_that_is_not_a_pickle_is_refused_with_its_libraries(tmp_path: Path) -> None:
    registry = Registry(tmp_path / "registry", clock=FakeClock(), actor="tester")
    junk = tmp_path / "model.pkl"
    junk.write_bytes(b"this is not a pickle")
    registry.register(MODEL, junk, meta())
    with pytest.raises(InvalidInput, match="version 1: cannot unpickle") as caught:
        load_model(registry, MODEL, 1)
    assert caught.value.hint is not None
    assert "python" in caught.value.hint


class _Tripwire:
    """Unpickling this object creates a file: proof of whether the bytes were unpickled at all."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple[object, tuple[str, str]]:
        return (Path.write_text, (self.marker, "unpickled"))  # type: ignore[return-value]


def test_load_artefact_checks_the_digest_before_unpickling(tmp_path: Path) -> None:
    import joblib  # type: ignore[import-untyped]

    marker = tmp_path / "unpickled"
    artefact = tmp_path / "model.pkl"
    joblib.dump(_Tripwire(marker), artefact)
    with pytest.raises(IntegrityError, match="notebook output: artefact digest mismatch"):
        load_artefact(artefact, sha256="0" * 64, size=artefact.stat().st_size, label="notebook output")
    assert not marker.exists()  # refused before any code in the pickle ran
    digest, size = sha256_file(artefact)
    load_artefact(artefact, sha256=digest, size=size, label="notebook output")
    assert marker.read_text() == "unpickled"


def test_load_artefact_refuses_with_the_callers_error_class(tmp_path: Path) -> None:
    junk = tmp_path / "model.pkl"
    junk.write_bytes(b"not a pickle")
    digest, size = sha256_file(junk)
    with pytest.raises(RunFailed, match=r"model\.pkl written by notebook nb\.ipynb: cannot unpickle"):
        load_artefact(
            junk, sha256=digest, size=size, label="model.pkl written by notebook nb.ipynb", refuse=RunFailed
        )


def test_no_other_module_unpickles_a_model_file() -> None:
    """One owner: registry.loading. (handoff.py's pickle is the run's own dataset, not a model file.)"""
    source = Path(__file__).resolve().parents[2] / "src" / "retrain"
    users = sorted(
        str(path.relative_to(source))
        for path in source.rglob("*.py")
        if "joblib.load(" in path.read_text() or "pickle.load(" in path.read_text()
    )
    assert users == ["registry/loading.py", "training/handoff.py"]
