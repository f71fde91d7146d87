"""Artifacts (TEP-0147) through real runs: `$(step.artifacts.path)` and `$(artifacts.path)`, a later step
reading `$(steps.S.outputs.NAME)`, the TaskRun status (step inputs/outputs, merged `artifacts`), a later
pipeline task reading `$(tasks.T.outputs.NAME)`, and the enable-artifacts gate."""

from __future__ import annotations

import json

import pytest

from fixtures.engine_helpers import RunYaml
from retrain.engine.feature_flags import ANNOTATION
from retrain.engine.reasons import RunRejected

ON = f"  annotations:\n    {ANNOTATION}: '{json.dumps({'enable-artifacts': 'true'})}'\n"
PROVENANCE = (
    '{"inputs":[{"name":"src","values":[{"uri":"git:repo","digest":{"sha256":"aa"}}]}],'
    '"outputs":[{"name":"image","buildOutput":true,"values":[{"uri":"oci:img","digest":{"sha256":"bb"}}]}]}'
)

TASKRUN = f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: arts
{ON}spec:
  taskSpec:
    steps:
      - name: produce
        image: bash
        script: printf '%s' '{PROVENANCE}' > $(step.artifacts.path)
      - name: task-level
        image: bash
        script: |
          OUT='{{"outputs":[{{"name":"image","values":[{{"uri":"oci:other"}}]}}]}}'
          printf '%s' "$OUT" > $(artifacts.path)
      - name: consume
        image: bash
        env: [{{name: FROM_ENV, value: "$(steps.produce.inputs.src)"}}]
        script: |
          echo 'outputs=$(steps.produce.outputs.image)'
          echo "env=$FROM_ENV"
"""


def test_step_artifacts_reach_later_steps_and_the_status(run: RunYaml) -> None:
    ran = run(TASKRUN)
    assert ran.result.succeeded, ran.result.message
    out = ran.output("arts")
    assert 'outputs=[{"uri":"oci:img","digest":{"sha256":"bb"}}]' in out
    assert 'env=[{"uri":"git:repo","digest":{"sha256":"aa"}}]' in out
    steps = {s["name"]: s for s in ran.status["steps"]}
    assert steps["produce"]["inputs"] == [
        {"name": "src", "values": [{"uri": "git:repo", "digest": {"sha256": "aa"}}]}
    ]
    assert steps["produce"]["outputs"][0]["buildOutput"] is True
    assert "outputs" not in steps["consume"]
    # the task file and every step's file merged: same name -> values joined, buildOutput kept
    assert ran.status["artifacts"] == {
        "inputs": [{"name": "src", "values": [{"uri": "git:repo", "digest": {"sha256": "aa"}}]}],
        "outputs": [
            {
                "name": "image",
                "values": [{"uri": "oci:other"}, {"uri": "oci:img", "digest": {"sha256": "bb"}}],
                "buildOutput": True,
            }
        ],
    }


PIPELINE = f"""
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: check
spec:
  params: [{{name: got}}]
  steps:
    - name: check
      image: python
      script: |
        #!/usr/bin/env python3
        import json
        assert json.loads('$(params.got)')[0]["uri"] == "oci:img"
        assert json.loads('$(tasks.build.outputs)')[0]["uri"] == "oci:img"
        print("consumer saw", json.loads('$(tasks.build.inputs.src)')[0]["uri"])
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: pipe-arts
{ON}spec:
  pipelineSpec:
    tasks:
      - name: build
        taskSpec:
          steps:
            - name: produce
              image: bash
              script: printf '%s' '{PROVENANCE}' > $(artifacts.path)
      - name: use
        runAfter: [build]
        params: [{{name: got, value: "$(tasks.build.outputs.image)"}}]
        taskRef: {{name: check}}
"""


def test_task_artifacts_pass_to_a_later_pipeline_task(run: RunYaml) -> None:
    ran = run(PIPELINE)
    assert ran.result.succeeded, ran.result.message
    assert "consumer saw git:repo" in ran.output("pipe-arts-use")


def test_artifacts_need_the_enable_artifacts_flag(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(TASKRUN.replace(ON, ""))
    assert "feature flag enable-artifacts should be set to true" in caught.value.message
    with pytest.raises(RunRejected) as caught:
        run(PIPELINE.replace(ON, ""))
    assert "enable-artifacts" in caught.value.message
