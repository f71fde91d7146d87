"""`retrain run -p/-w` preflight: a name the run does not declare is an error before anything is recorded."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

RETRAIN = [sys.executable, "-m", "retrain.cli.main"]
DEMO = Path(__file__).resolve().parents[2] / "examples" / "demo-pipelinerun.yaml"


def run(home: Path, *args: str) -> tuple[int, str, float]:
    env = {**{k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}, "RETRAIN_HOME": str(home)}
    started = time.monotonic()
    done = subprocess.run(
        [*RETRAIN, "run", *args], env=env, capture_output=True, text=True, timeout=60, check=False
    )
    return done.returncode, done.stdout + done.stderr, time.monotonic() - started


def recorded(home: Path) -> list[str]:
    runs = home / "runs"
    return sorted(p.name for p in runs.iterdir()) if runs.is_dir() else []


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (
            ["--pipeline", "model-training-pipeline", "-p", "model-nam=x"],
            [
                "no param 'model-nam' is declared by Pipeline \"model-training-pipeline\"",
                'did you mean "model-name"?',
            ],
        ),
        (
            ["--pipeline", "model-training-pipeline", "-p", "model-name=x", "-w", "model-storag=/tmp"],
            ["no workspace 'model-storag'", 'did you mean "model-storage"?'],
        ),
        (["-f", str(DEMO), "-w", "scrach=/tmp"], ["no workspace 'scrach'", 'did you mean "scratch"?']),
    ],
)
def test_unknown_param_or_workspace_fails_fast_with_did_you_mean(
    tmp_path: Path, args: list[str], expected: list[str]
) -> None:
    code, out, took = run(tmp_path, *args)
    assert code == 2, out
    for text in expected:
        assert text in out
    assert took < 5  # a whole interpreter start included; nothing runs
    assert recorded(tmp_path) == []


def test_both_problems_are_reported_together(tmp_path: Path) -> None:
    code, out, _ = run(tmp_path, "--pipeline", "model-training-pipeline", "-p", "x=1", "-w", "y=/tmp")
    assert code == 2
    assert "no param 'x'" in out and "no workspace 'y'" in out
