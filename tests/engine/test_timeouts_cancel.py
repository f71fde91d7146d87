"""Timeouts (TaskRun, step, pipeline, tasks, finally) and cancellation (API, another process, Ctrl-C)."""

from __future__ import annotations

import asyncio
import secrets
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.engine_helpers import (
    RunYaml,
    assert_no_orphans,
    cli,
    cli_popen,
    make_engine,
    pgrep,
    submit_yaml,
    wait_for,
)
from retrain.engine.clock import FakeClock
from retrain.engine.engine import RunResult
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
    assert_no_orphans(f"sleep {marker}")


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
    assert_no_orphans(f"sleep {marker}")


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
    assert_no_orphans(f"sleep {marker}")
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
    assert (ran.result.status, ran.result.reason) == ("False", "PipelineRunTimeout")
    assert (
        ran.result.message == 'PipelineRun "tasks-timeout" failed due to tasks failed to finish within "1s"'
    )
    assert ran.skipped() == {"next": {"name": "next", "reason": "PipelineRun Tasks timeout has been reached"}}
    assert ran.output("tasks-timeout-cleanup") == ["cleanup slow=Failed"]
    assert ran.taskruns()["slow"].reason == "TaskRunTimeout"
    assert_no_orphans(f"sleep {marker}")


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
    assert_no_orphans(f"sleep {marker}")


BAD_DURATIONS = [
    (
        "taskrun",
        "spec:\n  timeout: 5 minutes\n  taskSpec:\n    steps: [{image: busybox, script: echo}]",
        None,
    ),
    ("taskrun", "spec:\n  timeout: 1d\n  taskSpec:\n    steps: [{image: busybox, script: echo}]", None),
    ("taskrun", "spec:\n  timeout: -1s\n  taskSpec:\n    steps: [{image: busybox, script: echo}]", None),
    (
        "step",
        "spec:\n  taskSpec:\n    steps:\n      - image: busybox\n        script: echo\n        timeout: 10 s",
        10,
    ),
]


@pytest.mark.parametrize(("what", "spec", "line"), BAD_DURATIONS, ids=["words", "days", "negative", "step"])
def test_bad_go_duration_exits_2_and_starts_nothing(
    tmp_path: Path, what: str, spec: str, line: int | None
) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(f"apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata:\n  name: bad-duration\n{spec}\n")
    home = tmp_path / "home"
    done = cli("run", "-q", "-f", path, "--home", home)
    assert done.returncode == 2, done.stderr
    assert "timeout" in done.stderr
    assert "duration" in done.stderr or "timeout" in done.stderr
    if line is not None:
        assert f"{path}:{line}" in done.stderr
    assert "bad-duration" not in cli("runs", "list", "-o", "json", "--home", home).stdout
    assert not (home / "runs" / "bad-duration").exists()


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
    if not (home / "retrain.db").exists():
        return False
    with RunStore(home) as store:
        running = [r.name for r in store.list_runs(state="Running")]
    return run_name in running and bool(pgrep(f"sleep {marker}"))


@pytest.mark.slow
def test_cancel_from_another_process(tmp_path: Path) -> None:
    home, marker = tmp_path / "home", _marker()
    path = tmp_path / "long.yaml"
    path.write_text(LONG_PIPELINE.format(name="cancel-me", marker=marker))
    with cli_popen("run", "-f", path, "--home", home) as proc:
        wait_for(lambda: _running_step(home, "cancel-me", marker), what="the run to be Running")
        done = cli("runs", "cancel", "cancel-me", "--home", home)
        assert done.returncode == 0, done.stderr
        _, err = proc.communicate(timeout=30)
    assert proc.returncode != 0
    with RunStore(home) as store:
        record = store.get_run("cancel-me")
        taskruns = {tr.pipeline_task: tr for tr in store.taskruns("cancel-me")}
    cond = record.status["conditions"][0]
    assert (record.state, cond["status"], cond["reason"]) == ("Cancelled", "False", "Cancelled")
    assert cond["message"] == 'PipelineRun "cancel-me" was cancelled'
    assert taskruns["long"].reason == "TaskRunCancelled"
    assert "cleanup" not in taskruns  # a hard cancel does not run finally
    assert_no_orphans(f"sleep {marker}")
    assert "Succeeded=False reason=Cancelled" in err


GRACEFUL = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  pipelineSpec:
    workspaces: [{{name: w}}]
    tasks:
      - name: running
        workspaces: [{{name: w}}]
        taskSpec:
          workspaces: [{{name: w}}]
          steps:
            - image: busybox
              script: |
                sleep {marker} &
                touch $(workspaces.w.path)/started
                for i in $(seq 1 400); do [ -e $(workspaces.w.path)/go ] && break; sleep 0.05; done
                echo finished
      - name: after
        runAfter: [running]
        taskSpec:
          steps: [{{image: busybox, script: "echo never"}}]
    finally:
      - name: cleanup
        taskSpec:
          steps: [{{image: busybox, script: "echo cleanup"}}]
"""


def _run_with_stop(
    home: Path, sandbox: Sandbox, tmp_path: Path, name: str, mode: str
) -> tuple[RunResult, RunStore, str]:
    """Run GRACEFUL in this process; once its first step runs, ask for `mode`; once the engine has seen
    the request, let the step finish (if it still runs)."""
    marker, shared = _marker(), tmp_path / "shared"
    shared.mkdir()
    engine, _ = make_engine(home, sandbox)
    sub = submit_yaml(engine, GRACEFUL.format(name=name, marker=marker), host_dirs={"w": shared})

    async def until(predicate: Callable[[], bool], what: str) -> None:
        for _ in range(400):
            if predicate():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")

    async def go() -> RunResult:
        worker = asyncio.ensure_future(engine.execute(sub))
        await until((shared / "started").exists, "the first step to start")
        engine.store.request_cancel(sub.name, mode)  # type: ignore[arg-type]
        seen = ("StoppedRunningFinally", "CancelledRunningFinally")
        await until(
            lambda: worker.done() or engine.store.get_run(sub.name).reason in seen, "the engine to stop"
        )
        (shared / "go").touch()
        return await worker

    return asyncio.run(go()), engine.store, marker


def test_cancelled_run_finally_cancels_running_tasks_and_runs_finally(
    home: Path, sandbox: Sandbox, tmp_path: Path
) -> None:
    result, store, marker = _run_with_stop(home, sandbox, tmp_path, "graceful", "CancelledRunFinally")
    assert (result.status, result.reason) == ("False", "Cancelled")
    assert result.message == 'PipelineRun "graceful" was cancelled'
    taskruns = {tr.pipeline_task: tr for tr in store.taskruns("graceful")}
    assert taskruns["running"].reason == "TaskRunCancelled"
    assert taskruns["cleanup"].state == "Succeeded"
    assert [s["name"] for s in result.status_doc["skippedTasks"]] == ["after"]
    assert_no_orphans(f"sleep {marker}")


def test_stopped_run_finally_lets_running_tasks_finish(home: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    result, store, _ = _run_with_stop(home, sandbox, tmp_path, "stopped", "StoppedRunFinally")
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
    with cli_popen("run", "-f", path, "--home", home) as proc:
        wait_for(lambda: _running_step(home, "interrupted", marker), what="the run to be Running")
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode not in (0, None)
    with RunStore(home) as store:
        record = store.get_run("interrupted")
    assert record.state == "Cancelled"
    assert record.status["conditions"][0]["reason"] == "Cancelled"
    assert_no_orphans(f"sleep {marker}")
    assert "cancelling" in err


WAITS_FOR_GO = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
spec:
  {timeouts}
  pipelineSpec:
    workspaces: [{{name: w}}]
    tasks:
      - name: waits
        workspaces: [{{name: w}}]
        taskSpec:
          workspaces: [{{name: w}}]
          steps:
            - image: busybox
              script: |
                touch $(workspaces.w.path)/started
                for i in $(seq 1 400); do [ -e $(workspaces.w.path)/go ] && break; sleep 0.05; done
"""


def _advance_while_running(
    home: Path, sandbox: Sandbox, tmp_path: Path, text: str, seconds: float
) -> RunResult:
    """Run `text` on a fake clock and move the clock `seconds` ahead while its step runs."""
    shared = tmp_path / "shared"
    shared.mkdir()
    clock = FakeClock()
    engine, _ = make_engine(home, sandbox, clock=clock)
    sub = submit_yaml(engine, text, host_dirs={"w": shared})

    async def go() -> RunResult:
        worker = asyncio.ensure_future(engine.execute(sub))
        for _ in range(400):
            if (shared / "started").exists():
                break
            await asyncio.sleep(0.05)
        clock.advance(seconds)
        await asyncio.sleep(0.3)  # several turns of the engine's loop on the advanced clock
        (shared / "go").touch()
        return await worker

    return asyncio.run(go())


def test_the_default_pipeline_timeout_is_60_minutes(home: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    text = WAITS_FOR_GO.format(name="default-timeout", timeouts="")
    result = _advance_while_running(home, sandbox, tmp_path, text, 3601)
    assert (result.status, result.reason) == ("False", "PipelineRunTimeout")
    assert result.message == 'PipelineRun "default-timeout" failed to finish within "1h0m0s"'


def test_a_zero_pipeline_timeout_means_none(home: Path, sandbox: Sandbox, tmp_path: Path) -> None:
    text = WAITS_FOR_GO.format(name="no-timeout", timeouts='timeouts: {pipeline: "0"}')
    result = _advance_while_running(home, sandbox, tmp_path, text, 10 * 3600)
    assert result.succeeded, result.message
