"""The README as a new user reads it: every file it names exists; its main flow runs exactly as written."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
# Names the README mentions that are created at run time (or elsewhere), not files of this repository.
CREATED = {
    "metadata.json",
    "aliases.json",
    "events.jsonl",
    "serve.json",
    "openapi.json",
    "kustomization.yaml",
    "model.pkl",
    "retrain.yaml",
}
PATH = re.compile(r"(?<![\w/.$<-])((?:\.\./)?[\w.-]+(?:/[\w.-]+)*\.(?:ya?ml|ipynb|md|py|json|toml|txt))\b")


def test_every_file_the_readme_names_exists() -> None:
    named = {m.group(1) for m in PATH.finditer(README.read_text())}
    assert "examples/notebooks/custom-model.ipynb" in named  # the pattern finds what it must
    missing = sorted(
        n
        for n in named
        if Path(n).name not in CREATED and not (ROOT / n).exists() and not n.startswith("../")
    )
    assert not missing, f"README.md names files that are not in the repository: {missing}"
    for shared in (n for n in named if n.startswith("../shared/")):
        if (ROOT.parent / "shared").is_dir():
            assert (ROOT / shared).exists(), shared


def main_flow() -> str:
    text = README.read_text()
    section = text[text.index("## The main flow") :]
    block = re.search(r"```sh\n(.*?)```", section, re.S)
    assert block is not None
    return block.group(1)


@pytest.mark.slow
@pytest.mark.timeout(600)
def test_the_main_flow_runs_as_written(tmp_path: Path) -> None:
    """The block is run by bash, literally, in a fresh directory that has the project's .venv and examples."""
    (tmp_path / ".venv").symlink_to(ROOT / ".venv")
    (tmp_path / "examples").symlink_to(ROOT / "examples")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("RETRAIN_", "PROMETHEUS_"))}
    env["RETRAIN_HOME"] = str(tmp_path / "home")
    script = "set -euo pipefail\n" + main_flow() + "wait\n"
    proc = subprocess.Popen(
        ["bash", "-c", script],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=540)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)  # nothing the block started outlives the test
    assert proc.returncode == 0, out
    headlines = [line for line in out.splitlines() if line.startswith("new version")]
    assert len(headlines) == 3, out  # each trigger's closing summary, read back from the endpoint
    assert all("and now serves" in line for line in headlines), headlines
    assert "serving: found `retrain serve`" in out
    assert not (tmp_path / "home" / "serve.json").exists()  # the server removed its record on `kill %1`
