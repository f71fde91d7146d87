"""Timeouts (TaskRun, step, pipeline, tasks, finally) and cancellation (API, another process, Ctrl-C)."""

from __future__ import annotations

import asyncio
import secrets
import signal
from pathlib import Path

import pytest
from engine_helpers import RunYaml, cli, cli_popen, make_engine, pgrep, submit_yaml, wait_for

from retrain.engine.engine import RunResult
from retrain.engine.pipelinerun import RunControl
from retrain.engine.sandbox import Sandbox
from retrain.runs.store import RunStore


def _marker() -> str:
    """A unique `sleep` argument, so pgrep finds exactly this test's processes."""
    return f"29.{secrets.randbelow(10**6):06d}"


def test_taskrun_timeout_kills_the_process_tree(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: slow-tr
spec:
  timeout: 1s
  taskSpec:
    steps:
      - name: sleepy
        image: busybox
        script: |
          sleep {marker} &
          sleep {marker}
      - name: never
        image: busybox
        script: echo never
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "TaskRunTimeout")
    assert ran.result.message == 'TaskRun "slow-tr" failed to finish within "1s"'
    assert ran.record.state == "Failed"
    steps = ran.status["steps"]
    assert steps[0]["terminated"]["reason"] == "TimeoutExceeded"
    assert steps[1]["terminated"]["reason"] == "Skipped"
    assert ran.output("slow-tr") == []
    assert pgrep(f"sleep {marker}") == [], "the step's processes outlived its timeout"


def test_step_timeout_fails_the_step(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: step-timeout
spec:
  taskSpec:
    steps:
      - name: quick
        image: busybox
        timeout: 1s
        command: [sleep, "{marker}"]
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert ran.result.message == '"step-quick" exited because the step timeout of 1s was exceeded'
    assert ran.status["steps"][0]["terminationReason"] == "TimeoutExceeded"
    assert pgrep(f"sleep {marker}") == []


def test_pipeline_timeout_stops_the_run_and_skips_the_rest(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pr-timeout
spec:
  timeouts:
    pipeline: 1s
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec:
          steps: [{{name: s, image: busybox, command: [sleep, "{marker}"]}}]
      - name: next
        runAfter: [slow]
        taskSpec:
          steps: [{{image: busybox, script: "echo never"}}]
    finally:
      - name: cleanup
        taskSpec:
          steps: [{{image: busybox, script: "echo never either"}}]
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "PipelineRunTimeout")
    assert ran.result.message == 'PipelineRun "pr-timeout" failed to finish within "1s"'
    assert ran.skipped() == {
        "next": {"name": "next", "reason": "PipelineRun timeout has been reached"},
        "cleanup": {"name": "cleanup", "reason": "PipelineRun timeout has been reached"},
    }
    slow = ran.taskruns()["slow"]
    assert slow.state == "Failed"
    assert slow.reason == "TaskRunTimeout"
    assert pgrep(f"sleep {marker}") == []
    assert ran.record.state == "Failed"
    assert "completionTime" in ran.record.status


def test_tasks_timeout_still_runs_finally(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: tasks-timeout
spec:
  timeouts:
    pipeline: 1m
    tasks: 1s
  pipelineSpec:
    tasks:
      - name: slow
        taskSpec:
          steps: [{{name: s, image: busybox, command: [sleep, "{marker}"]}}]
      - name: next
        runAfter: [slow]
        taskSpec:
          steps: [{{image: busybox, script: "echo never"}}]
    finally:
      - name: cleanup
        params:
          - {{name: s, value: $(tasks.slow.status)}}
        taskSpec:
          params: [{{name: s}}]
          steps: [{{image: busybox, script: "echo cleanup slow=$(params.s)"}}]
"""
    )
    assert ran.result.status == "False"
    assert ran.result.reason == "Failed"
    assert ran.skipped() == {"next": {"name": "next", "reason": "PipelineRun Tasks timeout has been reached"}}
    assert ran.output("tasks-timeout-cleanup") == ["cleanup slow=Failed"]
    assert ran.taskruns()["slow"].reason == "TaskRunTimeout"
    assert pgrep(f"sleep {marker}") == []


def test_finally_timeout(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: fin-timeout
spec:
  timeouts:
    pipeline: 1m
    finally: 1s
  pipelineSpec:
    tasks:
      - name: quick
        taskSpec:
          steps: [{{image: busybox, script: "echo quick"}}]
    finally:
      - name: slow-cleanup
        taskSpec:
          steps: [{{name: s, image: busybox, command: [sleep, "{marker}"]}}]
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert ran.taskruns()["slow-cleanup"].reason == "TaskRunTimeout"
    assert ran.taskruns()["quick"].state == "Succeeded"
    assert pgrep(f"sleep {marker}") == []


@pytest.mark.parametrize(
    ("flag", "value"),
    [("timeout", "5 minutes"), ("timeout", "1d"), ("timeout", "-1s")],
)
def test_bad_go_duration_exits_2(tmp_path: Path, flag: str, value: str) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(
        f"""apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: bad-duration
spec:
  {flag}: "{value}"
  taskSpec:
    steps: [{{image: busybox, script: "echo hi"}}]
"""
    )
    home = tmp_path / "home"
    done = cli("run", "-q", "-f", path, "--home", home)
    assert done.returncode == 2, done.stderr
    assert f"{path}:" in done.stderr
    assert "spec.timeout" in done.stderr
    assert "bad-duration" not in cli("runs", "list", "--home", home).stdout


# --- cancellation ---------------------------------------------------------------------------------------

LONG_PIPELINE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  pipelineSpec:
    tasks:
      - name: long
        taskSpec:
          steps: [{{name: s, image: busybox, command: [sleep, "{marker}"]}}]
      - name: after
        runAfter: [long]
        taskSpec:
          steps: [{{image: busybox, script: "echo never"}}]
    finally:
      - name: cleanup
        taskSpec:
          steps: [{{image: busybox, script: "echo cleanup ran"}}]
"""


def _running_step(home: Path, run_name: str, marker: str) -> bool:
    with RunStore(home) as store:
        return store.get_run(run_name).state == "Running" and bool(pgrep(f"sleep {marker}"))


@pytest.mark.slow
def test_cancel_from_another_process(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", _marker()
    path = tmp_path / "long.yaml"
    path.write_text(LONG_PIPELINE.format(name="cancel-me", marker=marker))
    proc = cli_popen("run", "-f", path, "--home", home)
    try:
        wait_for(lambda: _running_step(home, "cancel-me", marker), what="the run to be Running")
        done = cli("runs", "cancel", "cancel-me", "--home", home)
        assert done.returncode == 0, done.stderr
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode != 0
    with RunStore(home) as store:
        record = store.get_run("cancel-me")
        taskruns = {tr.pipeline_task: tr for tr in store.taskruns("cancel-me")}
    cond = record.status["conditions"][0]
    assert (record.state, cond["status"], cond["reason"]) == ("Cancelled", "False", "Cancelled")
    assert cond["message"] == 'PipelineRun "cancel-me" was cancelled'
    assert taskruns["long"].reason == "TaskRunCancelled"
    assert "cleanup" not in taskruns  # a hard cancel does not run finally
    assert pgrep(f"sleep {marker}") == []
    assert "Succeeded=False reason=Cancelled" in err


def _run_with_stop(
    home: Path, sandbox: Sandbox, text: str, mode: str, *, when_running: str
) -> tuple[RunResult, RunStore]:
    """Run `text` in this process and ask for `mode` once `when_running`'s step process is up."""
    engine, _ = make_engine(home, sandbox)
    sub = submit_yaml(engine, text)
    control = RunControl()

    async def go() -> RunResult:
        worker = asyncio.ensure_future(engine.execute(sub, control))
        while not pgrep(when_running):
            await asyncio.sleep(0.05)
        engine.store.request_cancel(sub.name, mode)  # type: ignore[arg-type]
        return await worker

    return asyncio.run(go()), engine.store


def test_cancelled_run_finally_cancels_running_tasks_and_runs_finally(home: Path, sandbox: Sandbox) -> None:
    marker = _marker()
    result, store = _run_with_stop(
        home,
        sandbox,
        LONG_PIPELINE.format(name="graceful", marker=marker),
        "CancelledRunFinally",
        when_running=f"sleep {marker}",
    )
    assert (result.status, result.reason) == ("False", "Cancelled")
    assert result.message == 'PipelineRun "graceful" was cancelled'
    taskruns = {tr.pipeline_task: tr for tr in store.taskruns("graceful")}
    assert taskruns["long"].reason == "TaskRunCancelled"
    assert taskruns["cleanup"].state == "Succeeded"
    assert "after" in {s["name"] for s in result.status_doc["skippedTasks"]}
    assert pgrep(f"sleep {marker}") == []


def test_stopped_run_finally_lets_running_tasks_finish(home: Path, sandbox: Sandbox) -> None:
    marker = _marker()
    text = f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: stopped
spec:
  pipelineSpec:
    tasks:
      - name: running
        taskSpec:
          steps: [{{image: busybox, script: "sleep 0.{marker[3:]}; echo finished"}}]
      - name: after
        runAfter: [running]
        taskSpec:
          steps: [{{image: busybox, script: "echo never"}}]
    finally:
      - name: cleanup
        taskSpec:
          steps: [{{image: busybox, script: "echo cleanup"}}]
"""
    result, store = _run_with_stop(home, sandbox, text, "StoppedRunFinally", when_running=f"sleep 0.{marker[3:]}")
    assert (result.status, result.reason) == ("False", "Cancelled")
    assert result.message == 'PipelineRun "stopped" was cancelled'
    taskruns = {tr.pipeline_task: tr for tr in store.taskruns("stopped")}
    assert taskruns["running"].state == "Succeeded"
    assert taskruns["cleanup"].state == "Succeeded"
    assert result.status_doc["skippedTasks"] == [
        {"name": "after", "reason": "PipelineRun was gracefully stopped"}
    ]


@pytest.mark.slow
def test_ctrl_c_cancels_the_run(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", _marker()
    path = tmp_path / "long.yaml"
    path.write_text(LONG_PIPELINE.format(name="interrupted", marker=marker))
    proc = cli_popen("run", "-f", path, "--home", home)
    try:
        wait_for(lambda: _running_step(home, "interrupted", marker), what="the run to be Running")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    finally:
        proc.kill()
    assert proc.returncode not in (0, None)
    with RunStore(home) as store:
        record = store.get_run("interrupted")
    assert record.state == "Cancelled"
    assert record.status["conditions"][0]["reason"] == "Cancelled"
    assert pgrep(f"sleep {marker}") == []
    assert "cancelling" in err
