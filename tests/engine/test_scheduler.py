"""The pure scheduler: what starts, what is skipped and why, and the Succeeded condition, from facts alone."""

from __future__ import annotations

from typing import Any

import pytest
import yaml

from retrain.engine.scheduler import (
    Facts,
    StopMode,
    TaskState,
    Timeout,
    aggregate_status,
    condition,
    decide,
)
from retrain.tekton.dag import build_dag
from retrain.tekton.model import PipelineSpec
from retrain.tekton.substitution import Replacements

SPEC = """
tasks:
  - name: a
    taskSpec: {steps: [{image: busybox, script: echo}]}
  - name: b
    runAfter: [a]
    taskSpec: {steps: [{image: busybox, script: echo}]}
  - name: c
    params: [{name: x, value: $(tasks.b.results.r)}]
    taskSpec: {params: [{name: x}], steps: [{image: busybox, script: echo}]}
  - name: gated
    when: [{input: $(params.go), operator: in, values: ["yes"]}]
    taskSpec: {steps: [{image: busybox, script: echo}]}
  - name: after-gated
    runAfter: [gated]
    taskSpec: {steps: [{image: busybox, script: echo}]}
finally:
  - name: f
    taskSpec: {steps: [{image: busybox, script: echo}]}
"""


def _facts(
    phases: dict[str, str] | None = None,
    *,
    go: str = "yes",
    stop: StopMode | None = None,
    timeouts: frozenset[Timeout] = frozenset(),
    results: dict[str, dict[str, Any]] | None = None,
    skip_reasons: dict[str, str] | None = None,
) -> Facts:
    spec = PipelineSpec.model_validate(yaml.safe_load(SPEC))
    states = {t.name: TaskState(t.name, False) for t in spec.tasks}
    states.update({t.name: TaskState(t.name, True) for t in spec.finally_})
    for name, phase in (phases or {}).items():
        states[name].phase = phase  # type: ignore[assignment]
        states[name].reason = {"succeeded": "Succeeded", "failed": "Failed"}.get(phase, "")
    for name, res in (results or {}).items():
        states[name].results = dict(res)
    for name, reason in (skip_reasons or {}).items():
        states[name].skip_reason = reason
    base = Replacements(strings={"params.go": go})
    return Facts(spec, build_dag(spec), states, base, stop, timeouts)


def test_roots_start_first() -> None:
    decision = decide(_facts())
    assert decision.start == ["a", "gated"]
    assert decision.skip == []


def test_a_when_skip_does_not_cascade_but_other_skips_do() -> None:
    decision = decide(_facts({"a": "succeeded", "b": "succeeded"}, go="no", results={"b": {"r": "1"}}))
    assert decision.start == ["c", "after-gated"]
    assert [(s.name, s.reason) for s in decision.skip] == [("gated", "When Expressions evaluated to false")]
    assert decision.skip[0].when[0].input == "no"


def test_failure_stops_scheduling_and_finally_starts_in_the_same_decision() -> None:
    decision = decide(_facts({"a": "failed", "gated": "succeeded", "after-gated": "succeeded"}))
    assert [(s.name, s.reason) for s in decision.skip] == [
        ("b", "PipelineRun was stopping"),
        ("c", "PipelineRun was stopping"),
    ]
    assert decision.start == ["f"]


@pytest.mark.parametrize(
    ("mode", "reason"),
    [
        ("StoppedRunFinally", "PipelineRun was gracefully stopped"),
        ("CancelledRunFinally", "PipelineRun was gracefully cancelled"),
    ],
)
def test_graceful_stops_skip_what_has_not_started(mode: StopMode, reason: str) -> None:
    decision = decide(_facts({"a": "succeeded", "gated": "succeeded", "after-gated": "succeeded"}, stop=mode))
    assert [(s.name, s.reason) for s in decision.skip] == [("b", reason), ("c", reason)]
    assert decision.start == ["f"]


def test_a_hard_cancel_starts_and_skips_nothing() -> None:
    decision = decide(_facts({"a": "succeeded"}, stop="Cancelled"))
    assert (decision.start, decision.skip) == ([], [])


def test_pipeline_timeout_skips_finally_too() -> None:
    facts = _facts(
        {"a": "timed_out", "gated": "succeeded", "after-gated": "succeeded"}, timeouts=frozenset({"pipeline"})
    )
    skips = [(s.name, s.reason) for s in decide(facts).skip]
    assert skips == [
        ("b", "PipelineRun timeout has been reached"),
        ("c", "PipelineRun timeout has been reached"),
        ("f", "PipelineRun timeout has been reached"),
    ]


def test_a_result_its_producer_did_not_write_fails_the_run() -> None:
    decision = decide(_facts({"a": "succeeded", "b": "succeeded", "gated": "running"}))
    assert decision.fail_run == (
        "InvalidTaskResultReference",
        "Invalid task result reference: Could not find result with name r for task b",
    )


def test_running_and_stopping_conditions() -> None:
    running = condition(_facts({"a": "succeeded", "gated": "running"}), "pr", pipeline_timeout="1h0m0s")
    assert (running.status, running.reason) == ("Unknown", "Running")
    assert running.message == "Tasks Completed: 1 (Failed: 0, Cancelled 0), Incomplete: 5, Skipped: 0"
    # A failure with finally still to run stays "Running" (Tekton), ...
    failed = _facts({"a": "failed", "gated": "running"})
    assert condition(failed, "pr", pipeline_timeout="1h0m0s").reason == "Running"
    # ... and is "PipelineRunStopping" once finally is done.
    failed.states["f"].phase = "succeeded"
    assert condition(failed, "pr", pipeline_timeout="1h0m0s").reason == "PipelineRunStopping"


def test_final_conditions() -> None:
    done = {"a": "succeeded", "b": "succeeded", "c": "succeeded", "gated": "succeeded"}
    ok = condition(
        _facts({**done, "after-gated": "succeeded", "f": "succeeded"}), "pr", pipeline_timeout="1h0m0s"
    )
    assert (ok.status, ok.reason, ok.message) == (
        "True",
        "Succeeded",
        "Tasks Completed: 6 (Failed: 0, Cancelled 0), Skipped: 0",
    )
    some_skipped = _facts({**done, "after-gated": "skipped", "f": "succeeded"})
    assert condition(some_skipped, "pr", pipeline_timeout="1h0m0s").reason == "Completed"
    ignored = _facts({**done, "after-gated": "failure_ignored", "f": "succeeded"})
    got = condition(ignored, "pr", pipeline_timeout="1h0m0s")
    assert (got.status, got.reason, got.message) == (
        "True",
        "Succeeded",
        "Tasks Completed: 6 (Failed: 1 (Ignored: 1), Cancelled 0), Skipped: 0",
    )
    stopped = _facts({**done, "after-gated": "skipped", "f": "succeeded"}, stop="StoppedRunFinally")
    got = condition(stopped, "pr", pipeline_timeout="1h0m0s")
    assert (got.status, got.reason, got.message) == ("False", "Cancelled", 'PipelineRun "pr" was cancelled')
    timed_out = _facts({**done, "after-gated": "timed_out", "f": "skipped"}, timeouts=frozenset({"pipeline"}))
    got = condition(timed_out, "pr", pipeline_timeout="5m0s")
    assert (got.status, got.reason, got.message) == (
        "False",
        "PipelineRunTimeout",
        'PipelineRun "pr" failed to finish within "5m0s"',
    )


def test_aggregate_status() -> None:
    def states(*phases: str) -> list[TaskState]:
        return [TaskState(f"t{i}", False, p) for i, p in enumerate(phases)]  # type: ignore[arg-type]

    assert aggregate_status(states("succeeded", "succeeded")) == "Succeeded"
    assert aggregate_status(states("succeeded", "skipped")) == "Completed"
    assert aggregate_status(states("failed", "skipped")) == "Failed"
    assert aggregate_status(states("failure_ignored", "succeeded")) == "Failed"
    assert aggregate_status(states("succeeded", "running")) == "None"
