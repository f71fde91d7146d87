"""Runs submitted with `spec.status`, through the real CLI, as Tekton's reconcilers treat them:
PipelineRunPending is recorded and not started until `retrain runs start` clears it; Cancelled runs
nothing; CancelledRunFinally/StoppedRunFinally run only the finally tasks; TaskRunCancelled runs no step."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from fixtures.engine_helpers import cli

PIPELINE = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: greet
spec:
  params: [{name: who, default: world}]
  tasks:
    - name: hello
      params: [{name: who, value: $(params.who)}]
      taskSpec:
        params: [{name: who}]
        steps: [{name: s, image: busybox, script: echo hello $(params.who)}]
  finally:
    - name: fin
      taskSpec:
        steps: [{name: s, image: busybox, script: echo fin ran}]
"""


def _run(name: str, status: str) -> str:
    return f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  status: {status}
  params: [{{name: who, value: tekton}}]
  pipelineRef: {{name: greet}}
"""


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def _show(home: Path, run: str) -> list[dict[str, Any]]:
    done = cli("runs", "show", run, "-o", "json", "--home", home, timeout=120)
    assert done.returncode == 0, done.stderr
    docs: list[dict[str, Any]] = json.loads(done.stdout)
    return docs


def test_a_pending_run_waits_for_runs_start_and_then_runs_what_it_resolved(tmp_path: Path) -> None:
    home = tmp_path / "home"
    pipeline = _write(tmp_path, "pipeline.yaml", PIPELINE)
    run = _write(tmp_path, "run.yaml", _run("waits", "PipelineRunPending"))
    done = cli("run", "-f", pipeline, "-f", run, "--home", home, timeout=120)
    assert done.returncode == 0, done.stderr  # recorded pending: not a failure
    assert "hello" not in done.stdout
    assert "start it with: retrain runs start waits" in done.stderr
    docs = _show(home, "waits")
    assert [d["kind"] for d in docs] == ["PipelineRun"]  # no TaskRun was created
    status = docs[0]["status"]
    assert status["conditions"][0]["status"] == "Unknown"
    assert status["conditions"][0]["reason"] == "PipelineRunPending"
    assert status["conditions"][0]["message"] == 'PipelineRun "waits" is pending'
    assert "startTime" not in status  # Tekton does not start a pending run
    assert docs[0]["spec"]["status"] == "PipelineRunPending"
    listed = cli("runs", "list", "-o", "json", "--home", home, timeout=120)  # a later process: still Pending
    assert [(r["name"], r["state"]) for r in json.loads(listed.stdout)] == [("waits", "Pending")], (
        listed.stdout
    )

    pipeline.unlink()  # `runs start` uses what the run resolved when it was created, not the files
    started = cli("runs", "start", "waits", "-o", "json", "--home", home, timeout=180)
    assert started.returncode == 0, started.stderr
    outcome = json.loads(started.stdout)
    assert outcome["run"] == "waits" and outcome["succeeded"] is True, outcome
    logs = cli("runs", "logs", "waits", "--home", home, timeout=120)
    assert "hello tekton" in logs.stdout and "fin ran" in logs.stdout, logs.stdout
    docs = _show(home, "waits")
    assert "status" not in docs[0]["spec"]  # cleared, as the user's edit clears it on a cluster
    assert docs[0]["status"]["conditions"][0]["reason"] == "Succeeded"
    assert "startTime" in docs[0]["status"]

    again = cli("runs", "start", "waits", "--home", home, timeout=120)
    assert again.returncode == 4, again.stderr
    assert "run 'waits' is not pending: it is Succeeded" in again.stderr


def test_runs_start_refuses_a_missing_or_never_pending_run(tmp_path: Path) -> None:
    home = tmp_path / "home"
    plain = _write(tmp_path, "plain.yaml", PIPELINE + "---" + _run("plain", "x").replace("  status: x\n", ""))
    assert cli("run", "-q", "-f", plain, "--home", home, timeout=120).returncode == 0
    refused = cli("runs", "start", "plain", "--home", home, timeout=120)
    assert refused.returncode == 4, refused.stderr
    assert "run 'plain' is not pending" in refused.stderr and "runs rerun" in refused.stderr
    missing = cli("runs", "start", "nope", "--home", home, timeout=120)
    assert missing.returncode == 3, missing.stderr


def test_a_pending_run_can_be_cancelled_before_it_starts(tmp_path: Path) -> None:
    home = tmp_path / "home"
    file = _write(tmp_path, "run.yaml", PIPELINE + "---" + _run("later", "PipelineRunPending"))
    assert cli("run", "-q", "-f", file, "--home", home, timeout=120).returncode == 0
    assert cli("runs", "cancel", "later", "--home", home, timeout=120).returncode == 0
    status = _show(home, "later")[0]["status"]
    assert status["conditions"][0]["reason"] == "Cancelled"
    refused = cli("runs", "start", "later", "--home", home, timeout=120)
    assert refused.returncode == 4 and "is not pending: it is Cancelled" in refused.stderr


@pytest.mark.parametrize(
    ("mode", "finally_runs", "skip_reason"),
    [
        ("Cancelled", False, None),
        ("CancelledRunFinally", True, "PipelineRun was gracefully cancelled"),
        ("StoppedRunFinally", True, "PipelineRun was gracefully stopped"),
    ],
)
def test_a_run_created_cancelled_or_stopped(
    tmp_path: Path, mode: str, finally_runs: bool, skip_reason: str | None
) -> None:
    home = tmp_path / "home"
    name = mode.lower()
    file = _write(tmp_path, "run.yaml", PIPELINE + "---" + _run(name, mode))
    done = cli("run", "-f", file, "--home", home, timeout=180)
    assert done.returncode == 130, done.stderr  # as for any cancelled run
    assert "hello tekton" not in done.stdout
    assert ("fin ran" in done.stdout) is finally_runs, done.stdout
    docs = _show(home, name)
    condition = docs[0]["status"]["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "Cancelled")
    assert condition["message"] == f'PipelineRun "{name}" was cancelled'
    skipped = {s["name"]: s["reason"] for s in docs[0]["status"].get("skippedTasks", [])}
    assert skipped == ({"hello": skip_reason} if skip_reason else {})
    assert [d["kind"] for d in docs].count("TaskRun") == (1 if finally_runs else 0)


def test_a_taskrun_created_cancelled_runs_no_step(tmp_path: Path) -> None:
    home = tmp_path / "home"
    text = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: never}
spec:
  status: TaskRunCancelled
  statusMessage: not today
  taskSpec:
    steps: [{name: s, image: busybox, script: echo step ran}]
"""
    done = cli("run", "-f", _write(tmp_path, "tr.yaml", text), "--home", home, timeout=120)
    assert done.returncode == 130, done.stderr
    assert "step ran" not in done.stdout
    status = _show(home, "never")[0]["status"]
    condition = status["conditions"][0]
    assert (condition["status"], condition["reason"]) == ("False", "TaskRunCancelled")
    assert condition["message"] == 'TaskRun "never" was cancelled. not today'
    assert "steps" not in status and status["podName"] == ""
