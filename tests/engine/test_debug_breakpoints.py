"""TaskRun `debug` breakpoints through real runs: `retrain run` in the background, a step paused at its
breakpoint, resumed with `retrain runs debug` (the flags or the shell with Tekton's scripts)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

from fixtures.engine_helpers import cli, cli_popen, wait_for

ALPHA = ("--feature-flag", "enable-api-fields=alpha")

ON_FAILURE = """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: dbg
spec:
  timeout: {timeout}
  debug:
    breakpoints:
      onFailure: enabled
  taskSpec:
    steps:
      - name: fails
        image: alpine
        script: |
          echo failing; exit 3
      - name: after
        image: alpine
        script: echo after-ran
"""

BEFORE_STEP = """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: dbg
spec:
  timeout: 10m
  debug:
    breakpoints:
      onFailure: enabled
      beforeSteps: [second]
  taskSpec:
    steps:
      - name: first
        image: alpine
        script: echo first-ran
      - name: second
        image: alpine
        script: echo second-ran
"""


def _paused(home: Path) -> bool:
    return any(home.glob("runs/dbg/taskruns/dbg/attempt-0/debug/paused.json"))


def _run_paused(tmp_path: Path, text: str) -> tuple[Path, Path]:
    path, home = tmp_path / "run.yaml", tmp_path / "home"
    path.write_text(text)
    return path, home


def _finish(proc: subprocess.Popen[str]) -> dict[str, Any]:
    out, err = proc.communicate(timeout=90)
    docs = json.loads(out)
    doc: dict[str, Any] = docs[0] if isinstance(docs, list) else docs
    assert "succeeded" in doc, (out, err)
    return doc


def _status(home: Path) -> dict[str, Any]:
    shown = cli("runs", "show", "dbg", "-o", "json", "--home", home)
    assert shown.returncode == 0, shown.stderr
    status: dict[str, Any] = json.loads(shown.stdout)[0]["status"]
    return status


def _steps(status: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["name"]: s["terminated"] for s in status["steps"]}


def test_on_failure_pauses_until_continue_then_later_steps_run(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="10m"))
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the failed step to pause")
        [paused] = home.glob("runs/dbg/taskruns/dbg/attempt-0/debug/paused.json")
        assert paused.stat().st_mode & 0o777 == 0o600  # it holds the step's environment
        shown = cli("runs", "show", "dbg", "--home", home)
        assert "Status:    Running" in shown.stdout
        assert 'step "fails" is paused at its onFailure breakpoint' in shown.stdout
        assert "retrain runs debug dbg --task dbg" in shown.stdout
        resumed = cli("runs", "debug", "dbg", "--task", "dbg", "--continue", "--home", home)
        assert resumed.returncode == 0, resumed.stderr
        assert "ends with exit code 0" in resumed.stdout
        doc = _finish(proc)
    assert doc["succeeded"] is True
    steps = _steps(_status(home))
    assert steps["fails"]["exitCode"] == 0 and steps["fails"]["reason"] == "Completed"
    assert steps["after"]["exitCode"] == 0
    assert "after-ran" in cli("runs", "logs", "dbg", "--home", home).stdout


def test_fail_continue_fails_the_taskrun_as_tekton_does(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="10m"))
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the failed step to pause")
        resumed = cli("runs", "debug", "dbg", "--fail-continue", "--home", home)
        assert resumed.returncode == 0, resumed.stderr
        doc = _finish(proc)
    assert doc["succeeded"] is False
    status = _status(home)
    condition = status["conditions"][0]
    assert condition["reason"] == "Failed"
    assert condition["message"] == '"step-fails" exited with code 1'
    steps = _steps(status)
    assert steps["fails"] == {**steps["fails"], "exitCode": 1, "reason": "Error"}
    assert steps["after"]["reason"] == "Skipped"


def test_before_steps_wait_and_fail_continue_skips_the_step(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, BEFORE_STEP)
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the step to pause before it starts")
        logs = cli("runs", "logs", "dbg", "--home", home).stdout
        assert "first-ran" in logs and "second-ran" not in logs
        resumed = cli("runs", "debug", "dbg", "--fail-continue", "--home", home)
        assert "fails without running" in resumed.stdout, resumed.stderr
        doc = _finish(proc)
    assert doc["succeeded"] is False
    steps = _steps(_status(home))
    assert steps["second"]["exitCode"] == 1
    assert "second-ran" not in cli("runs", "logs", "dbg", "--home", home).stdout


def test_before_steps_continue_runs_the_step(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, BEFORE_STEP)
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the step to pause before it starts")
        resumed = cli("runs", "debug", "dbg", "--continue", "-o", "json", "--home", home)
        assert json.loads(resumed.stdout)["breakpoint"] == "beforeStep", resumed.stderr
        doc = _finish(proc)
    assert doc["succeeded"] is True
    assert "second-ran" in cli("runs", "logs", "dbg", "--home", home).stdout


def test_a_pause_ends_with_the_taskrun_timeout(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="4s"))
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        doc = _finish(proc)  # nobody resumes it
    assert doc["succeeded"] is False
    condition = _status(home)["conditions"][0]
    assert condition["reason"] == "TaskRunTimeout"
    assert condition["message"] == 'TaskRun "dbg" failed to finish within "4s"'
    assert not _paused(home)


def test_the_shell_runs_tekton_debug_scripts(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="10m"))
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the failed step to pause")
        shell = subprocess.run(
            [sys.executable, "-m", "retrain.cli.main", "runs", "debug", "dbg", "--home", str(home)],
            input="ls /tekton/debug/info\n/tekton/debug/scripts/debug-continue\n",
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert shell.returncode == 0, shell.stderr
        assert shell.stdout.split() == ["0", "Executing", "step", "0..."]
        doc = _finish(proc)
    assert doc["succeeded"] is True


def test_debug_needs_alpha_and_a_valid_on_failure(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="10m"))
    refused = cli("run", "-q", "-f", path, "--home", home)
    assert refused.returncode != 0
    gate = 'debug requires "enable-api-fields" feature gate to be "alpha"'
    assert f"spec.debug: TaskRunValidationFailed: {gate}" in refused.stderr
    path.write_text(ON_FAILURE.format(timeout="10m").replace("onFailure: enabled", "onFailure: yes-please"))
    invalid = cli("run", "-q", *ALPHA, "-f", path, "--home", home)
    assert invalid.returncode != 0
    assert "yes-please is not a valid onFailure breakpoint value" in invalid.stderr
    assert "spec.debug.breakpoints.onFailure" in invalid.stderr
    none = cli("runs", "debug", "nope", "--continue", "--home", home)
    assert none.returncode != 0


def test_a_paused_run_can_be_cancelled(tmp_path: Path) -> None:
    path, home = _run_paused(tmp_path, ON_FAILURE.format(timeout="10m"))
    with cli_popen("run", "-q", "-o", "json", *ALPHA, "-f", path, "--home", home) as proc:
        wait_for(lambda: _paused(home), timeout=60, what="the failed step to pause")
        assert cli("runs", "cancel", "dbg", "--home", home).returncode == 0
        doc = _finish(proc)
    assert doc["succeeded"] is False
    assert _status(home)["conditions"][0]["reason"] == "TaskRunCancelled"
    assert not _paused(home)
