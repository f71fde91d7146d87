"""What one step may see and write, through real runs: isolated workspaces (a workspace a step lists under
its own `workspaces` is mounted only into the steps that list it, at their mountPath) and the other steps'
internal directories (/tekton/run/<i>, /tekton/steps/<i>) read-only. Both are enforced by the bwrap
sandbox; host mode says it cannot enforce them."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml
from retrain.engine.sandbox import HostSandbox, Mount, Sandbox, sandbox_limitations
from retrain.engine.step_mounts import container_mounts, isolated_workspaces
from retrain.tekton.model import TaskSpec, WorkspaceUsage

ISOLATED = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: isolated
spec:
  workspaces:
    - name: creds
      emptyDir: {}
    - name: shared
      emptyDir: {}
  pipelineSpec:
    workspaces:
      - name: creds
      - name: shared
    tasks:
      - name: t
        workspaces:
          - {name: creds, workspace: creds}
          - {name: shared, workspace: shared}
        taskSpec:
          workspaces:
            - name: creds
            - name: shared
          steps:
            - name: with-creds
              image: busybox
              workspaces:
                - name: creds
                  mountPath: /creds
              script: |
                echo "path=$(workspaces.creds.path)"
                echo secret > $(workspaces.creds.path)/key
                echo seen > $(workspaces.shared.path)/by-first
            - name: without
              image: busybox
              script: |
                if [ -e /workspace/creds ] || [ -e /creds ]; then echo "creds visible"; exit 1; fi
                cat $(workspaces.shared.path)/by-first
            - name: default-path
              image: busybox
              workspaces:
                - name: creds
              script: cat $(workspaces.creds.path)/key
"""


def test_isolated_workspaces_reach_only_the_steps_that_list_them(run: RunYaml, sandbox: Sandbox) -> None:
    if sandbox.mode != "bwrap":
        pytest.skip("host mode cannot hide a workspace from a step")
    ran = run(ISOLATED)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("isolated-t") == ["path=/creds", "seen", "secret"]


READ_ONLY_DIRS = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: dirs
spec:
  taskSpec:
    steps:
      - name: first
        image: busybox
        script: echo mine > /tekton/run/0/out
      - name: second
        image: busybox
        script: |
          set +e
          (echo x > /tekton/run/0/out) 2>/dev/null && echo "wrote run/0"
          (echo 9 > /tekton/steps/0/exitCode) 2>/dev/null && echo "wrote steps/0"
          (echo 9 > /tekton/steps/step-first/exitCode) 2>/dev/null && echo "wrote step-first"
          echo own > /tekton/run/1/out && echo "own run dir ok"
          echo own > /tekton/steps/step-second/note && echo "own step dir ok"
          cat /tekton/run/0/out
"""


def test_a_step_writes_only_its_own_internal_dirs(run: RunYaml, sandbox: Sandbox) -> None:
    if sandbox.mode != "bwrap":
        pytest.skip("host mode has no /tekton paths to protect")
    ran = run(READ_ONLY_DIRS)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("dirs") == ["own run dir ok", "own step dir ok", "mine"]
    exit_codes = [s["terminated"]["exitCode"] for s in ran.status["steps"]]
    assert exit_codes == [0, 0]


def test_host_mode_says_it_cannot_enforce_step_isolation() -> None:
    limits = " ".join(sandbox_limitations(HostSandbox()))
    assert "other steps' /tekton/run" in limits
    assert "isolated workspaces" in limits


def test_the_isolation_rule_shared_by_steps_and_sidecars() -> None:
    spec = TaskSpec.model_validate(
        {
            "workspaces": [{"name": "a"}, {"name": "b"}, {"name": "c"}],
            "steps": [{"image": "x", "script": "s", "workspaces": [{"name": "a", "mountPath": "/a"}]}],
            "sidecars": [{"image": "x", "workspaces": [{"name": "b"}]}],
        }
    )
    isolated = isolated_workspaces(spec)
    assert isolated == {"a", "b"}
    mounts = [Mount(Path(f"/h/{n}"), f"/workspace/{n}") for n in "abc"]
    targets = {n: f"/workspace/{n}" for n in "abc"}
    step_view = container_mounts(mounts, targets, isolated, [WorkspaceUsage(name="a", mount_path="/a")])
    assert [(str(m.host), m.target) for m in step_view] == [("/h/a", "/a"), ("/h/c", "/workspace/c")]
    other = container_mounts(mounts, targets, isolated, None)
    assert [m.target for m in other] == ["/workspace/c"]
    sidecar_view = container_mounts(mounts, targets, isolated, [WorkspaceUsage(name="b")])
    assert [m.target for m in sidecar_view] == ["/workspace/b", "/workspace/c"]
