"""Several real processes at once, and processes killed mid-write: the registry stays whole."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from fixtures.registry_helpers import assert_consistent, registered, sha256
from retrain.registry import Registry

WORKER = str(Path(__file__).with_name("registry_worker.py"))
MODEL = "anomaly-detector"
PROCESSES = 8


def start(*args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, WORKER, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )


def finish(procs: list[subprocess.Popen[str]]) -> list[str]:
    outputs = []
    for proc in procs:
        out, err = proc.communicate(timeout=90)
        assert proc.returncode == 0, err
        outputs.append(out)
    return outputs


def test_concurrent_registers_never_lose_a_version(tmp_path: Path) -> None:
    root, go, per_process = tmp_path / "registry", tmp_path / "go", 5
    procs = [start("register", str(root), MODEL, str(per_process), str(go)) for _ in range(PROCESSES)]
    go.touch()
    numbers = [int(line) for out in finish(procs) for line in out.split()]

    expected = list(range(1, PROCESSES * per_process + 1))
    assert sorted(numbers) == expected  # distinct and contiguous: nothing lost, nothing doubled
    registry = Registry(root)
    assert [v.version for v in registry.versions(MODEL)] == expected
    assert sorted(e.version or 0 for e in registry.history(MODEL) if e.event == "registered") == expected
    for number in expected:
        registry.verify(MODEL, number)
    assert_consistent(root, MODEL)


def test_concurrent_promotes_and_rollbacks_keep_aliases_and_audit_consistent(tmp_path: Path) -> None:
    root, go, rounds = tmp_path / "registry", tmp_path / "go", 6
    registry = Registry(root)
    registered(registry, MODEL, PROCESSES, tmp_path / "work")
    procs = [
        start("promote", str(root), MODEL, str(v), str(rounds), str(go)) for v in range(1, PROCESSES + 1)
    ]
    go.touch()
    finish(procs)

    assert_consistent(root, MODEL)
    aliases = registry.aliases(MODEL)
    # Replaying the audit log must reproduce aliases.json: every change was serialized and recorded.
    serving: int | None = None
    previous: int | None = None
    changes = [e for e in registry.history(MODEL) if e.event in ("promoted", "rolled_back")]
    assert len([e for e in changes if e.event == "promoted"]) >= PROCESSES
    for event in changes:
        assert event.previous == serving, f"{event} does not follow serving={serving}"
        if event.event == "promoted":
            serving, previous = event.version, serving
        else:
            assert event.version == previous
            serving, previous = event.version, None
    assert aliases.get("serving") == serving
    assert aliases.get("previous") == previous
    assert sha256(root / MODEL / "model.pkl") == registry.get(MODEL).sha256


@pytest.mark.slow
def test_a_writer_killed_at_random_moments_leaves_the_registry_whole(tmp_path: Path) -> None:
    root = tmp_path / "registry"
    rng = random.Random(20250131)
    deadline = time.monotonic() + 60
    kills = 0
    while kills < 16 and time.monotonic() < deadline:
        proc = start("churn", str(root), MODEL, str(kills))
        # Let it get through start-up and some writes, then kill it without warning, wherever it is.
        time.sleep(rng.uniform(0.2, 0.7))
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL, "the worker ended on its own: see its stderr"
        kills += 1
        if not (root / MODEL / "versions").is_dir():
            continue  # killed before its first version
        assert_consistent(root, MODEL)
        registry = Registry(root)
        aliases = registry.aliases(MODEL)
        if "serving" in aliases:
            registry.verify(MODEL)  # serving is complete and digest-valid
    assert kills >= 8

    registry = Registry(root)
    registry.repair(MODEL)
    assert_consistent(root, MODEL)
    assert list((root / MODEL).rglob(".tmp-*")) == []
    assert len(registry.versions(MODEL)) >= 1
    if "serving" in registry.aliases(MODEL):
        assert sha256(root / MODEL / "model.pkl") == registry.get(MODEL).sha256
