"""CEL in a step's `when` (Tekton's entrypoint `allowExec`): evaluated when the step starts, after the
step-result substitutions; false skips the step (exit 0, Skipped), a value that cannot be evaluated fails
the step (exit 1, the error in its log); gated by `enable-cel-in-whenexpression` and checked at creation."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, cli
from retrain.engine.feature_flags import ANNOTATION
from retrain.engine.reasons import RunRejected

FLAGS = json.dumps({"enable-cel-in-whenexpression": "true"})


def _taskrun(gate: str, *, flags: str | None = FLAGS, name: str = "step-cel") -> str:
    annotations = f"\n  annotations:\n    {ANNOTATION}: '{flags}'" if flags else ""
    return f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: {name}{annotations}
spec:
  params: [{{name: flavour, value: vanilla}}]
  taskSpec:
    params: [{{name: flavour}}]
    steps:
      - name: produce
        image: busybox
        results: [{{name: answer}}]
        script: printf yes > $(step.results.answer.path)
      - name: gate
        image: busybox
        when: [{{cel: "{gate}"}}]
        script: echo gate ran
      - name: after
        image: busybox
        script: echo after ran
"""


def test_a_true_cel_runs_the_step_after_step_result_substitution(run: RunYaml) -> None:
    ran = run(_taskrun("'$(steps.produce.results.answer)' == 'yes' && '$(params.flavour)'.startsWith('van')"))
    assert ran.result.succeeded, ran.result.message
    assert ran.output("step-cel") == ["gate ran", "after ran"]


def test_a_false_cel_skips_only_that_step(run: RunYaml) -> None:
    ran = run(_taskrun("'$(steps.produce.results.answer)' in ['no', 'maybe']"))
    assert ran.result.succeeded, ran.result.message
    assert ran.output("step-cel") == ["after ran"]
    steps = {s["name"]: s for s in ran.status["steps"]}
    assert steps["gate"]["terminated"]["exitCode"] == 0
    assert steps["gate"]["terminationReason"] == "Skipped"
    assert steps["after"]["terminationReason"] == "Completed"


def test_a_cel_that_cannot_be_evaluated_fails_the_step_as_the_entrypoint_does(run: RunYaml) -> None:
    ran = run(_taskrun("'$(steps.produce.results.answer)' < 3"))
    assert not ran.result.succeeded
    assert ran.condition["reason"] == "Failed"
    steps = {s["name"]: s for s in ran.status["steps"]}
    assert steps["gate"]["terminated"]["exitCode"] == 1
    assert steps["after"]["terminationReason"] == "Skipped"
    log = ran.log("step-cel", "gate")
    assert "Error executing command: 'yes' < 3" in log, log
    assert "gate ran" not in log


def test_step_cel_needs_its_feature_flag(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(_taskrun("'a' == 'a'", flags=None))
    assert "feature flag enable-cel-in-whenexpression should be set to true" in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.field == "spec.taskSpec.steps[1].when[0].cel"


def test_step_cel_in_a_referenced_task_needs_the_flag_in_a_pipeline(run: RunYaml) -> None:
    text = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: gated}
spec:
  steps:
    - {name: s, image: busybox, script: "true", when: [{cel: "1 == 1"}]}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr-step-cel}
spec:
  pipelineSpec:
    tasks:
      - {name: t, taskRef: {name: gated}}
"""
    with pytest.raises(RunRejected) as caught:
        run(text)
    assert "enable-cel-in-whenexpression" in caught.value.message
    assert caught.value.location is not None
    assert caught.value.location.field == 'Task "gated" spec.steps[0].when[0].cel'


def test_bad_step_cel_syntax_is_refused_at_creation_with_file_and_line(tmp_path: Path) -> None:
    file = tmp_path / "bad.yaml"
    file.write_text(_taskrun("'a' ==="))
    done = cli("run", "-q", "-f", file, "--home", tmp_path / "home", timeout=120)
    assert done.returncode == 2, done.stderr
    assert f"{file}:19:" in done.stderr, done.stderr
    assert "steps[1].when[0].cel" in done.stderr and "invalid cel expression: 'a' ===" in done.stderr
