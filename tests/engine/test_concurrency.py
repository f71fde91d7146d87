"""Concurrency policies (a retrain annotation) with several `retrain run` processes started at once.

Each run's only step waits for a `go` file in a shared host workspace, so the test decides when the admitted
runs may finish: the policy decisions happen while they are all still alive, whatever the machine's speed.
"""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from fixtures.engine_helpers import cli_popen, wait_for
from retrain.runs.records import RunRecord
from retrain.runs.store import RunStore

pytestmark = pytest.mark.slow

PIPELINE = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: train
  annotations:
    retrain.dev/concurrency-policy: {policy}
    retrain.dev/concurrency-key: $(params.model)
    retrain.dev/queue-limit: "2"
spec:
  params: [{{name: model}}]
  workspaces: [{{name: shared}}]
  tasks:
    - name: work
      workspaces: [{{name: shared}}]
      taskSpec:
        workspaces: [{{name: shared}}]
        steps:
          - name: wait-for-go
            image: busybox
            script: |
              w=$(workspaces.shared.path)
              s=$(date +%s.%N)
              for i in $(seq 1 400); do [ -e $w/go ] && break; sleep 0.05; done
              e=$(date +%s.%N)
              echo "$s $e" > $w/$(context.pipelineRun.name).span
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  generateName: train-run-
spec:
  pipelineRef: {{name: train}}
  params: [{{name: model, value: anomaly-detector}}]
"""


@dataclass
class Runs:
    home: Path
    shared: Path
    exit_codes: list[int]

    def records(self) -> list[RunRecord]:
        if not (self.home / "retrain.db").exists():
            return []
        with RunStore(self.home) as store:
            return store.list_runs()

    def states(self) -> list[tuple[str, str | None]]:
        # A run not yet admitted has no reason: sort None first rather than compare it with a string.
        return sorted(((r.state, r.reason) for r in self.records()), key=lambda p: (p[0], p[1] or ""))

    def go(self) -> None:
        (self.shared / "go").touch()

    def spans(self) -> dict[str, tuple[float, float]]:
        out = {}
        for f in self.shared.glob("*.span"):
            start, end = map(float, f.read_text().split())
            out[f.stem] = (start, end)
        return out


@contextmanager
def started_together(
    tmp_path: Path, policy: str, count: int
) -> Iterator[tuple[Runs, list[subprocess.Popen[str]]]]:
    home, shared = tmp_path / "home", tmp_path / "shared"
    shared.mkdir()
    path = tmp_path / "train.yaml"
    path.write_text(PIPELINE.format(policy=policy))
    runs = Runs(home, shared, [])
    with ExitStack() as stack:
        procs = [
            stack.enter_context(cli_popen("run", "-q", "-f", path, "-w", f"shared={shared}", "--home", home))
            for _ in range(count)
        ]
        yield runs, procs
        runs.go()  # whatever happened, let the admitted runs end
        for proc in procs:
            proc.communicate(timeout=60)
            runs.exit_codes.append(proc.returncode)


def _count(runs: Runs, state: str, reason: str | None = None) -> int:
    return sum(1 for s, r in runs.states() if s == state and (reason is None or r == reason))


def test_forbid_runs_exactly_one(tmp_path: Path) -> None:
    with started_together(tmp_path, "Forbid", 3) as (runs, _):
        wait_for(
            lambda: len(runs.records()) == 3 and _count(runs, "Failed", "Refused") == 2,
            what="two runs refused",
        )
        assert _count(runs, "Running") == 1
    assert runs.states() == [("Failed", "Refused"), ("Failed", "Refused"), ("Succeeded", "Succeeded")]
    assert sorted(runs.exit_codes) == [0, 1, 1]
    refused = next(r for r in runs.records() if r.reason == "Refused")
    cond = refused.status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "Refused")
    assert "Forbid" in cond["message"] and "anomaly-detector" in cond["message"]
    assert len(runs.spans()) == 1


def test_queue_runs_one_at_a_time_and_refuses_past_the_limit(tmp_path: Path) -> None:
    with started_together(tmp_path, "Queue", 4) as (runs, _):
        wait_for(
            lambda: (
                len(runs.records()) == 4
                and _count(runs, "Failed", "Refused") == 1
                and _count(runs, "Running") == 1
            ),
            what="one run refused, one running",
        )
        refused = next(r for r in runs.records() if r.reason == "Refused")
        message = refused.status["conditions"][0]["message"]
        assert "the queue is full (2 runs waiting, limit 2)" in message
    assert runs.states() == [("Failed", "Refused")] + [("Succeeded", "Succeeded")] * 3
    assert sorted(runs.exit_codes) == [0, 0, 0, 1]
    spans = sorted(runs.spans().values())
    assert len(spans) == 3
    for (_, end), (start, _) in itertools.pairwise(spans):
        assert start >= end, f"queued runs overlapped: {spans}"


def test_replace_cancels_the_earlier_runs(tmp_path: Path) -> None:
    with started_together(tmp_path, "Replace", 3) as (runs, _):
        wait_for(
            lambda: (
                len(runs.records()) == 3 and _count(runs, "Cancelled") == 2 and _count(runs, "Running") == 1
            ),
            what="two runs cancelled, the newest running",
        )
        newest = runs.records()[0]
        assert newest.state == "Running"
    final = {r.name: (r.state, r.reason) for r in runs.records()}
    assert final.pop(newest.name) == ("Succeeded", "Succeeded")
    assert sorted(final.values()) == [("Cancelled", "Cancelled")] * 2
    assert sorted(runs.exit_codes)[0] == 0
    assert all(code != 0 for code in sorted(runs.exit_codes)[1:])


def test_allow_runs_them_all_at_once(tmp_path: Path) -> None:
    with started_together(tmp_path, "Allow", 3) as (runs, _):
        wait_for(lambda: _count(runs, "Running") == 3, what="three runs running at once")
    assert runs.states() == [("Succeeded", "Succeeded")] * 3
    assert runs.exit_codes == [0, 0, 0]
    assert json.dumps(sorted(runs.spans())) == json.dumps(sorted(r.name for r in runs.records()))
