"""Sidecars: processes beside the steps, started first, waited for (probes), stopped after the last step and
recorded in the TaskRun status; none outlives its TaskRun. And busybox applets for alpine/busybox images."""

from __future__ import annotations

import asyncio
import secrets
import signal
import socket
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.engine_helpers import SHARED, RunYaml, assert_no_orphans, cli, cli_popen, pgrep, wait_for
from retrain.engine.applets import busybox_family
from retrain.engine.probes import ProbeResult, parse_probe, probe_once
from retrain.engine.sandbox import Sandbox
from retrain.errors import InvalidInput
from retrain.runs.store import RunStore
from retrain.tekton.loader import load_text
from retrain.tekton.local_support import local_support_problems

CRD = SHARED / "tekton" / "crds-v1.15.0" / "300-taskrun.yaml"


def _marker() -> str:
    """A unique `sleep` argument, so pgrep finds exactly this test's processes."""
    return f"39.{secrets.randbelow(10**6):06d}"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_a_sidecar_serves_what_a_step_reads(run: RunYaml) -> None:
    port = _free_port()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: served}}
spec:
  workspaces: [{{name: site, emptyDir: {{}}}}]
  taskSpec:
    workspaces: [{{name: site}}]
    sidecars:
      - name: web
        image: python
        script: |
          #!/bin/sh
          echo "hello from the sidecar" > $(workspaces.site.path)/index.html
          cd $(workspaces.site.path)
          exec python3 -u -m http.server {port} --bind 127.0.0.1
        readinessProbe:
          periodSeconds: 1
          httpGet: {{port: {port}, path: /index.html}}
    steps:
      - name: fetch
        image: alpine
        script: |
          #!/usr/bin/env ash
          wget -qO- http://127.0.0.1:{port}/index.html
"""
    )
    assert (ran.result.status, ran.result.reason) == ("True", "Succeeded"), ran.result.message
    assert ran.log("served", "fetch").strip() == "hello from the sidecar"
    (sidecar,) = ran.status["sidecars"]
    assert (sidecar["name"], sidecar["container"], sidecar["imageID"]) == ("web", "sidecar-web", "python")
    assert sidecar["terminated"]["message"] == "stopped after the steps ended"
    assert "GET /index.html" in ran.log("served", "sidecar-web")  # sidecar logs are kept like step logs


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields forbidden where Kubernetes would prune them."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        pruned = out.get("type") == "object" and "properties" in out
        if (
            pruned
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@pytest.mark.skipif(not CRD.is_file(), reason="../shared/tekton/crds-v1.15.0 is not here")
def test_the_sidecar_status_validates_against_the_taskrun_crd(run: RunYaml) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    ran = run(
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: crd-check}
spec:
  taskSpec:
    sidecars:
      - {name: quick, image: ubuntu, script: echo done}
      - {name: lasting, image: ubuntu, command: [sleep, "60"]}
    steps:
      - {name: s, image: ubuntu, script: echo step}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("True", "Succeeded"), ran.result.message
    crd = yaml.safe_load(CRD.read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema = _strict(version["schema"]["openAPIV3Schema"]["properties"]["status"])
    errors = [
        f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
        for e in jsonschema.Draft7Validator(schema).iter_errors(ran.status)
    ]
    assert errors == []
    quick, lasting = ran.status["sidecars"]
    assert quick["terminated"]["exitCode"] == 0 and quick["terminated"]["reason"] == "Completed"
    assert "message" not in quick["terminated"]  # it ended by itself
    assert lasting["terminated"]["message"] == "stopped after the steps ended"


def test_the_steps_wait_for_a_readiness_probe_that_passes_later(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: waits}}
spec:
  workspaces: [{{name: w, emptyDir: {{}}}}]
  taskSpec:
    workspaces: [{{name: w}}]
    sidecars:
      - name: slow
        image: ubuntu
        script: |
          sleep 1.5
          touch $(workspaces.w.path)/ready
          sleep {marker}
        readinessProbe:
          periodSeconds: 1
          exec: {{command: [test, -f, $(workspaces.w.path)/ready]}}
    steps:
      - name: check
        image: ubuntu
        script: test -f $(workspaces.w.path)/ready && echo saw ready
"""
    )
    assert (ran.result.status, ran.result.reason) == ("True", "Succeeded"), ran.result.message
    assert "saw ready" in ran.log("waits", "check")
    assert ran.status["sidecars"][0]["terminated"]["reason"] == "Error"  # SIGTERMed, as Tekton's are
    assert_no_orphans(f"sleep {marker}")


def test_a_sidecar_that_exits_before_it_is_ready_fails_the_taskrun(run: RunYaml) -> None:
    ran = run(
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: crashes}
spec:
  taskSpec:
    sidecars:
      - name: bad
        image: ubuntu
        script: |
          echo "cannot bind the port"
          exit 3
        readinessProbe:
          periodSeconds: 1
          exec: {command: ["false"]}
    steps:
      - {name: never, image: ubuntu, script: echo never}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert ran.result.message == (
        'sidecar "bad" exited with code 3 before it was ready (last output: cannot bind the port)'
    )
    assert ran.status["steps"][0]["terminated"]["reason"] == "Skipped"
    assert ran.status["sidecars"][0]["terminated"]["exitCode"] == 3


def test_a_startup_probe_that_gives_up_fails_the_taskrun(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: gives-up}}
spec:
  taskSpec:
    sidecars:
      - name: never-starts
        image: ubuntu
        command: [sleep, "{marker}"]
        startupProbe:
          periodSeconds: 1
          failureThreshold: 2
          exec: {{command: [sh, -c, "echo not yet; exit 1"]}}
    steps:
      - {{name: never, image: ubuntu, script: echo never}}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert 'sidecar "never-starts": its startupProbe failed 2 times in a row' in ran.result.message
    assert "exited with code 1 (not yet)" in ran.result.message
    assert_no_orphans(f"sleep {marker}")


def test_a_sidecar_never_ready_times_out_the_taskrun(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: never-ready}}
spec:
  timeout: 2s
  taskSpec:
    sidecars:
      - name: deaf
        image: ubuntu
        command: [sleep, "{marker}"]
        readinessProbe:
          periodSeconds: 1
          tcpSocket: {{port: {_free_port()}}}
    steps:
      - {{name: never, image: ubuntu, script: echo never}}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "TaskRunTimeout")
    assert ran.result.message.startswith('TaskRun "never-ready" failed to finish within "2s": sidecar "deaf"')
    assert "never became ready" in ran.result.message
    assert_no_orphans(f"sleep {marker}")


def test_no_sidecar_outlives_a_failed_step(run: RunYaml) -> None:
    marker = _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: step-fails}}
spec:
  taskSpec:
    sidecars:
      - {{name: a, image: ubuntu, script: "sleep {marker} & sleep {marker}"}}
      - {{image: ubuntu, command: [sleep, "{marker}"]}}
    steps:
      - {{name: fail, image: ubuntu, script: exit 4}}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "Failed")
    assert [s["name"] for s in ran.status["sidecars"]] == ["a", "unnamed-1"]
    assert_no_orphans(f"sleep {marker}")


def test_no_sidecar_outlives_a_timed_out_taskrun(run: RunYaml) -> None:
    marker, step_marker = _marker(), _marker()
    ran = run(
        f"""
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: too-slow}}
spec:
  timeout: 2s
  taskSpec:
    sidecars:
      - {{name: keeper, image: ubuntu, script: "sleep {marker} & sleep {marker}"}}
    steps:
      - {{name: long, image: ubuntu, command: [sleep, "{step_marker}"]}}
"""
    )
    assert (ran.result.status, ran.result.reason) == ("False", "TaskRunTimeout")
    assert ran.result.message == 'TaskRun "too-slow" failed to finish within "2s"'
    assert ran.status["sidecars"][0]["terminated"]["message"] == "stopped after the steps ended"
    assert_no_orphans(f"sleep {marker}")
    assert_no_orphans(f"sleep {step_marker}")


SLEEPY = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {{name: {name}}}
spec:
  taskSpec:
    sidecars:
      - {{name: keeper, image: ubuntu, command: [sleep, "{marker}"]}}
    steps:
      - {{name: long, image: ubuntu, command: [sleep, "{step_marker}"]}}
"""


@pytest.mark.slow
@pytest.mark.parametrize("how", ["ctrl-c", "runs-cancel"])
def test_no_sidecar_outlives_a_cancelled_taskrun(tmp_path: Path, how: str) -> None:
    home, marker, step_marker = tmp_path / "home", _marker(), _marker()
    path = tmp_path / "sleepy.yaml"
    name = f"cancel-{how}"
    path.write_text(SLEEPY.format(name=name, marker=marker, step_marker=step_marker))
    with cli_popen("run", "-f", path, "--home", home) as proc:
        wait_for(lambda: bool(pgrep(f"sleep {step_marker}")), what="the step to run")
        assert pgrep(f"sleep {marker}"), "the sidecar runs beside the step"
        if how == "ctrl-c":
            proc.send_signal(signal.SIGINT)
        else:
            done = cli("runs", "cancel", name, "--home", home)
            assert done.returncode == 0, done.stderr
        proc.communicate(timeout=60)
    assert proc.returncode != 0
    with RunStore(home) as store:
        assert store.get_run(name).state == "Cancelled"
    assert_no_orphans(f"sleep {marker}")
    assert_no_orphans(f"sleep {step_marker}")


def _problems(sidecar: str) -> str:
    text = f"""\
apiVersion: tekton.dev/v1
kind: Task
metadata: {{name: t}}
spec:
  steps: [{{name: s, image: alpine, script: "true"}}]
  sidecars:
    - {sidecar}
"""
    loaded = load_text(text, file="t.yaml")
    return "\n".join(str(p) for d in loaded.documents for p in local_support_problems(d.obj, where=d.source))


def test_what_a_sidecar_cannot_do_here_is_refused_at_creation() -> None:
    assert (
        _problems("{name: ok, image: alpine, script: echo hi, readinessProbe: {exec: {command: [true]}}}")
        == ""
    )
    sshd = _problems('{name: git, image: alpine/git, script: "ssh-keygen -A\\n/usr/sbin/sshd-never -D\\n"}')
    assert "t.yaml:7: spec.sidecars[0].script" in sshd
    assert "its script runs /usr/sbin/sshd-never (script line 2), which this machine does not have" in sshd
    privileged = _problems("{name: d, image: docker, securityContext: {privileged: true}}")
    assert (
        "spec.sidecars[0].securityContext.privileged" in privileged and "privileged container" in privileged
    )
    grpc = _problems("{name: g, image: x, command: [x], readinessProbe: {grpc: {port: 1}}}")
    assert "spec.sidecars[0].readinessProbe.grpc" in grpc
    liveness = _problems("{name: l, image: x, command: [x], livenessProbe: {exec: {command: [x]}}}")
    assert "spec.sidecars[0].livenessProbe" in liveness


def test_busybox_images_get_the_applets(run: RunYaml, home: Path, sandbox: Sandbox) -> None:
    assert busybox_family("mirror.gcr.io/alpine@sha256:25") and busybox_family("mirror.gcr.io/alpine/git:v2")
    assert busybox_family("python:3.12-alpine") and busybox_family("busybox")
    assert not busybox_family("ubuntu") and not busybox_family("gcr.io/distroless/base")
    ran = run(
        """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata: {name: applets}
spec:
  taskSpec:
    steps:
      - name: ash
        image: alpine
        script: |
          #!/usr/bin/env ash
          echo "ash runs"
      - name: none-on-ubuntu
        image: ubuntu
        onError: continue
        script: |
          #!/usr/bin/env ash
          echo "never"
"""
    )
    assert (ran.result.status, ran.result.reason) == ("True", "Succeeded"), ran.result.message
    assert "ash runs" in ran.log("applets", "ash")
    assert ran.status["steps"][1]["terminated"]["exitCode"] == 127  # ubuntu has no ash: env says so
    # the links are made once per run store (bound read-only under bwrap), never left half-made
    [links] = [p for p in (home / "runs").glob(".busybox-applets-*") if not p.name.endswith(".tmp")]
    assert (links / "ash").is_symlink() and not list(links.parent.glob(".busybox-applets-*.tmp"))


def test_probe_fields_are_read_as_the_kubelet_reads_them() -> None:
    probe = parse_probe(
        {"tcpSocket": {"port": "web"}, "periodSeconds": 2}, "sidecars[0].readinessProbe", {"web": 8080}
    )
    assert (probe.kind, probe.host, probe.port, probe.period_s, probe.timeout_s) == (
        "tcpSocket",
        "127.0.0.1",
        8080,
        2,
        1,
    )
    assert (probe.failure_threshold, probe.success_threshold, probe.initial_delay_s) == (3, 1, 0)
    with pytest.raises(InvalidInput, match=r"port 'api' names no port of the container \(its ports: web\)"):
        parse_probe({"httpGet": {"port": "api"}}, "sidecars[0].readinessProbe", {"web": 8080})
    with pytest.raises(InvalidInput, match="periodSeconds: 0 is not a whole number of at least 1"):
        parse_probe({"exec": {"command": ["true"]}, "periodSeconds": 0}, "sidecars[0].startupProbe", {})
    with pytest.raises(InvalidInput, match="exactly one of exec, tcpSocket, httpGet"):
        parse_probe({"exec": {"command": ["true"]}, "tcpSocket": {"port": 1}}, "p", {})


def test_network_probes_answer_as_the_kubelet_counts_them() -> None:
    async def go() -> list[bool]:
        async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            request = (await reader.readline()).decode()
            status = "200 OK" if " /ok " in request else "503 Service Unavailable"
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()

        server = await asyncio.start_server(answer, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]

        async def never(argv: Sequence[str], limit: float) -> ProbeResult:
            raise AssertionError("not an exec probe")

        async with server:
            probes = [
                parse_probe({"tcpSocket": {"port": port}}, "p", {}),
                parse_probe({"httpGet": {"port": port, "path": "/ok"}}, "p", {}),
                parse_probe({"httpGet": {"port": port, "path": "/down"}}, "p", {}),
                parse_probe({"tcpSocket": {"port": _free_port()}}, "p", {}),
            ]
            return [(await probe_once(p, never)).ok for p in probes]

    assert asyncio.run(go()) == [True, True, False, False]
