"""Every example run in ../shared/conformance/tekton-examples ends Succeeded=True through the real CLI.

The files run four at a time (each in its own run store), and every failure is reported, not just the first.
"""

from __future__ import annotations

import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from fixtures.engine_helpers import SHARED

EXAMPLES = SHARED / "conformance" / "tekton-examples"
FILES = sorted(EXAMPLES.rglob("*.yaml")) if EXAMPLES.is_dir() else []

pytestmark = [
    pytest.mark.conformance,
    pytest.mark.slow,
    pytest.mark.skipif(not FILES, reason=f"{EXAMPLES} is not here"),
]


def _run(path: Path, home: Path) -> str | None:
    """None when the file's runs succeeded, else what went wrong."""
    try:
        done = subprocess.run(
            [sys.executable, "-m", "retrain.cli.main", "run", "-q", "-f", str(path), "--home", str(home)],
            capture_output=True,
            text=True,
            timeout=90,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return "did not finish within 90 s"
    if done.returncode != 0 or "Succeeded=True" not in done.stderr:
        return f"exit {done.returncode}: {done.stderr.strip()[-600:]}"
    return None


def test_every_tekton_example_succeeds(tmp_path: Path) -> None:
    homes = [tmp_path / f"home-{i}" for i in range(len(FILES))]
    with ThreadPoolExecutor(max_workers=4) as pool:
        outcomes = list(pool.map(_run, FILES, homes))
    failures = {str(f.relative_to(EXAMPLES)): why for f, why in zip(FILES, outcomes, strict=True) if why}
    assert failures == {}, "\n".join(f"{name}: {why}" for name, why in failures.items())
    assert len(FILES) >= 40  # the suite is all there, not a stray subset
