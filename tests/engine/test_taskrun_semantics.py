"""TaskRun semantics: workspaces (optional, readOnly, mountPath, subPath, volume kinds, host dirs) and steps
(script preamble, command/args, env, workingDir, stepTemplate, exit codes, logs)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, make_engine, submit_yaml
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import Sandbox

WORKSPACES = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: ws
spec:
  workspaces:
    - name: data
      emptyDir: {}
    - name: claim
      persistentVolumeClaim:
        claimName: my-claim
      subPath: sub/dir
    - name: template
      volumeClaimTemplate:
        spec:
          accessModes: [ReadWriteOnce]
          resources: {requests: {storage: 1Gi}}
  taskSpec:
    workspaces:
      - name: data
        mountPath: /custom/data
      - name: claim
      - name: template
      - name: maybe
        optional: true
    steps:
      - name: show
        image: busybox
        script: |
          echo "data=$(workspaces.data.path) bound=$(workspaces.data.bound)"
          echo "maybe=[$(workspaces.maybe.path)] bound=$(workspaces.maybe.bound)"
          echo "claim=$(workspaces.claim.claim)"
          echo hello > $(workspaces.data.path)/file
          echo claimed > $(workspaces.claim.path)/file
          echo templated > $(workspaces.template.path)/file
"""


def test_workspace_kinds_are_directories_inside_the_run(run: RunYaml, home: Path, sandbox: Sandbox) -> None:
    ran = run(WORKSPACES)
    assert ran.result.succeeded, ran.result.message
    out = ran.output("ws")
    if sandbox.mode == "bwrap":
        assert out[0] == "data=/custom/data bound=true"
    else:
        assert out[0].endswith("bound=true")
    assert out[1:] == ["maybe=[] bound=false", "claim=my-claim"]
    volumes = home / "runs" / "ws" / "volumes"
    assert (volumes / "dir-data" / "file").read_text() == "hello\n"
    assert (volumes / "pvc-my-claim" / "sub" / "dir" / "file").read_text() == "claimed\n"
    assert (volumes / "pvc-template" / "file").read_text() == "templated\n"


READ_ONLY = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ro
spec:
  workspaces:
    - name: shared
      emptyDir: {}
  pipelineSpec:
    workspaces:
      - name: shared
    tasks:
      - name: write
        workspaces: [{name: w, workspace: shared}]
        taskSpec:
          workspaces: [{name: w}]
          steps: [{image: busybox, script: "echo original > $(workspaces.w.path)/f"}]
      - name: read
        runAfter: [write]
        workspaces: [{name: r, workspace: shared}]
        taskSpec:
          workspaces: [{name: r, readOnly: true}]
          steps:
            - name: try-write
              image: busybox
              script: |
                cat $(workspaces.r.path)/f
                echo overwritten > $(workspaces.r.path)/f
"""


def test_read_only_workspace_is_enforced(run: RunYaml, home: Path, sandbox: Sandbox) -> None:
    if sandbox.mode != "bwrap":
        pytest.skip("host mode cannot make a workspace read-only (it says so)")
    ran = run(READ_ONLY)
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    read = ran.taskruns()["read"]
    assert read.status["steps"][0]["terminated"]["exitCode"] != 0
    assert "original" in ran.log("ro-read", "try-write")
    assert "Read-only file system" in ran.log("ro-read", "try-write")
    assert (home / "runs" / "ro" / "volumes" / "dir-shared" / "f").read_text() == "original\n"


SUB_PATH = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: subpath
spec:
  workspaces:
    - name: shared
      volumeClaimTemplate:
        spec: {accessModes: [ReadWriteOnce], resources: {requests: {storage: 1Gi}}}
  pipelineSpec:
    workspaces:
      - name: shared
    tasks:
      - name: left
        workspaces: [{name: out, workspace: shared, subPath: left}]
        taskSpec:
          workspaces: [{name: out}]
          steps: [{image: busybox, script: "echo L > $(workspaces.out.path)/who"}]
      - name: right
        workspaces: [{name: out, workspace: shared, subPath: right}]
        taskSpec:
          workspaces: [{name: out}]
          steps: [{image: busybox, script: "echo R > $(workspaces.out.path)/who"}]
      - name: both
        runAfter: [left, right]
        workspaces: [{name: all, workspace: shared}]
        taskSpec:
          workspaces: [{name: all}]
          steps:
            - image: busybox
              script: cat $(workspaces.all.path)/left/who $(workspaces.all.path)/right/who
"""


def test_sub_paths_of_one_workspace(run: RunYaml) -> None:
    ran = run(SUB_PATH)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("subpath-both") == ["L", "R"]


HOST_BOUND = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: hosted
spec:
  pipelineSpec:
    workspaces:
      - name: registry
    tasks:
      - name: t
        workspaces: [{name: registry}]
        taskSpec:
          workspaces: [{name: registry}]
          steps:
            - image: busybox
              script: |
                cat $(workspaces.registry.path)/in
                echo out > $(workspaces.registry.path)/out
"""


def test_host_directory_binding(run: RunYaml, tmp_path: Path) -> None:
    host = tmp_path / "registry"
    host.mkdir()
    (host / "in").write_text("from the host\n")
    ran = run(HOST_BOUND, host_dirs={"registry": host})
    assert ran.result.succeeded, ran.result.message
    assert ran.output("hosted-t") == ["from the host"]
    assert (host / "out").read_text() == "out\n"


def test_missing_workspace_binding_is_rejected(home: Path, sandbox: Sandbox) -> None:
    engine, _ = make_engine(home, sandbox)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, HOST_BOUND)
    assert caught.value.reason == "InvalidWorkspaceBindings"
    assert "registry" in caught.value.detail
    assert engine.store.list_runs() == []
    assert not (home / "runs" / "hosted").exists()


STEPS = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: steps
spec:
  taskSpec:
    stepTemplate:
      env:
        - {name: FROM_TEMPLATE, value: template}
        - {name: OVERRIDDEN, value: template}
      workingDir: /workspace/template-dir
    steps:
      - name: preamble
        image: busybox
        script: |
          echo "first"
          false
          echo "never: set -e stops the script"
      - name: after
        image: busybox
        script: echo never
"""


def test_script_without_shebang_gets_set_e(run: RunYaml) -> None:
    ran = run(STEPS)
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert ran.output("steps") == ["first"]
    steps = ran.status["steps"]
    assert [s["terminated"]["exitCode"] for s in steps] == [1, 1]
    assert [s["terminated"]["reason"] for s in steps] == ["Error", "Skipped"]
    assert ran.result.message == '"step-preamble" exited with code 1'


ENV_AND_DIRS = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: env
spec:
  taskSpec:
    stepTemplate:
      env:
        - {name: FROM_TEMPLATE, value: template}
        - {name: OVERRIDDEN, value: template}
    steps:
      - name: env
        image: busybox
        env:
          - {name: OVERRIDDEN, value: step}
        script: |
          echo "$FROM_TEMPLATE $OVERRIDDEN"
      - name: workdir
        image: busybox
        workingDir: $(workspaces.w.path)/deep/dir
        command: [sh, -c]
        args: ['pwd | grep -q "/deep/dir$" && echo in-workdir']
      - name: python
        image: python:3.12
        script: |
          #!/usr/bin/env python3
          import sys
          print("python", sys.version_info[0])
      - name: home
        image: busybox
        script: |
          echo hi > $HOME/marker
          cat ~/marker
  workspaces:
    - name: w
      emptyDir: {}
"""


def test_env_working_dir_shebang_and_home(run: RunYaml) -> None:
    text = ENV_AND_DIRS.replace("  taskSpec:\n", "  taskSpec:\n    workspaces: [{name: w}]\n", 1)
    ran = run(text)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("env") == ["template step", "in-workdir", "python 3", "hi"]
    assert [s["name"] for s in ran.status["steps"]] == ["env", "workdir", "python", "home"]
    assert ran.log("env", "env") == "template step\n"
