"""Scratch directories in `<root>/.staging`: lock-owned, removed by their owner, swept once it died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from retrain.registry.staging import GRACE_S, OWNER, scratch_dir, staging_dir, sweep

HOLDER = """
import sys
from pathlib import Path
from retrain.registry.staging import scratch_dir
with scratch_dir(Path(sys.argv[1]), "train-x-") as path:
    print(path, flush=True)
    sys.stdin.read()  # hold it until the test closes stdin or kills us
"""


def holder(parent: Path) -> tuple[subprocess.Popen[str], Path]:
    process = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(parent)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert process.stdout is not None
    return process, Path(process.stdout.readline().strip())


def test_the_block_owns_a_directory_and_removes_it_even_on_error(tmp_path: Path) -> None:
    parent = staging_dir(tmp_path / "registry")
    assert parent == tmp_path / "registry" / ".staging"
    with pytest.raises(RuntimeError), scratch_dir(parent, "train-m-") as path:
        assert path.parent == parent and path.name.startswith("train-m-")
        record = json.loads((path / OWNER).read_text())
        assert record["pid"] == os.getpid()
        (path / "model").mkdir()
        raise RuntimeError("the notebook failed")
    assert list(parent.iterdir()) == []


def test_a_live_owner_is_never_swept_and_a_killed_one_is(tmp_path: Path) -> None:
    parent = tmp_path / "staging"
    process, path = holder(parent)
    try:
        assert sweep(parent) == [] and path.is_dir()  # alive: its lock is held
        process.kill()  # SIGKILL: no clean-up runs
        process.wait(timeout=30)
        assert path.is_dir()
        with scratch_dir(parent, "train-x-") as mine:  # the next owner sweeps first
            assert not path.exists()
            assert sorted(parent.iterdir()) == [mine]
    finally:
        process.kill()
        process.communicate(timeout=30)  # reaps it and closes its pipes


def test_an_owner_that_ends_normally_removes_its_own_directory(tmp_path: Path) -> None:
    parent = tmp_path / "staging"
    process, path = holder(parent)
    process.communicate(timeout=30)  # closes its stdin: the block ends normally
    assert process.returncode == 0
    assert not path.exists()


def test_a_directory_without_owner_is_swept_only_after_the_grace_period(tmp_path: Path) -> None:
    parent = tmp_path / "staging"
    orphan = parent / "train-y-abc"
    orphan.mkdir(parents=True)
    other = parent / "failed"  # not a scratch directory of this prefix: never touched
    other.mkdir()
    assert sweep(parent, "train-") == []
    assert sweep(parent, "train-", now=time.time() + GRACE_S + 1) == [orphan]
    assert not orphan.exists() and other.is_dir()
