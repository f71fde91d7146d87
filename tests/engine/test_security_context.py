"""securityContext through real runs: under bwrap each step, sidecar and probe runs with the uid/gid
Kubernetes would give it (container > stepTemplate > podTemplate), runAsNonRoot is checked as the kubelet
checks it, files stay usable across uids, readOnlyRootFilesystem and capabilities.drop hold; privileged and
extra capabilities are refused at creation; host mode warns, naming the fields."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, run_yaml
from retrain.engine.sandbox import HostSandbox, Sandbox, sandbox_limitations
from retrain.engine.security_context import merge_contexts
from retrain.tekton.loader import load_text
from retrain.tekton.local_support import local_support_problems


def _bwrap_only(sandbox: Sandbox) -> None:
    if sandbox.mode != "bwrap":
        pytest.skip("host mode cannot switch users (it warns instead: tested below)")


PRECEDENCE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ids
spec:
  taskRunTemplate:
    podTemplate:
      securityContext: {runAsUser: 1001, runAsGroup: 3000}
  taskRunSpecs:
    - pipelineTaskName: own-pod
      podTemplate:
        securityContext: {runAsUser: 1234}
  pipelineSpec:
    tasks:
      - name: templated
        taskSpec:
          stepTemplate:
            securityContext: {runAsUser: 1500, runAsNonRoot: true}
          steps:
            - name: from-template
              image: busybox
              script: echo "template $(id -u) $(id -g)"
            - name: own-user
              image: busybox
              securityContext: {runAsUser: 2000}
              script: echo "own-user $(id -u) $(id -g)"
            - name: own-group
              image: busybox
              securityContext: {runAsGroup: 4000}
              script: echo "own-group $(id -u) $(id -g) home=$HOME"
            - name: go-spelling
              image: busybox
              securityContext: {RunAsUser: 2500}
              script: echo "go-spelling $(id -u)"
      - name: pod-only
        taskSpec:
          steps:
            - name: s
              image: busybox
              script: echo "pod $(id -u) $(id -g)"
      - name: own-pod
        taskSpec:
          steps:
            - name: s
              image: busybox
              script: echo "own-pod $(id -u)"
"""


def test_each_step_runs_as_container_then_step_template_then_pod_ids(run: RunYaml, sandbox: Sandbox) -> None:
    _bwrap_only(sandbox)
    ran = run(PRECEDENCE)
    assert ran.result.succeeded, ran.result.message
    # The stepTemplate's context merges into the step's field by field (runAsNonRoot stays; 2000 wins).
    assert ran.output("ids-templated") == [
        "template 1500 3000",
        "own-user 2000 3000",
        "own-group 1500 4000 home=/tekton/home",
        "go-spelling 2500",  # Go's decoder (Tekton's webhook) matches field names case-insensitively
    ]
    assert ran.output("ids-pod-only") == ["pod 1001 3000"]
    # taskRunSpecs[].podTemplate replaces the taskRunTemplate's (as Tekton's GetTaskRunSpec does): no
    # runAsGroup, so the group is the uid's primary group in /etc/passwd, else 0 (as containerd does).
    out = ran.output("ids-own-pod")
    assert out == ["own-pod 1234"]


SHARED_FILES = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: files
spec:
  workspaces:
    - name: out
      emptyDir: {}
  taskSpec:
    workspaces:
      - name: out
    results:
      - name: who
    steps:
      - name: writer
        image: busybox
        securityContext: {runAsUser: 2000}
        script: |
          umask 077
          mkdir $(workspaces.out.path)/private
          echo "from 2000" > $(workspaces.out.path)/private/note
          echo "hello" > /workspace/plain
          id -u | tr -d '\\n' > $(results.who.path)
      - name: other-user
        image: busybox
        securityContext: {runAsUser: 8000}
        script: |
          cat $(workspaces.out.path)/private/note
          echo "and 8000" >> $(workspaces.out.path)/private/note
          rm /workspace/plain && echo removed
      - name: invoking-user
        image: busybox
        script: cat $(workspaces.out.path)/private/note
"""


def test_files_written_by_one_uid_stay_usable_by_later_steps_and_the_engine(
    run: RunYaml, sandbox: Sandbox, tmp_path: Path
) -> None:
    _bwrap_only(sandbox)
    ran = run(SHARED_FILES, host_dirs={"out": tmp_path})
    assert ran.result.succeeded, ran.result.message
    assert ran.output("files") == ["from 2000", "removed", "from 2000", "and 8000"]
    assert [(r["name"], r["value"]) for r in ran.status["results"]] == [("who", "2000")]  # read by the engine
    note = tmp_path / "private" / "note"
    # The sandbox maps this process's uid to the step's: outside, what the step wrote is ours.
    assert note.stat().st_uid == os.geteuid() and (tmp_path / "private").stat().st_mode & 0o777 == 0o700
    assert note.read_text() == "from 2000\nand 8000\n"


def _non_root(context: str, script: str = "id -u") -> str:
    return f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: nonroot
spec:
  podTemplate:
    securityContext: {{runAsNonRoot: true}}
  taskSpec:
    steps:
      - name: first
        image: busybox
        securityContext: {{runAsUser: 1000}}
        script: echo started
      - name: checked
        image: busybox
        securityContext: {context}
        script: {script}
"""


def test_run_as_non_root_with_uid_0_fails_the_pod_before_any_step(run: RunYaml) -> None:
    ran = run(_non_root("{runAsUser: 0}"))
    assert not ran.result.succeeded
    assert ran.condition["reason"] == "CreateContainerConfigError"
    assert "container's runAsUser breaks non-root policy" in ran.condition["message"]
    assert "container: step-checked" in ran.condition["message"]
    assert ran.output("nonroot") == []  # the kubelet checks every container before any starts


def test_run_as_non_root_without_a_uid_is_the_invoking_user(run: RunYaml) -> None:
    ran = run(_non_root("{}"))
    if os.geteuid() == 0:  # the image's USER is unknown: the step would run as root here
        assert ran.condition["reason"] == "CreateContainerConfigError"
        assert "container has runAsNonRoot and image will run as root" in ran.condition["message"]
        assert "runAsUser" in ran.condition["message"]
    else:
        assert ran.result.succeeded, ran.result.message
        assert ran.output("nonroot") == ["started", str(os.geteuid())]


def test_run_as_non_root_with_a_non_zero_uid_runs(run: RunYaml, sandbox: Sandbox) -> None:
    _bwrap_only(sandbox)
    ran = run(_non_root("{runAsUser: 1000}"))
    assert ran.result.succeeded, ran.result.message
    assert ran.output("nonroot") == ["started", "1000"]


def test_a_user_id_that_is_not_a_number_is_a_config_error(run: RunYaml) -> None:
    ran = run(_non_root('{runAsUser: "$(context.taskRun.name)"}'))
    assert ran.condition["reason"] == "CreateContainerConfigError"
    assert "steps[1].securityContext.runAsUser must be a user or group id" in ran.condition["message"]


PRIVILEGES = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: privs
spec:
  taskSpec:
    steps:
      - name: root-default
        image: busybox
        securityContext: {runAsUser: 0}
        script: grep CapEff /proc/self/status
      - name: root-dropped
        image: busybox
        securityContext: {runAsUser: 0, capabilities: {drop: [ALL]}, allowPrivilegeEscalation: false}
        script: grep -E 'CapEff|NoNewPrivs' /proc/self/status
      - name: non-root
        image: busybox
        securityContext: {runAsUser: 1000, capabilities: {add: [NET_BIND_SERVICE]}}
        script: grep CapEff /proc/self/status
      - name: read-only
        image: busybox
        securityContext: {readOnlyRootFilesystem: true}
        script: |
          (echo x > /tmp/x) 2>/dev/null && echo "wrote /tmp"
          echo x > /workspace/x && echo "wrote /workspace"
          echo x > /tekton/home/x && echo "wrote home"
"""


def test_capabilities_no_new_privs_and_read_only_root(run: RunYaml, sandbox: Sandbox) -> None:
    _bwrap_only(sandbox)
    ran = run(PRIVILEGES)
    assert ran.result.succeeded, ran.result.message
    out = [" ".join(line.split()) for line in ran.output("privs")]
    assert out[0].startswith("CapEff:") and out[0] != "CapEff: 0000000000000000"  # a root container's set
    assert out[1:5] == [
        "CapEff: 0000000000000000",
        "NoNewPrivs: 1",
        "CapEff: 0000000000000000",  # a non-root container has no effective capability
        "wrote /workspace",
    ]
    assert out[5:] == ["wrote home"]


SIDECAR = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: side
spec:
  podTemplate:
    securityContext: {runAsUser: 1001}
  workspaces:
    - name: shared
      emptyDir: {}
  taskSpec:
    workspaces:
      - name: shared
    sidecars:
      - name: server
        image: busybox
        securityContext: {runAsUser: 3000}
        script: |
          id -u > $(workspaces.shared.path)/sidecar-uid
          while true; do sleep 0.1; done
        readinessProbe:
          exec:
            command: [sh, -c, 'test "$(id -u)" = 3000 && test -s $(workspaces.shared.path)/sidecar-uid']
          periodSeconds: 1
    steps:
      - name: s
        image: busybox
        script: echo "step $(id -u) sidecar $(cat $(workspaces.shared.path)/sidecar-uid)"
"""


def test_sidecars_and_their_probes_run_as_their_own_uid(run: RunYaml, sandbox: Sandbox) -> None:
    _bwrap_only(sandbox)
    ran = run(SIDECAR)
    assert ran.result.succeeded, ran.result.message
    assert [line for line in ran.output("side") if line.startswith("step")] == ["step 1001 sidecar 3000"]


def test_fields_the_sandbox_cannot_honour_are_named_in_one_warning(
    home: Path, sandbox: Sandbox, caplog: pytest.LogCaptureFixture
) -> None:
    text = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: warned
spec:
  podTemplate:
    securityContext: {fsGroup: 65532, supplementalGroups: [4000], runAsUsr: 7}
  taskSpec:
    steps:
      - name: s
        image: busybox
        securityContext: {seccompProfile: {type: RuntimeDefault}}
        script: "true"
"""
    with caplog.at_level(logging.WARNING, logger="retrain.engine"):
        ran = run_yaml(home, sandbox, text)
    assert ran.result.succeeded, ran.result.message
    warned = [
        r.getMessage() for r in caplog.records if "securityContext fields not honoured" in r.getMessage()
    ]
    assert len(warned) == 1
    for field in (
        'steps[0].securityContext.seccompProfile={"type": "RuntimeDefault"} (the sandbox applies no seccomp',
        "podTemplate.securityContext.fsGroup=65532",
        "podTemplate.securityContext.supplementalGroups=[4000]",
        "podTemplate.securityContext.runAsUsr=7 (not a field of a pod's securityContext: ignored)",
    ):
        assert field in warned[0]


def test_host_mode_warns_that_it_cannot_switch_users(home: Path, caplog: pytest.LogCaptureFixture) -> None:
    text = _non_root("{runAsUser: 2000, readOnlyRootFilesystem: true}", "echo ran").replace(
        "securityContext: {runAsNonRoot: true}", "securityContext: {runAsGroup: 5}"
    )
    with caplog.at_level(logging.WARNING, logger="retrain.engine"):
        ran = run_yaml(home, HostSandbox(), text)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("nonroot") == ["started", "ran"]
    warned = [
        r.getMessage() for r in caplog.records if "securityContext fields not honoured" in r.getMessage()
    ]
    assert len(warned) == 1
    assert "steps[1].securityContext.runAsUser=2000 (host mode cannot switch users" in warned[0]
    assert "steps[1].securityContext.readOnlyRootFilesystem=true (host mode" in warned[0]
    assert "podTemplate.securityContext.runAsGroup=5" in warned[0]
    assert any("runAsUser" in item for item in sandbox_limitations(HostSandbox()))


@pytest.mark.parametrize(
    ("context", "field", "feature"),
    [
        ("{privileged: true}", "spec.taskSpec.steps[0].securityContext.privileged", "a privileged container"),
        (
            "{capabilities: {add: [CAP_NET_ADMIN]}}",
            "spec.taskSpec.steps[0].securityContext.capabilities.add[0]",
            "the capability NET_ADMIN",
        ),
        ("{runAsUsr: 1000}", "spec.taskSpec.steps[0].securityContext.runAsUsr", "field 'runAsUsr'"),
    ],
)
def test_privileges_the_sandbox_cannot_grant_are_refused_at_creation(
    context: str, field: str, feature: str
) -> None:
    text = f"""\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: tr}}
spec:
  taskSpec:
    steps:
      - name: s
        image: alpine
        script: "true"
        securityContext: {context}
"""
    loaded = load_text(text, file="t.yaml")
    problems = [p for doc in loaded.documents for p in local_support_problems(doc.obj, where=doc.source)]
    assert len(problems) == 1
    assert feature in problems[0].message and problems[0].location is not None
    assert problems[0].location.field == field and problems[0].location.line == 10


def test_step_template_contexts_merge_field_by_field() -> None:
    template = {"runAsUser": 1, "runAsNonRoot": True, "capabilities": {"drop": ["ALL"], "add": ["CHOWN"]}}
    own = {"runAsUser": 2, "capabilities": {"add": ["KILL"]}}
    assert merge_contexts(template, own) == {
        "runAsUser": 2,
        "runAsNonRoot": True,
        "capabilities": {"drop": ["ALL"], "add": ["KILL"]},
    }
