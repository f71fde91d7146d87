"""`retrain trigger` says what really holds, read back from the run store, the registry and the endpoint.

Real processes throughout: a real `retrain serve` (found through the record it writes in RETRAIN_HOME), the
real `retrain trigger` command with its output sent to a file (not a terminal), and the built-in pipeline.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow
RETRAIN = [sys.executable, "-m", "retrain.cli.main"]


@dataclass(frozen=True)
class Server:
    url: str
    home: Path
    registry: Path


def _env(home: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    return {**env, "RETRAIN_HOME": str(home)}


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    """`retrain serve` on a free port; it records itself in RETRAIN_HOME/serve.json once listening."""
    home, registry = tmp_path / "home", tmp_path / "served-registry"
    with (tmp_path / "serve.log").open("wb") as log:
        proc = subprocess.Popen(
            [*RETRAIN, "serve", "--port", "0", "--registry", str(registry), "--home", str(home)],
            env=_env(home),
            stdout=subprocess.DEVNULL,
            stderr=log,
            start_new_session=True,
        )
    record = home / "serve.json"
    deadline = time.monotonic() + 30
    while not record.exists():
        assert proc.poll() is None, (tmp_path / "serve.log").read_text()
        assert time.monotonic() < deadline, "retrain serve did not record where it listens"
        time.sleep(0.1)
    try:
        yield Server(json.loads(record.read_text())["url"], home, registry)
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def trigger(home: Path, *args: str, cwd: Path | None = None) -> tuple[int, str]:
    """The real command, output to a file as in a CI log; (exit code, everything it printed)."""
    log = home.parent / "trigger.log"
    home.mkdir(parents=True, exist_ok=True)
    with log.open("wb") as out:
        code = subprocess.run(
            [*RETRAIN, "trigger", *args, "--yes", "--local", "--verify-timeout", "2"],
            env=_env(home),
            stdout=out,
            stderr=subprocess.STDOUT,
            cwd=cwd,
            timeout=300,
            check=False,
        ).returncode
    return code, log.read_text()


def test_failed_live_check_and_failed_rollback_never_claim_the_new_version_serves(
    server: Server, tmp_path: Path
) -> None:
    # The server serves another registry than the run deploys to: deploy promotes version 1, the server
    # cannot serve it, the live check fails, and the rollback has no previous version to go back to.
    other = tmp_path / "other-registry"
    code, out = trigger(server.home, "anomaly-detector", "24", "synthetic", "--registry", str(other))
    assert code == 1, out
    assert "serving: found `retrain serve`" in out and server.url in out
    assert "now serves" not in out
    assert "failed its post-deployment check, and the rollback FAILED" in out
    assert "failed: task post-deployment-check step verify" in out
    assert "whole log: retrain runs logs" in out and "--task post-deployment-check" in out
    summary_line = next(line for line in out.splitlines() if "rollback FAILED" in line)
    assert "the registry serves version 1" in summary_line  # read back, not assumed
    assert len(out.splitlines()) < 60, out  # one line per task state change in a log file


def test_a_dead_endpoint_given_explicitly_is_a_failed_check_not_a_silent_success(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out = trigger(
        home,
        "anomaly-detector",
        "24",
        "synthetic",
        "--serving-url",
        "http://127.0.0.1:9",
        "--home",
        str(home),
    )
    assert code == 1, out
    assert "post-deployment-check  Failed" in out
    assert "now serves" not in out
    assert "no answer from http://127.0.0.1:9" in out


def test_registry_only_is_said_and_no_live_check_is_claimed(tmp_path: Path) -> None:
    home = tmp_path / "home"
    code, out = trigger(home, "anomaly-detector", "24", "synthetic", "--home", str(home))
    assert code == 0, out
    assert "serving: registry only: no running `retrain serve`" in out
    assert "post-deployment-check  Skipped" in out
    skip = next(line for line in out.splitlines() if line.startswith("post-deployment-check  Skipped"))
    assert skip.endswith("evaluated to false: '' notin ['']"), skip  # only the expression that was false
    assert "was promoted in the registry only" in out and "no live check ran" in out
    assert "now serves" not in out


def test_a_discovered_server_is_deployed_to_and_read_back(server: Server) -> None:
    code, out = trigger(
        server.home, "anomaly-detector", "24", "synthetic", "--registry", str(server.registry)
    )
    assert code == 0, out
    assert "serving: found `retrain serve`" in out
    assert "new version 1 (gate: blessed) was deployed and verified, and now serves" in out
    assert f"{server.url}/v2/models/anomaly-detector answers with version 1" in out
    lines = out.splitlines()
    assert len(lines) < 40, out  # a whole run in a log file: one line per task state change, no repeats
    assert len(set(lines)) == len(lines), out


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["anomaly-detector", "0", "synthetic"], "training hours '0' is not a positive number"),
        (["anomaly-detector", "24", "synthetc"], 'did you mean "synthetic"?'),
        (
            ["my-model", "24", "synthetic", "--inference-service", "m", "--notebook-path", "nope.ipynb"],
            "does not exist",
        ),
        (
            ["my-model", "24", "synthetic", "--inference-service", "m", "--notebook-path", "/etc/passwd"],
            "is not JSON",
        ),
    ],
)
def test_preflight_fails_fast_and_records_nothing(tmp_path: Path, args: list[str], message: str) -> None:
    home = tmp_path / "home"
    started = time.monotonic()
    code, out = trigger(home, *args, "--home", str(home))
    assert code == 2, out
    assert message in out
    assert time.monotonic() - started < 5  # a process start included; the checks themselves are instant
    assert "root:" not in out  # a file given as a notebook is named, never shown
    assert not (home / "runs").exists() or not any((home / "runs").iterdir())
