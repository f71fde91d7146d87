"""Kubernetes objects beside the runs: ConfigMaps, Secrets and ServiceAccounts reach the steps as Tekton's
pods see them (configMap/secret/projected workspaces, pod volumes with volumeMounts, env valueFrom/envFrom,
creds-init credentials), through real runs; what is missing or malformed is a clear error."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from fixtures.engine_helpers import Ran, RecordingStore, cli, make_engine
from retrain.engine.engine import RunResult
from retrain.engine.sandbox import Sandbox
from retrain.errors import InvalidInput
from retrain.tekton.loader import load_text
from retrain.tekton.local_support import local_support_problems
from retrain.tekton.model import Pipeline, PipelineRun, Task, TaskRun

OBJECTS = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: settings}
data:
  greeting: hello from a configmap
  mode.txt: fast
binaryData:
  blob: AAEC
---
apiVersion: v1
kind: Secret
metadata: {name: creds}
type: Opaque
data:
  password: aHVudGVyMg==
stringData:
  user: alice
---
"""


def run_with_objects(home: Path, sandbox: Sandbox, text: str) -> Ran:
    """run_yaml, with the file's ConfigMaps/Secrets/ServiceAccounts given to the engine as -f gives them."""
    engine, lines = make_engine(home, sandbox)
    assert isinstance(engine.store, RecordingStore)
    loaded = load_text(text, "objects.yaml")
    for obj in loaded.objects:
        engine.catalog.objects.add(obj)
    runs: list[PipelineRun | TaskRun] = []
    for doc in loaded.documents:
        if isinstance(doc.obj, Task | Pipeline):
            engine.catalog.add(doc.obj)
        elif isinstance(doc.obj, PipelineRun | TaskRun):
            runs.append(doc.obj)
    assert len(runs) == 1
    sub = engine.submit(runs[0])

    async def go() -> RunResult:
        return await engine.execute(sub)

    return Ran(asyncio.run(go()), engine.store, lines)


def _out(ran: Ran) -> str:
    return "\n".join(line for _, _, line in ran.lines)


def _needs_bwrap(sandbox: Sandbox) -> None:
    if sandbox.mode != "bwrap":
        pytest.skip("host mode has no container paths such as /config (it says so when it starts)")


def test_configmap_secret_and_projected_workspaces_are_written_out_read_only(
    home: Path, sandbox: Sandbox
) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: ws}
spec:
  workspaces:
    - name: cfg
      configMap:
        name: settings
        items: [{key: greeting, path: sub/hello.txt}]
    - name: sec
      secret: {secretName: creds, defaultMode: 0400}
    - name: both
      projected:
        sources:
          - configMap: {name: settings, items: [{key: mode.txt, path: mode}]}
          - secret: {name: creds}
    - name: gone
      configMap: {name: not-there, optional: true}
  taskSpec:
    steps:
      - name: read
        image: busybox
        script: |
          cat $(workspaces.cfg.path)/sub/hello.txt
          echo "pw=$(cat $(workspaces.sec.path)/password) user=$(cat $(workspaces.sec.path)/user)"
          echo "mode=$(cat $(workspaces.both.path)/mode) pw=$(cat $(workspaces.both.path)/password)"
          ls $(workspaces.cfg.path)
          echo "gone has $(ls $(workspaces.gone.path) | wc -l) files"
          stat -c '%a' $(workspaces.sec.path)/password
""",
    )
    assert ran.result.succeeded, _out(ran)
    out = _out(ran)
    assert "hello from a configmap" in out
    assert "pw=hunter2 user=alice" in out
    assert "mode=fast pw=hunter2" in out
    assert "gone has 0 files" in out
    assert "400" in ran.output("ws")  # defaultMode applied
    assert "blob" not in out  # items: only the listed key


def test_a_configmap_workspace_refuses_writes_in_the_sandbox(home: Path, sandbox: Sandbox) -> None:
    _needs_bwrap(sandbox)
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: ro}
spec:
  workspaces: [{name: cfg, configMap: {name: settings}}]
  taskSpec:
    steps:
      - name: write
        image: busybox
        script: echo changed > $(workspaces.cfg.path)/greeting
""",
    )
    assert not ran.result.succeeded
    assert "Read-only file system" in _out(ran)


def test_pod_volumes_with_volume_mounts_params_subpath_and_step_template(
    home: Path, sandbox: Sandbox
) -> None:
    _needs_bwrap(sandbox)
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: vols}
spec:
  params: [{name: cm, value: settings}]
  taskSpec:
    params: [{name: cm}]
    volumes:
      - {name: config, configMap: {name: $(params.cm)}}
      - {name: secret, secret: {secretName: creds, items: [{key: password, path: pw, mode: 0440}]}}
      - {name: scratch, emptyDir: {}}
    stepTemplate:
      volumeMounts: [{name: scratch, mountPath: /scratch}]
    steps:
      - name: write
        image: busybox
        volumeMounts: [{name: scratch, mountPath: /part, subPath: deep/dir}]
        script: |
          echo shared > /scratch/note
          echo inside > /part/file
      - name: read
        image: busybox
        volumeMounts:
          - {name: config, mountPath: /config}
          - {name: secret, mountPath: /var/secret, readOnly: true}
        script: |
          cat /config/greeting /scratch/note /scratch/deep/dir/file
          echo "pw=$(cat /var/secret/pw) mode=$(stat -c '%a' /var/secret/pw)"
          if touch /config/new 2>/dev/null; then echo WROTE; else echo "config is read-only"; fi
""",
    )
    assert ran.result.succeeded, _out(ran)
    out = _out(ran)
    assert "hello from a configmap" in out and "shared" in out and "inside" in out
    assert "pw=hunter2 mode=440" in out
    assert "config is read-only" in out and "WROTE" not in out


def test_env_value_from_and_env_from(home: Path, sandbox: Sandbox) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: envs}
spec:
  taskSpec:
    stepTemplate:
      env:
        - name: FROM_TEMPLATE
          valueFrom: {configMapKeyRef: {name: settings, key: mode.txt}}
    steps:
      - name: show
        image: busybox
        envFrom:
          - {secretRef: {name: creds}, prefix: S_}
          - {configMapRef: {name: missing, optional: true}}
        env:
          - name: GREETING
            valueFrom: {configMapKeyRef: {name: settings, key: greeting}}
          - name: PASSWORD
            valueFrom: {secretKeyRef: {name: creds, key: password}}
          - name: ABSENT
            valueFrom: {secretKeyRef: {name: creds, key: nope, optional: true}}
          - name: POD
            valueFrom: {fieldRef: {fieldPath: metadata.name}}
        script: |
          echo "greeting=$GREETING password=$PASSWORD template=$FROM_TEMPLATE"
          echo "prefixed=$S_user/$S_password pod=$POD absent=${ABSENT-unset}"
""",
    )
    assert ran.result.succeeded, _out(ran)
    out = _out(ran)
    assert "greeting=hello from a configmap password=hunter2 template=fast" in out
    assert "prefixed=alice/hunter2 pod=envs-pod absent=unset" in out


def test_a_missing_object_fails_the_pod_before_any_step_and_says_how_to_pass_it(
    home: Path, sandbox: Sandbox
) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: missing}
spec:
  taskSpec:
    steps:
      - name: never
        image: busybox
        script: echo SHOULD-NOT-RUN
        env:
          - name: X
            valueFrom: {secretKeyRef: {name: creds, key: password}}
          - name: Y
            valueFrom: {configMapKeyRef: {name: elsewhere, key: k}}
""",
    )
    assert not ran.result.succeeded
    assert ran.result.reason == "CreateContainerConfigError"
    assert 'ConfigMap "elsewhere" is not among the loaded objects; pass it with -f' in ran.result.message
    assert "steps[0].env[1].valueFrom.configMapKeyRef.name" in ran.result.message
    assert "SHOULD-NOT-RUN" not in _out(ran)
    assert "hunter2" not in ran.result.message


def test_a_missing_key_names_the_keys_there_are(home: Path, sandbox: Sandbox) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: nokey}
spec:
  taskSpec:
    volumes: [{name: c, configMap: {name: settings, items: [{key: greting, path: g}]}}]
    steps:
      - {name: s, image: busybox, script: "true", volumeMounts: [{name: c, mountPath: /c}]}
""",
    )
    assert ran.result.reason == "CreateContainerConfigError"
    assert "has no key 'greting'" in ran.result.message and "greeting" in ran.result.message


def test_a_workspace_bound_to_a_missing_configmap_is_refused_at_submission(
    home: Path, sandbox: Sandbox
) -> None:
    with pytest.raises(InvalidInput) as caught:
        run_with_objects(
            home,
            sandbox,
            """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: nocm}
spec:
  workspaces: [{name: w, configMap: {name: absent}}]
  taskSpec:
    steps: [{name: s, image: busybox, script: "true"}]
""",
        )
    assert 'ConfigMap "absent" is not among the loaded objects; pass it with -f' in str(caught.value)
    assert "spec.workspaces[0].configMap.name" in str(caught.value)


def test_bad_objects_are_errors_with_file_and_line() -> None:
    with pytest.raises(InvalidInput) as bad64:
        load_text("apiVersion: v1\nkind: Secret\nmetadata: {name: s}\ndata:\n  k: not*base64\n", "s.yaml")
    assert str(bad64.value).startswith("s.yaml:5: data.k: the value of 'k' is not valid base64")
    with pytest.raises(InvalidInput) as number:
        load_text("apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  port: 8080\n", "c.yaml")
    assert "c.yaml:5" in str(number.value) and "must be a string" in str(number.value)
    with pytest.raises(InvalidInput) as typed:
        load_text(
            "apiVersion: v1\nkind: Secret\nmetadata: {name: k}\ntype: kubernetes.io/ssh-auth\n", "k.yaml"
        )
    assert "needs the key 'ssh-privatekey'" in str(typed.value)


def test_creds_init_writes_only_the_provided_credentials_into_home(home: Path, sandbox: Sandbox) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        """\
apiVersion: v1
kind: Secret
type: kubernetes.io/ssh-auth
metadata:
  name: deploy-key
  annotations: {tekton.dev/git-0: github.com:2222}
stringData: {ssh-privatekey: PRIVATE, known_hosts: github.com ssh-ed25519 AAAA}
---
apiVersion: v1
kind: Secret
type: kubernetes.io/basic-auth
metadata:
  name: basic
  annotations: {tekton.dev/git-0: https://git.example.com, tekton.dev/docker-0: https://index.docker.io/v1/}
stringData: {username: bob, password: "p@ss"}
---
apiVersion: v1
kind: ServiceAccount
metadata: {name: builder}
secrets: [{name: deploy-key}, {name: basic}]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: creds}
spec:
  serviceAccountName: builder
  taskSpec:
    steps:
      - name: show
        image: busybox
        script: |
          cat $HOME/.ssh/id_deploy-key; echo
          cat $HOME/.ssh/config $HOME/.gitconfig $HOME/.git-credentials $HOME/.docker/config.json; echo
          stat -c '%a' $HOME/.ssh/id_deploy-key
          echo "creds=$(ls $(credentials.path)/.ssh | tr '\\n' ' ')"
""",
    )
    assert ran.result.succeeded, _out(ran)
    out = ran.output("creds")
    assert "PRIVATE" in out
    assert "Host github.com" in out and "    Port 2222" in out
    assert "    IdentityFile /tekton/creds/.ssh/id_deploy-key" in out
    assert '[credential "https://git.example.com"]' in out and "\tusername = bob" in out
    assert "https://bob:p%40ss@git.example.com" in out
    docker = json.loads(next(line for line in out if line.startswith('{"auths"')))
    assert docker["auths"]["https://index.docker.io/v1/"]["auth"] == "Ym9iOnBAc3M="
    assert "600" in out
    assert "creds=config id_deploy-key known_hosts " in out  # $(credentials.path): creds-init's directory


def test_without_credentials_home_holds_none(home: Path, sandbox: Sandbox) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        """\
apiVersion: v1
kind: ServiceAccount
metadata: {name: plain}
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: nocreds}
spec:
  serviceAccountName: plain
  taskSpec:
    steps:
      - {name: s, image: busybox, script: "test ! -e $HOME/.ssh && test ! -e $HOME/.docker && echo clean"}
""",
    )
    assert ran.result.succeeded and "clean" in _out(ran)


def test_retrain_run_carries_the_objects_of_its_files(tmp_path: Path) -> None:
    yaml_file = tmp_path / "run.yaml"
    yaml_file.write_text(
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata: {name: pr}
spec:
  workspaces: [{name: cfg, configMap: {name: settings}}]
  pipelineSpec:
    workspaces: [{name: cfg}]
    tasks:
      - name: t
        workspaces: [{name: cfg}]
        taskSpec:
          workspaces: [{name: cfg}]
          steps:
            - name: s
              image: busybox
              env: [{name: PW, valueFrom: {secretKeyRef: {name: creds, key: password}}}]
              script: 'echo "$(cat $(workspaces.cfg.path)/greeting) / $PW"'
"""
    )
    done = cli("run", "-f", yaml_file, "--home", tmp_path / "home", timeout=120)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "hello from a configmap / hunter2" in done.stdout
    assert "ignored locally" not in done.stderr  # the objects are used, not noted as ignored
    kept = tmp_path / "home" / "runs" / "pr" / "objects.json"
    assert kept.stat().st_mode & 0o777 == 0o600  # Secrets inside: the invoking user's only
    again = cli("runs", "rerun", "pr", "--home", tmp_path / "home", timeout=120)  # no -f: kept objects
    assert again.returncode == 0, again.stdout + again.stderr
    assert "hello from a configmap / hunter2" in again.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml_file.read_text().replace("aHVudGVyMg==", "aHVudGVyMg"))
    refused = cli("run", "-f", bad, "--home", tmp_path / "home2", timeout=120)
    assert refused.returncode == 2
    assert f"{bad}:15: data.password: the value of 'password' is not valid base64" in refused.stderr


def test_what_a_local_pod_cannot_have_is_refused_at_creation_with_file_and_line() -> None:
    text = """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: refused}
spec:
  podTemplate:
    volumes: [{name: node, hostPath: {path: /var/run}}]
  workspaces:
    - name: token
      projected: {sources: [{serviceAccountToken: {path: token}}]}
  taskSpec:
    steps:
      - name: s
        image: busybox
        script: "true"
        env: [{name: NODE, valueFrom: {fieldRef: {fieldPath: spec.nodeName}}}]
"""
    loaded = load_text(text, "p.yaml")
    problems = "\n".join(
        str(p) for d in loaded.documents for p in local_support_problems(d.obj, where=d.source)
    )
    assert (
        "p.yaml:6: spec.podTemplate.volumes[0].hostPath: the local engine does not support a hostPath"
        in problems
    )
    assert "spec.workspaces[0].projected.sources[0].serviceAccountToken" in problems
    assert "issued by a Kubernetes API server" in problems
    assert (
        "p.yaml:15: spec.taskSpec.steps[0].env[0].valueFrom.fieldRef" in problems
        and "spec.nodeName" in problems
    )


def test_pod_template_volumes_are_mounted(home: Path, sandbox: Sandbox) -> None:
    _needs_bwrap(sandbox)
    ran = run_with_objects(
        home,
        sandbox,
        OBJECTS
        + """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: tmpl}
spec:
  podTemplate:
    volumes: [{name: settings, configMap: {name: settings}}]
  taskSpec:
    steps:
      - name: s
        image: busybox
        volumeMounts: [{name: settings, mountPath: /srv/app}]
        script: cat /srv/app/greeting
""",
    )
    assert ran.result.succeeded, _out(ran)
    assert "hello from a configmap" in _out(ran)


def test_a_mount_point_inside_the_hosts_read_only_system_is_a_clear_error(
    home: Path, sandbox: Sandbox
) -> None:
    ran = run_with_objects(
        home,
        sandbox,
        """apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: etc}
spec:
  taskSpec:
    volumes: [{name: v, emptyDir: {}}]
    steps:
      - {name: s, image: busybox, script: "true", volumeMounts: [{name: v, mountPath: /etc/no-such-app}]}
""",
    )
    assert ran.result.reason == "CreateContainerConfigError"
    assert (
        "steps[0].volumeMounts[0].mountPath: mountPath '/etc/no-such-app' is inside /etc"
        in ran.result.message
    )


def test_without_credentials_each_step_gets_its_own_empty_writable_creds_dir(
    home: Path, sandbox: Sandbox
) -> None:
    # Tekton mounts a fresh in-memory emptyDir at /tekton/creds in every step (tekton-creds-init-home-<i>)
    _needs_bwrap(sandbox)
    ran = run_with_objects(
        home,
        sandbox,
        """\
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: no-creds}
spec:
  taskSpec:
    steps:
      - name: first
        image: busybox
        script: |
          [ -d $(credentials.path) ] && [ -z "$(ls -A $(credentials.path))" ]
          echo mine > $(credentials.path)/note
      - name: second
        image: busybox
        script: |
          [ ! -e $(credentials.path)/note ] && echo "creds=$(credentials.path) fresh"
""",
    )
    assert ran.result.succeeded, _out(ran)
    assert "creds=/tekton/creds fresh" in _out(ran)
    assert not list(home.glob("runs/no-creds/taskruns/no-creds/attempt-0/creds"))  # nothing made on the host
