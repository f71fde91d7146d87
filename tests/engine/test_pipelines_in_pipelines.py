"""Pipelines in pipelines (TEP-0056) through real runs: a pipeline task with pipelineSpec/pipelineRef runs a
child PipelineRun named as Tekton names it, with the task's params and workspaces; its results reach the
parent; its failure fails the parent's task; the alpha gate, missing Pipelines, cycles and retries are
refused at creation."""

from __future__ import annotations

import json

import pytest

from fixtures.engine_helpers import RunYaml
from retrain.engine.feature_flags import ANNOTATION
from retrain.engine.reasons import RunRejected

ALPHA = f"  annotations:\n    {ANNOTATION}: '{json.dumps({'enable-api-fields': 'alpha'})}'\n"

CHILD = """
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: child
spec:
  params: [{name: who}]
  workspaces: [{name: shared}]
  results:
    - {name: said, value: $(tasks.say.results.said)}
  tasks:
    - name: say
      params: [{name: who, value: $(params.who)}]
      workspaces: [{name: shared, workspace: shared}]
      taskSpec:
        params: [{name: who}]
        workspaces: [{name: shared}]
        results: [{name: said}]
        steps:
          - name: say
            image: alpine
            script: |
              printf 'hello %s' "$(params.who)" | tee $(results.said.path)
              cat $(workspaces.shared.path)/from-parent > $(workspaces.shared.path)/seen-by-child
"""


def _parent(child_task: str, *, flags: str = ALPHA, extra: str = "") -> str:
    return f"""{CHILD}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: parent
{flags}spec:
  params: [{{name: who, value: world}}]
  workspaces: [{{name: data, emptyDir: {{}}}}]
  pipelineSpec:
    params: [{{name: who}}]
    workspaces: [{{name: data}}]
    results:
      - {{name: child-said, value: $(tasks.nested.results.said)}}
    tasks:
      - name: prepare
        workspaces: [{{name: data, workspace: data}}]
        taskSpec:
          workspaces: [{{name: data}}]
          steps:
            - name: write
              image: alpine
              script: printf parent-file > $(workspaces.data.path)/from-parent
{child_task}
      - name: after
        params: [{{name: got, value: $(tasks.nested.results.said)}}]
        workspaces: [{{name: data, workspace: data}}]
        taskSpec:
          params: [{{name: got}}]
          workspaces: [{{name: data}}]
          steps:
            - name: check
              image: alpine
              script: |
                test "$(params.got)" = "hello world"
                test "$(cat $(workspaces.data.path)/seen-by-child)" = parent-file
{extra}"""


REF_TASK = """      - name: nested
        runAfter: [prepare]
        pipelineRef: {name: child}
        params: [{name: who, value: $(params.who)}]
        workspaces: [{name: shared, workspace: data}]"""


def test_a_referenced_child_pipeline_gets_params_and_workspaces_and_gives_results(run: RunYaml) -> None:
    ran = run(_parent(REF_TASK))
    assert ran.result.succeeded, ran.result.message
    assert ran.results() == {"child-said": "hello world"}
    children = {c["pipelineTaskName"]: c for c in ran.status["childReferences"]}
    assert children["nested"]["kind"] == "PipelineRun" and children["nested"]["name"] == "parent-nested"
    assert children["after"]["kind"] == "TaskRun"
    records = ran.taskruns()
    assert records["nested"].status["results"] == [{"name": "said", "value": "hello world"}]
    assert records["nested/say"].name == "parent-nested-say"  # the child's TaskRun, named by the child


INLINE_TASK = """      - name: nested
        runAfter: [prepare]
        params: [{name: who, value: $(params.who)}]
        workspaces: [{name: shared, workspace: data}]
        pipelineSpec:
          params: [{name: who}]
          workspaces: [{name: shared}]
          results:
            - {name: said, value: $(tasks.inner.results.said)}
          tasks:
            - name: inner
              workspaces: [{name: shared, workspace: shared}]
              taskSpec:
                workspaces: [{name: shared}]
                results: [{name: said}]
                steps:
                  - name: s
                    image: alpine
                    script: |
                      printf 'hello %s' "$(params.who)" > $(results.said.path)
                      cp $(workspaces.shared.path)/from-parent $(workspaces.shared.path)/seen-by-child"""


def test_an_inline_child_pipeline(run: RunYaml) -> None:
    ran = run(_parent(INLINE_TASK))
    assert ran.result.succeeded, ran.result.message
    assert ran.results() == {"child-said": "hello world"}


def test_a_failing_child_fails_the_parent_task(run: RunYaml) -> None:
    failing = REF_TASK.replace("{name: who, value: $(params.who)}", "{name: who, value: nobody}")
    text = _parent(failing).replace("cat $(workspaces.shared.path)/from-parent", "exit 3; cat")
    ran = run(text)
    assert not ran.result.succeeded
    nested = ran.taskruns()["nested"]
    assert nested.state == "Failed" and nested.status["conditions"][0]["reason"] == "Failed"
    assert "after" in ran.skipped() or "after" not in ran.taskruns()


def test_a_skipped_child_by_when(run: RunYaml) -> None:
    when = REF_TASK + "\n        when: [{input: $(params.who), operator: in, values: [nobody]}]"
    ran = run(_parent(when))
    assert ran.skipped()["nested"]["reason"] == "When Expressions evaluated to false"
    assert "nested" not in ran.taskruns()


def test_pipelines_in_pipelines_need_alpha(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(_parent(REF_TASK, flags=""))
    assert 'pipelineRef requires "enable-api-fields" feature gate to be "alpha" but it is "beta"' in str(
        caught.value
    )


def test_a_missing_child_pipeline_is_refused_at_creation(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(_parent(REF_TASK.replace("{name: child}", "{name: nowhere}")))
    assert (
        caught.value.reason == "CouldntGetPipeline" and 'Pipeline "nowhere" not found' in caught.value.message
    )


def test_a_cycle_of_pipeline_refs_is_refused(run: RunYaml) -> None:
    loop = """
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: loop}
spec:
  tasks:
    - {name: again, pipelineRef: {name: loop}}
"""
    with pytest.raises(RunRejected) as caught:
        run(_parent(REF_TASK.replace("{name: child}", "{name: loop}"), extra=loop))
    assert "detected cycle in pipeline-in-pipeline" in caught.value.message


def test_retries_on_a_child_pipeline_are_refused(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(_parent(REF_TASK + "\n        retries: 2"))
    assert "retries on a pipeline task that runs a Pipeline" in caught.value.message
