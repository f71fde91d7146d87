"""Fixtures for the engine's tests (the helpers live in engine_helpers.py)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from fixtures.engine_helpers import Ran, RunYaml, run_yaml
from retrain.engine.sandbox import Sandbox, detect_sandbox


@pytest.fixture(scope="session")
def sandbox() -> Sandbox:
    """bwrap where it works; ENGINE_TESTS_SANDBOX=host runs the in-process engine tests in host mode."""
    prefer = os.environ.get("ENGINE_TESTS_SANDBOX", "auto")
    assert prefer in ("auto", "bwrap", "host"), prefer
    return detect_sandbox(prefer=prefer)  # type: ignore[arg-type]


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
