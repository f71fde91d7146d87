"""Shared helpers of the registry tests (a plain module: no conftest, so no clash with other test folders)."""

from __future__ import annotations

import hashlib
import importlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from retrain.registry import NewVersionMetadata, Registry


class FakeClock:
    """Advances one second per reading, so every timestamp is distinct and predictable."""

    def __init__(self, start: datetime = datetime(2025, 1, 31, 12, 0, tzinfo=UTC)) -> None:
        self.now = start

    def __call__(self) -> datetime:
        moment = self.now
        self.now += timedelta(seconds=1)
        return moment


def small_model(seed: int = 0) -> Any:
    """A real sklearn estimator when sklearn is installed, else a plain picklable object."""
    # import_module: typed Any whether or not sklearn (untyped) is installed, so mypy is happy either way.
    try:
        linear_model = importlib.import_module("sklearn.linear_model")
    except ImportError:
        return {"kind": "stand-in model", "seed": seed, "weights": [seed, seed + 1, seed + 2]}
    return linear_model.LinearRegression().fit([[0.0], [1.0], [2.0]], [seed, seed + 1.0, seed + 2.0])


def make_artefact(directory: Path, seed: int = 0) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"model-{seed}.pkl"
    importlib.import_module("joblib").dump(small_model(seed), path)
    return path


def meta(**overrides: Any) -> NewVersionMetadata:
    values: dict[str, Any] = {
        "trainer": "test-trainer",
        "data_source_requested": "synthetic",
        "training_hours": 24.0,
        "rows": {"train": 100, "test": 20},
        "feature_contract": {"names": ["a", "b"], "dtype": "float64", "width": 2},
        "metrics": {"f1": 0.9},
        "run": "run-1",
    }
    values.update(overrides)
    return NewVersionMetadata(**values)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def registered(registry: Registry, model: str, count: int, workdir: Path) -> list[int]:
    return [registry.register(model, make_artefact(workdir, i), meta()).version for i in range(count)]


def assert_consistent(root: Path, model: str) -> None:
    """The registry invariants, checked on the raw files (the layout contract), not through Registry."""
    model_dir = root / model
    numbers: set[int] = set()
    versions_dir = model_dir / "versions"
    for entry in versions_dir.iterdir() if versions_dir.is_dir() else []:
        if entry.name.startswith(".tmp-"):
            continue  # scratch of a killed writer: invisible to readers
        assert entry.name.isdigit(), f"unexpected entry {entry}"
        files = sorted(p.name for p in entry.iterdir())
        assert files == ["metadata.json", "model.pkl"], f"incomplete version {entry}: {files}"
        metadata = json.loads((entry / "metadata.json").read_text())
        assert metadata["version"] == int(entry.name)
        assert metadata["artefact"]["sha256"] == sha256(entry / "model.pkl"), f"bad digest in {entry}"
        assert metadata["artefact"]["size"] == (entry / "model.pkl").stat().st_size
        numbers.add(int(entry.name))
    aliases_path = model_dir / "aliases.json"
    if aliases_path.exists():
        aliases = json.loads(aliases_path.read_text())
        assert isinstance(aliases, dict)
        for name, number in aliases.items():
            assert number in numbers, f"alias {name} -> {number} points to no complete version"
        if "previous" in aliases:
            assert aliases["previous"] != aliases["serving"]
    Registry(root).history(model)  # parses, torn last line or not
