"""load_model: the digest is checked before anything is unpickled."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.registry_helpers import FakeClock, make_artefact, meta, small_model
from retrain.errors import InvalidInput, NotFound
from retrain.registry import IntegrityError, Registry, load_model

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
