"""`retries` with ToBeRetried and retriesStatus, and retry backoff (a retrain annotation) on a fake clock."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, make_engine, submit_yaml
from retrain.engine.clock import FakeClock
from retrain.engine.sandbox import Sandbox
from retrain.errors import InvalidInput

FLAKY = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: flaky
  annotations: {annotations}
spec:
  workspaces:
    - name: state
      emptyDir: {{}}
  pipelineSpec:
    workspaces:
      - name: state
    tasks:
      - name: flaky
        retries: {retries}
        workspaces:
          - name: state
        taskSpec:
          workspaces:
            - name: state
          results:
            - name: attempts
          steps:
            - name: try
              image: busybox
              script: |
                f=$(workspaces.state.path)/counter
                n=$(( $(cat $f 2>/dev/null || echo 0) + 1 ))
                echo $n > $f
                echo "attempt $n retry-count=$(context.task.retry-count) of $(context.pipelineTask.retries)"
                printf $n > $(results.attempts.path)
                [ $n -ge {succeed_at} ]
      - name: after
        params:
          - name: n
            value: $(tasks.flaky.results.attempts)
        taskSpec:
          params: [{{name: n}}]
          steps: [{{image: busybox, script: "echo after $(params.n)"}}]
"""


def test_retries_until_success_with_history(run: RunYaml) -> None:
    ran = run(FLAKY.format(annotations="{}", retries=2, succeed_at=3))
    assert ran.result.succeeded, ran.result.message
    flaky = ran.taskruns()["flaky"]
    status = flaky.status
    assert status["conditions"][0]["reason"] == "Succeeded"
    history = status["retriesStatus"]
    assert len(history) == 2
    assert [h["conditions"][0]["reason"] for h in history] == ["Failed", "Failed"]
    assert [h["conditions"][0]["status"] for h in history] == ["False", "False"]
    assert [h["podName"] for h in history] == ["flaky-flaky-pod", "flaky-flaky-pod-retry1"]
    assert status["podName"] == "flaky-flaky-pod-retry2"
    assert ran.output("flaky-flaky") == [
        "attempt 1 retry-count=0 of 2",
        "attempt 2 retry-count=1 of 2",
        "attempt 3 retry-count=2 of 2",
    ]
    assert ran.log("flaky-flaky", "try", retry=1) == "attempt 2 retry-count=1 of 2\n"
    assert ran.output("flaky-after") == ["after 3"]
    seen = [u.status["conditions"][0]["reason"] for u in ran.store.taskrun_updates if u.name == "flaky-flaky"]
    assert seen.count("ToBeRetried") == 2
    assert seen[-1] == "Succeeded"
    tries = [
        (tr.retry, tr.state, tr.reason) for tr in ran.store.taskruns("flaky") if tr.name == "flaky-flaky"
    ]
    assert tries == [(0, "Failed", "Failed"), (1, "Failed", "Failed"), (2, "Succeeded", "Succeeded")]
    retrying = next(u for u in ran.store.taskrun_updates if u.reason == "ToBeRetried")
    assert retrying.state == "Running"
    assert retrying.status["conditions"][0]["status"] == "Unknown"


def test_retries_exhausted_fail_the_run(run: RunYaml) -> None:
    ran = run(FLAKY.format(annotations="{}", retries=1, succeed_at=5))
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    flaky = ran.taskruns()["flaky"]
    assert flaky.status["conditions"][0]["reason"] == "Failed"
    assert len(flaky.status["retriesStatus"]) == 1
    assert ran.skipped() == {"after": {"name": "after", "reason": "PipelineRun was stopping"}}


def test_retry_backoff_waits_on_the_clock_only(home: Path, sandbox: Sandbox) -> None:
    clock = FakeClock()
    engine, lines = make_engine(home, sandbox, clock=clock)
    annotations = '{"retrain.dev/retry-backoff": "initial=10s,factor=2,max=15s"}'
    sub = submit_yaml(engine, FLAKY.format(annotations=annotations, retries=2, succeed_at=3))
    result = asyncio.run(engine.execute(sub))
    assert result.succeeded, result.message
    assert clock.sleeps == [10, 15]
    assert [line for tr, _, line in lines if tr == "flaky-flaky"][-1] == "attempt 3 retry-count=2 of 2"
    store = engine.store
    waiting = [
        tr.status["conditions"][0]["message"]
        for tr in store.taskrun_updates  # type: ignore[attr-defined]
        if tr.reason == "ToBeRetried"
    ]
    assert waiting == [
        '"step-try" exited with code 1 (retry 1 of 2 in 10s)',
        '"step-try" exited with code 1 (retry 2 of 2 in 15s)',
    ]


def test_per_task_backoff_annotation_wins(home: Path, sandbox: Sandbox) -> None:
    clock = FakeClock()
    engine, _ = make_engine(home, sandbox, clock=clock)
    annotations = json.dumps(
        {"retrain.dev/retry-backoff": "initial=10s", "retrain.dev/retry-backoff.flaky": "initial=1s,factor=3"}
    )
    sub = submit_yaml(engine, FLAKY.format(annotations=annotations, retries=2, succeed_at=3))
    assert asyncio.run(engine.execute(sub)).succeeded
    assert clock.sleeps == [1, 3]


def test_malformed_backoff_is_refused_before_the_run_starts(home: Path, sandbox: Sandbox) -> None:
    engine, _ = make_engine(home, sandbox)
    annotations = '{"retrain.dev/retry-backoff": "initial=soon"}'
    with pytest.raises(InvalidInput, match="initial"):
        submit_yaml(engine, FLAKY.format(annotations=annotations, retries=2, succeed_at=3))
    assert engine.store.list_runs() == []


TASKRUN_RETRIES = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: tr-retries
spec:
  retries: 2
  taskSpec:
    steps:
      - image: busybox
        script: |
          echo "retry $(context.task.retry-count)"
          exit 1
"""


def test_taskrun_retries_exhausted(run: RunYaml) -> None:
    ran = run(TASKRUN_RETRIES)
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert len(ran.status["retriesStatus"]) == 2
    assert ran.output("tr-retries") == ["retry 0", "retry 1", "retry 2"]


def test_each_retry_gets_the_whole_timeout(run: RunYaml) -> None:
    """Tekton restarts the clock for each try (a retry resets startTime): a retry that hangs times out too."""
    began = time.monotonic()
    ran = run(
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: hangs
spec:
  retries: 1
  timeout: 1s
  taskSpec:
    steps:
      - name: hang
        image: busybox
        script: |
          echo "try $(context.task.retry-count)"
          sleep 28.5
"""
    )
    assert time.monotonic() - began < 10
    assert (ran.result.status, ran.result.reason) == ("False", "TaskRunTimeout")
    assert ran.result.message == 'TaskRun "hangs" failed to finish within "1s"'
    history = ran.status["retriesStatus"]
    assert [h["conditions"][0]["reason"] for h in history] == ["TaskRunTimeout"]
    assert ran.output("hangs") == ["try 0", "try 1"]
