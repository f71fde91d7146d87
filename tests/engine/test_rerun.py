"""`retrain runs rerun RUN [--from-failed]`: a new run; --from-failed reuses the tasks that succeeded."""

from __future__ import annotations

import json
from pathlib import Path

from fixtures.engine_helpers import cli
from retrain.runs.store import RunStore

CHAIN = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: chain
spec:
  pipelineSpec:
    workspaces: [{name: host}]
    tasks:
      - name: a
        workspaces: [{name: host}]
        taskSpec:
          workspaces: [{name: host}]
          results: [{name: token}]
          steps:
            - name: count
              image: busybox
              script: |
                echo ran >> $(workspaces.host.path)/a-count
                printf "tok-$(context.pipelineRun.name)" > $(results.token.path)
      - name: b
        params: [{name: token, value: $(tasks.a.results.token)}]
        workspaces: [{name: host}]
        taskSpec:
          params: [{name: token}]
          workspaces: [{name: host}]
          results: [{name: out}]
          steps:
            - name: check
              image: busybox
              script: |
                [ -e $(workspaces.host.path)/marker ] || { echo "no marker yet"; exit 1; }
                echo "b got $(params.token)"
                printf "b-$(params.token)" > $(results.out.path)
      - name: c
        params: [{name: out, value: $(tasks.b.results.out)}]
        workspaces: [{name: host}]
        taskSpec:
          params: [{name: out}]
          workspaces: [{name: host}]
          steps:
            - name: show
              image: busybox
              script: |
                echo ran >> $(workspaces.host.path)/c-count
                [ -e $(workspaces.host.path)/c-ok ] || { echo "c not ok yet"; exit 1; }
                echo "c got $(params.out)"
"""


def test_rerun_from_failed_reuses_what_succeeded(tmp_path: Path) -> None:
    home, host = tmp_path / "home", tmp_path / "host"
    host.mkdir()
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    first = cli("run", "-f", path, "-w", f"host={host}", "--home", home)
    assert first.returncode == 1, first.stderr
    assert "[chain-b/check] no marker yet" in first.stdout
    assert (host / "a-count").read_text() == "ran\n"

    (host / "marker").touch()
    (host / "c-ok").touch()
    again = cli("runs", "rerun", "chain", "--from-failed", "--home", home)
    assert again.returncode == 0, again.stderr
    assert (host / "a-count").read_text() == "ran\n", "a ran again although it had succeeded"
    assert "b got tok-chain" in again.stdout  # a's result from the first run
    assert "c got b-tok-chain" in again.stdout

    listed = json.loads(cli("runs", "list", "-o", "json", "--home", home).stdout)
    rerun = next(r["name"] for r in listed if r["name"] != "chain")
    assert rerun.startswith("chain-rerun-")
    with RunStore(home) as store:
        record = store.get_run(rerun)
        ran = {tr.pipeline_task for tr in store.taskruns(rerun)}
        events = [e.reason for e in store.events(rerun)]
    assert (record.state, record.reason) == ("Succeeded", "Succeeded")
    assert ran == {"b", "c"}
    assert "RerunFromFailed" in events


def test_plain_rerun_runs_everything_again(tmp_path: Path) -> None:
    home, host = tmp_path / "home", tmp_path / "host"
    host.mkdir()
    (host / "marker").touch()
    (host / "c-ok").touch()
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    assert cli("run", "-q", "-f", path, "-w", f"host={host}", "--home", home).returncode == 0
    refused = cli("runs", "rerun", "chain", "--from-failed", "--home", home)
    assert refused.returncode == 4  # Conflict: nothing failed
    again = cli("runs", "rerun", "chain", "-q", "--home", home)
    assert again.returncode == 0, again.stderr
    assert (host / "a-count").read_text() == "ran\nran\n"


def test_rerun_of_a_rerun_still_reuses_the_first_successes(tmp_path: Path) -> None:
    home, host = tmp_path / "home", tmp_path / "host"
    host.mkdir()
    path = tmp_path / "chain.yaml"
    path.write_text(CHAIN)
    assert cli("run", "-q", "-f", path, "-w", f"host={host}", "--home", home).returncode == 1  # b fails
    (host / "marker").touch()
    assert cli("runs", "rerun", "chain", "-q", "--from-failed", "--home", home).returncode == 1  # c fails
    first_rerun = next(
        r["name"]
        for r in json.loads(cli("runs", "list", "-o", "json", "--home", home).stdout)
        if r["name"] != "chain"
    )
    (host / "c-ok").touch()
    done = cli("runs", "rerun", first_rerun, "--from-failed", "--home", home)
    assert done.returncode == 0, done.stderr
    assert "c got b-tok-chain" in done.stdout
    assert (host / "a-count").read_text() == "ran\n"  # only in the first run
    assert (host / "c-count").read_text() == "ran\nran\n"  # failed once, then succeeded
