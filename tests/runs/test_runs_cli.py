"""`retrain runs list|show|logs|rerun|prune` through the real CLI, on real runs of small pipelines started
from files: the describe view, the failure with host paths and the command for the whole log, model and
trigger columns, and a --from-failed re-run in a process that never saw the files."""

from __future__ import annotations

import json
import shlex
import subprocess
from pathlib import Path

import pytest

from fixtures.engine_helpers import cli
from retrain.app.runs import failure_of
from retrain.runs.store import RunStore

FILES = """
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: greet}
spec:
  params: [{name: who}]
  results: [{name: greeting}]
  steps:
    - name: say
      image: busybox
      script: |
        echo "hello $(params.who)"
        printf "hello $(params.who)" > $(results.greeting.path)
---
apiVersion: tekton.dev/v1
kind: Task
metadata: {name: needs-ok}
spec:
  workspaces: [{name: data}]
  steps:
    - name: check
      image: busybox
      script: |
        for i in $(seq 1 30); do echo "line $i"; done
        if [ ! -f $(workspaces.data.path)/ok ]; then echo "missing $(workspaces.data.path)/ok"; exit 3; fi
        echo "found it"
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata: {name: demo}
spec:
  params: [{name: who, default: world}, {name: model-name, default: none}]
  workspaces: [{name: data}]
  results: [{name: said, value: $(tasks.first.results.greeting)}]
  tasks:
    - name: first
      taskRef: {name: greet}
      params: [{name: who, value: $(params.who)}]
    - name: second
      runAfter: [first]
      taskRef: {name: needs-ok}
      workspaces: [{name: data}]
    - name: third
      runAfter: [second]
      taskRef: {name: greet}
      params: [{name: who, value: third}]
  finally:
    - name: last
      taskRef: {name: greet}
      params: [{name: who, value: $(tasks.status)}]
"""

RUN = """
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: {name}
  labels: {labels}
spec:
  pipelineRef: {{name: demo}}
  params: [{params}]
  workspaces: [{{name: data, emptyDir: {{}}}}]
"""


def start(tmp: Path, home: Path, name: str, *, labels: str = "{}", params: str = "") -> int:
    path = tmp / f"{name}.yaml"
    path.write_text(FILES + RUN.format(name=name, labels=labels, params=params))
    return cli("run", "-q", "-f", path, "--home", home).returncode


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three failed runs of `demo`: as `retrain trigger` labels them, with a model-name param, and bare."""
    tmp = tmp_path_factory.mktemp("runs-cli")
    home = tmp / "home"
    labels = '{"retrain.dev/model": anomaly-detector, "retrain.dev/trigger": cron}'
    assert start(tmp, home, "by-cron", labels=labels) == 1
    assert start(tmp, home, "by-hand", params="{name: model-name, value: predictive-analytics}") == 1
    assert start(tmp, home, "bare", params="{name: who, value: bob}") == 1
    return home


def runs(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return cli("runs", *args)


def test_show_describes_the_run_and_why_it_failed(home: Path) -> None:
    done = runs("show", "by-hand", "--home", home)
    assert done.returncode == 0, done.stderr
    text = done.stdout
    assert "Model:     predictive-analytics" in text
    assert "Status:    Failed" in text
    assert "  model-name  predictive-analytics" in text  # params
    rows = {line.split()[0]: line.split() for line in text.splitlines() if line.startswith("  ")}
    assert rows["first"][1:3] == ["by-hand-first", "Succeeded"]
    assert rows["second"][1:3] == ["by-hand-second", "Failed"]
    assert rows["third"][1:] == ["-", "Skipped", "-", "PipelineRun", "was", "stopping"]
    assert rows["last"][1:4] == ["(finally)", "by-hand-last", "Succeeded"]
    assert "  said            hello world" in text  # the pipeline's result
    assert "  last.greeting   hello Failed" in text  # a task's result
    assert 'Failed in task second, step check: Failed: "step-check" exited with code 3' in text
    tail = text.split("Last 15 log lines of check:\n", 1)[1].splitlines()[:15]
    assert tail[0] == "  line 17" and tail[13] == "  line 30"
    # The sandbox's /workspace/data is shown as the host directory the workspace was bound to.
    volume = home / "runs" / "by-hand" / "volumes" / "dir-data"
    assert tail[14] == f"  missing {volume.absolute()}/ok"
    assert "/workspace" not in text


def test_the_whole_log_command_shown_works_as_printed(home: Path) -> None:
    failure = failure_of(RunStore(home), "by-hand")
    assert failure is not None
    assert (failure.task, failure.taskrun, failure.step, failure.reason) == (
        "second",
        "by-hand-second",
        "check",
        "Failed",
    )
    words = shlex.split(failure.log_command)
    assert words[:4] == ["retrain", "runs", "logs", "by-hand"]
    done = cli(*words[1:])
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert len(lines) == 31 and lines[0] == "[by-hand-second/check] line 1"
    assert lines[-1].startswith("[by-hand-second/check] missing ")


def test_logs_narrowed_to_a_task_and_step_and_as_json(home: Path) -> None:
    done = runs("logs", "by-cron", "--task", "first", "-o", "json", "--home", home)
    assert done.returncode == 0, done.stderr
    entries = [json.loads(line) for line in done.stdout.splitlines()]
    assert entries == [{"taskrun": "by-cron-first", "step": "say", "retry": 0, "line": "hello world"}]
    unknown = runs("logs", "by-cron", "--task", "secnd", "--home", home)
    assert unknown.returncode == 3
    assert "no task 'secnd'" in unknown.stderr and "did you mean 'second'?" in unknown.stderr


def test_list_shows_model_and_trigger_and_filters(home: Path) -> None:
    done = runs("list", "--home", home)
    assert done.returncode == 0, done.stderr
    table = [line.split() for line in done.stdout.splitlines()]
    assert table[0][:3] == ["NAME", "MODEL", "TRIGGER"]
    assert [row[:3] for row in table[1:]] == [
        ["bare", "-", "-"],
        ["by-hand", "predictive-analytics", "-"],
        ["by-cron", "anomaly-detector", "cron"],
    ]
    last = runs("list", "--last", "1", "-o", "json", "--home", home)
    assert [r["name"] for r in json.loads(last.stdout)] == ["bare"]
    by_model = runs("list", "--model", "anomaly-detector", "-o", "json", "--home", home)
    assert [(r["name"], r["trigger"], r["state"]) for r in json.loads(by_model.stdout)] == [
        ("by-cron", "cron", "Failed")
    ]
    by_trigger = runs("list", "--trigger", "manual", "-o", "json", "--home", home)
    assert json.loads(by_trigger.stdout) == []
    bad = runs("list", "--state", "Done", "--home", home)
    assert bad.returncode == 2 and "unknown state 'Done'" in bad.stderr


def test_show_o_json_keeps_the_tekton_documents(home: Path) -> None:
    done = runs("show", "bare", "-o", "json", "--home", home)
    assert done.returncode == 0, done.stderr
    docs = json.loads(done.stdout)
    assert [d["kind"] for d in docs] == ["PipelineRun", "TaskRun", "TaskRun", "TaskRun"]
    assert docs[0]["status"]["conditions"][0]["reason"] == "Failed"
    assert docs[0]["status"]["skippedTasks"] == [{"name": "third", "reason": "PipelineRun was stopping"}]


def test_rerun_from_failed_of_a_run_started_from_files(home: Path) -> None:
    """The re-run runs in a process that never loaded the files: the store kept the Pipeline and Tasks."""
    (home / "runs" / "bare" / "volumes" / "dir-data" / "ok").touch()  # what the failed task lacked
    done = runs("rerun", "bare", "--from-failed", "-o", "json", "--home", home)
    assert done.returncode == 0, done.stderr
    outcome = json.loads(done.stdout)
    assert (outcome["rerun_of"], outcome["succeeded"], outcome["failure"]) == ("bare", True, None)
    shown = runs("show", outcome["run"], "--home", home).stdout
    assert "Re-run of: bare" in shown
    rows = {line.split()[0]: line.split() for line in shown.splitlines() if line.startswith("  ")}
    assert rows["first"][1:3] == ["-", "Reused"]  # not run again
    assert rows["second"][2] == "Succeeded" and rows["third"][2] == "Succeeded"
    assert "  first.greeting  hello bob" in shown  # the reused task's result, from the failed run
    assert failure_of(RunStore(home), outcome["run"]) is None


def test_a_run_that_failed_before_any_step_names_no_task(tmp_path: Path) -> None:
    path = tmp_path / "bad-ref.yaml"
    path.write_text(
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata: {name: bad-ref}\nspec:\n  pipelineSpec:\n"
        "    tasks:\n      - name: a\n        taskSpec:\n          results: [{name: r}]\n"
        "          steps: [{name: s, image: busybox, script: 'true'}]\n"
        "      - name: b\n        params: [{name: x, value: $(tasks.a.results.r)}]\n"
        "        taskSpec:\n          params: [{name: x}]\n"
        "          steps: [{name: s, image: busybox, script: 'echo $(params.x)'}]\n"
    )
    home = tmp_path / "home"
    assert cli("run", "-q", "-f", path, "--home", home).returncode == 1
    failure = failure_of(RunStore(home), "bad-ref")
    assert failure is not None
    assert (failure.task, failure.step, failure.reason) == (None, None, "InvalidTaskResultReference")
    assert "Could not find result with name r for task a" in failure.message
    assert failure.log_command == f"retrain runs logs bad-ref --home {home.absolute()}"
    shown = runs("show", "bad-ref", "--home", home)
    assert "Failed: InvalidTaskResultReference: Invalid task result reference" in shown.stdout


def test_prune_and_cancel_report_json(tmp_path: Path) -> None:
    home = tmp_path / "home"
    assert start(tmp_path, home, "one") == 1
    missing = runs("cancel", "nope", "-o", "json", "--home", home)
    assert missing.returncode == 3
    done = runs("prune", "--keep", "0", "-o", "json", "--home", home)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"pruned": ["one"]}
