"""Fields the local engine does not honour are refused at creation (field path, file:line, feature, why),
while the same YAML stays valid for a cluster; fields whose meaning Tekton keeps without them are accepted."""

from __future__ import annotations

from pathlib import Path

import pytest

from retrain.engine.prepare import Catalog, prepare_pipelinerun, prepare_taskrun
from retrain.engine.reasons import RunRejected
from retrain.tekton.loader import load_text
from retrain.tekton.local_support import local_support_problems
from retrain.tekton.model import Pipeline, PipelineRun, Task, TaskRun
from retrain.tekton.validation import validate_object

SIDECAR_TASK = """\
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: with-sidecar
spec:
  steps:
    - name: main
      image: alpine
      script: cat /shared/ready
      volumeMounts:
        - {name: shared, mountPath: /shared, subPathExpr: $(POD)}
      env:
        - name: TOKEN
          valueFrom: {resourceFieldRef: {resource: limits.cpu}}
  sidecars:
    - name: server
      image: alpine
      script: touch /shared/ready
      livenessProbe: {exec: {command: ["true"]}}
  volumes:
    - {name: shared, hostPath: {path: /srv}}
"""


def _problems(text: str) -> list[str]:
    loaded = load_text(text, file="t.yaml")
    return [str(p) for doc in loaded.documents for p in local_support_problems(doc.obj, where=doc.source)]


def test_unhonoured_task_fields_are_problems_with_file_line_and_field_path() -> None:
    problems = _problems(SIDECAR_TASK)
    assert len(problems) == 4, problems
    joined = "\n".join(problems)
    assert "t.yaml:19" in joined and "spec.sidecars[0].livenessProbe" in joined and "restart" in joined
    assert "t.yaml:21" in joined and "spec.volumes[0].hostPath" in joined
    assert "spec.steps[0].volumeMounts[0].subPathExpr" in joined
    assert "spec.steps[0].env[0].valueFrom.resourceFieldRef" in joined and "'TOKEN'" in joined


def test_the_same_yaml_stays_valid_for_a_cluster() -> None:
    loaded = load_text(SIDECAR_TASK, file="t.yaml")
    assert [p for doc in loaded.documents for p in validate_object(doc.obj, where=doc.source)] == []


def test_fields_tekton_keeps_the_meaning_of_are_accepted() -> None:
    text = """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: tr}
spec:
  serviceAccountName: builder
  podTemplate: {securityContext: {runAsUser: 1001}}
  computeResources: {requests: {cpu: "1"}}
  taskSpec:
    steps:
      - name: s
        image: alpine
        script: "true"
        securityContext: {runAsUser: 2000}
        computeResources: {limits: {memory: 1Gi}}
"""
    assert _problems(text) == []


@pytest.mark.parametrize(
    ("snippet", "expected"),
    [
        ("ref: {resolver: bundles}", 'remote resolution ("bundles" resolver) of a StepAction'),
        ("volumeMounts: [{name: v, mountPath: /v, mountPropagation: Bidirectional}]", "mountPropagation"),
    ],
)
def test_unhonoured_step_fields(snippet: str, expected: str) -> None:
    text = f"""\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: tr}}
spec:
  taskSpec:
    steps:
      - name: s
        image: alpine
        script: "echo $(artifacts.path)"
        {snippet}
"""
    problems = _problems(text)
    assert any(expected in p for p in problems), problems
    assert not any("artifacts" in p for p in problems), problems  # honoured: tests/engine/test_artifacts.py


def test_unhonoured_pipeline_fields() -> None:
    text = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr}
spec:
  workspaces:
    - {name: cfg, csi: {driver: d}}
  pipelineSpec:
    workspaces: [{name: cfg}]
    tasks:
      - name: child
        pipelineRef: {name: other}
        retries: 1
      - name: gated
        when: [{cel: "'a' == 'a'"}]
        taskRef: {resolver: hub}
"""
    problems = "\n".join(_problems(text))
    assert "t.yaml:6: spec.workspaces[0].csi" in problems
    assert "pipelines in pipelines" not in problems  # they run (tests/engine/test_pipelines_in_pipelines.py)
    assert "spec.pipelineSpec.tasks[0].retries" in problems and "runs a Pipeline" in problems
    assert "CEL" not in problems  # the engine evaluates CEL when expressions (tests/engine/test_cel_when.py)
    assert 'remote resolution ("hub" resolver)' in problems


def test_prepare_refuses_a_task_referenced_by_name(tmp_path: Path) -> None:
    """What reaches the engine without the CLI's check (a Task by name, the service) is refused too."""
    task = load_text(SIDECAR_TASK).documents[0].obj
    assert isinstance(task, Task)
    catalog = Catalog()
    catalog.add(task)
    run = TaskRun.model_validate({"metadata": {"name": "tr"}, "spec": {"taskRef": {"name": "with-sidecar"}}})
    with pytest.raises(RunRejected) as caught:
        prepare_taskrun(run, "tr", catalog, tmp_path)
    assert caught.value.reason == "TaskRunValidationFailed"
    assert "livenessProbe" in caught.value.message and "3 more" in caught.value.message
    pipeline_run = PipelineRun.model_validate(
        {
            "metadata": {"name": "pr"},
            "spec": {"pipelineSpec": {"tasks": [{"name": "t", "taskRef": {"name": "with-sidecar"}}]}},
        }
    )
    with pytest.raises(RunRejected) as caught_pr:
        prepare_pipelinerun(pipeline_run, "pr", catalog, tmp_path)
    assert caught_pr.value.reason == "PipelineValidationFailed"
    expected = 'Task "with-sidecar" spec.sidecars[0].livenessProbe: PipelineValidationFailed'
    assert expected in str(caught_pr.value)


def test_a_run_managed_elsewhere_is_refused_and_a_pending_one_is_not(tmp_path: Path) -> None:
    text = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr}
spec:
  status: PipelineRunPending
  managedBy: kueue.x-k8s.io/multikueue
  pipelineRef: {name: p}
"""
    problems = "\n".join(_problems(text))
    assert "spec.status" not in problems  # honoured: tests/engine/test_pending_runs.py
    assert "t.yaml:6: spec.managedBy" in problems
    catalog = Catalog()
    catalog.add(Pipeline.model_validate({"metadata": {"name": "p"}, "spec": {"tasks": []}}))
    run = load_text(text).documents[0].obj
    assert isinstance(run, PipelineRun)
    with pytest.raises(RunRejected, match=r"spec\.managedBy"):
        prepare_pipelinerun(run, "pr", catalog, tmp_path)


def test_prepare_names_the_pipeline_a_refused_field_is_in(tmp_path: Path) -> None:
    catalog = Catalog()
    pipeline = {
        "tasks": [{"name": "t", "taskSpec": {"apiVersion": "example.dev/v1", "kind": "Example", "spec": {}}}]
    }
    catalog.add(Pipeline.model_validate({"metadata": {"name": "p"}, "spec": pipeline}))
    run = PipelineRun.model_validate({"metadata": {"name": "pr"}, "spec": {"pipelineRef": {"name": "p"}}})
    with pytest.raises(RunRejected) as caught:
        prepare_pipelinerun(run, "pr", catalog, tmp_path)
    assert 'Pipeline "p" spec.tasks[0].taskSpec' in str(caught.value)
    assert "custom tasks" in caught.value.message
