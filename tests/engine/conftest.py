"""Fixtures for the engine's tests (the helpers live in engine_helpers.py)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from engine_helpers import Ran, RunYaml, run_yaml

from retrain.engine.sandbox import Sandbox, detect_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    return detect_sandbox()


@pytest.fixture
def home(tmp_path: Path) -> Path:
    path = tmp_path / "home"
    path.mkdir()
    return path


@pytest.fixture
def run(home: Path, sandbox: Sandbox) -> RunYaml:
    """`run(yaml_text, host_dirs=..., clock=..., control=...)` -> Ran."""

    def go(text: str, **kwargs: Any) -> Ran:
        return run_yaml(home, sandbox, text, **kwargs)

    return go
