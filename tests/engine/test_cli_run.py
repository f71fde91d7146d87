"""The engine through the real CLI: `retrain run`, `runs show -o yaml` against Tekton's CRD schemas,
`runs logs`, bad input (exit 2, nothing recorded) and recovery of runs whose engine died."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from fixtures.engine_helpers import SHARED, cli
from retrain.runs.store import RunStore

CRDS = SHARED / "tekton" / "crds-v1.15.0"

PIPELINE = """
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: greet
spec:
  params:
    - name: who
  results:
    - name: greeting
  steps:
    - name: say
      image: busybox
      script: |
        echo "hello $(params.who)"
        printf "hello $(params.who)" > $(results.greeting.path)
---
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: greetings
spec:
  params:
    - name: who
      default: world
  results:
    - name: said
      value: $(tasks.first.results.greeting)
  tasks:
    - name: first
      taskRef: {name: greet}
      params: [{name: who, value: $(params.who)}]
    - name: skipped
      when:
        - {input: $(params.who), operator: notin, values: [world]}
      taskRef: {name: greet}
      params: [{name: who, value: nobody}]
  finally:
    - name: last
      taskRef: {name: greet}
      params: [{name: who, value: "$(tasks.first.status)"}]
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: greetings-run
  labels: {team: ml}
spec:
  pipelineRef: {name: greetings}
"""


@pytest.fixture(scope="module")
def shown(
    tmp_path_factory: pytest.TempPathFactory,
) -> tuple[Path, list[dict[str, Any]], subprocess.CompletedProcess[str]]:
    """One run of PIPELINE through `retrain run`, and what `runs show -o yaml` prints for it."""
    tmp = tmp_path_factory.mktemp("cli")
    path = tmp / "greetings.yaml"
    path.write_text(PIPELINE)
    home = tmp / "home"
    done = cli("run", "-f", path, "--home", home)
    assert done.returncode == 0, done.stderr
    show = cli("runs", "show", "greetings-run", "-o", "yaml", "--home", home)
    assert show.returncode == 0, show.stderr
    return home, list(yaml.safe_load_all(show.stdout)), done


def test_run_streams_prefixed_logs_and_exits_0(
    shown: tuple[Path, list[dict[str, Any]], subprocess.CompletedProcess[str]],
) -> None:
    _, _, done = shown
    assert "[greetings-run-first/say] hello world" in done.stdout.splitlines()
    assert "[greetings-run-last/say] hello Succeeded" in done.stdout.splitlines()
    assert "PipelineRun greetings-run: Succeeded=True reason=Completed" in done.stderr


def test_show_prints_a_tekton_shaped_pipelinerun_then_its_taskruns(
    shown: tuple[Path, list[dict[str, Any]], subprocess.CompletedProcess[str]],
) -> None:
    _, docs, _ = shown
    pr = docs[0]
    assert (pr["apiVersion"], pr["kind"], pr["metadata"]["name"]) == (
        "tekton.dev/v1",
        "PipelineRun",
        "greetings-run",
    )
    assert (
        pr["spec"]["pipelineRef"] == {"name": "greetings"} or pr["spec"]["pipelineRef"]["name"] == "greetings"
    )
    status = pr["status"]
    cond = status["conditions"][0]
    assert (cond["type"], cond["status"], cond["reason"]) == ("Succeeded", "True", "Completed")
    assert cond["message"] == "Tasks Completed: 2 (Failed: 0, Cancelled 0), Skipped: 1"
    assert status["startTime"] <= status["completionTime"]
    assert [(c["name"], c["pipelineTaskName"]) for c in status["childReferences"]] == [
        ("greetings-run-first", "first"),
        ("greetings-run-last", "last"),
    ]
    assert all(
        c["apiVersion"] == "tekton.dev/v1" and c["kind"] == "TaskRun" for c in status["childReferences"]
    )
    assert status["skippedTasks"] == [
        {
            "name": "skipped",
            "reason": "When Expressions evaluated to false",
            "whenExpressions": [{"input": "world", "operator": "notin", "values": ["world"]}],
        }
    ]
    assert status["results"] == [{"name": "said", "value": "hello world"}]
    taskruns = docs[1:]
    assert [d["metadata"]["name"] for d in taskruns] == ["greetings-run-first", "greetings-run-last"]
    first = taskruns[0]
    assert first["kind"] == "TaskRun"
    assert first["metadata"]["labels"]["tekton.dev/pipelineTask"] == "first"
    assert first["status"]["results"] == [{"name": "greeting", "type": "string", "value": "hello world"}]
    assert first["status"]["steps"][0]["terminated"]["exitCode"] == 0
    assert first["status"]["podName"] == "greetings-run-first-pod"


def _strict(schema: Any) -> Any:
    """The CRD schema with unknown fields forbidden where Kubernetes would prune them, so that a field the
    real API server would silently drop fails the test."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if (
            out.get("type") == "object"
            and "properties" in out
            and not out.get("x-kubernetes-preserve-unknown-fields")
            and "additionalProperties" not in out
        ):
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


def _crd_schema(kind: str) -> dict[str, Any]:
    crd = yaml.safe_load((CRDS / f"300-{kind.lower()}.yaml").read_text())
    version = next(v for v in crd["spec"]["versions"] if v["name"] == "v1")
    schema: dict[str, Any] = _strict(version["schema"]["openAPIV3Schema"])
    return schema


@pytest.mark.skipif(not CRDS.is_dir(), reason="../shared/tekton/crds-v1.15.0 is not here")
def test_shown_documents_validate_against_the_tekton_crds(
    shown: tuple[Path, list[dict[str, Any]], subprocess.CompletedProcess[str]],
) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    _, docs, _ = shown
    problems: list[str] = []
    for doc in docs:
        validator = jsonschema.Draft7Validator(_crd_schema(doc["kind"]))
        for error in validator.iter_errors(doc):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{doc['kind']} {doc['metadata']['name']}: {where}: {error.message}")
    assert problems == []


def test_logs_of_a_finished_run(
    shown: tuple[Path, list[dict[str, Any]], subprocess.CompletedProcess[str]],
) -> None:
    home, _, _ = shown
    done = cli("runs", "logs", "greetings-run", "--home", home)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == [
        "[greetings-run-first/say] hello world",
        "[greetings-run-last/say] hello Succeeded",
    ]


def test_a_failed_run_exits_1(tmp_path: Path) -> None:
    path = tmp_path / "fail.yaml"
    path.write_text(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: fails}\n"
        "spec:\n  taskSpec:\n    steps: [{image: busybox, script: 'exit 4'}]\n"
    )
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 1
    assert 'TaskRun fails: Succeeded=False reason=Failed: "step-unnamed-0" exited with code 4' in done.stderr


# --- bad input ---------------------------------------------------------------------------------------------

CYCLE = """apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: bad-run
spec:
  pipelineSpec:
    tasks:
      - name: a
        runAfter: [b]
        taskSpec: {steps: [{image: busybox, script: echo}]}
      - name: b
        runAfter: [a]
        taskSpec: {steps: [{image: busybox, script: echo}]}
"""

BAD_INPUTS = {
    "malformed": (
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: bad-run\nspec: [\n",
        ["bad.yaml:"],
    ),
    "unknown-field": (
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata:\n  name: bad-run\nspec:\n  taskSpec:\n"
        "    steps:\n      - image: busybox\n        scrpit: echo hi\n",
        ["bad.yaml:9", "scrpit", "did you mean 'script'"],
    ),
    "missing-param": (
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: bad-run\nspec:\n  pipelineSpec:\n"
        "    params: [{name: needed}]\n    tasks:\n      - name: t\n"
        "        taskSpec: {steps: [{image: busybox, script: 'echo $(params.needed)'}]}\n",
        ["ParameterMissing", "needed"],
    ),
    "cycle": (CYCLE, ["bad.yaml:", "cycle"]),
    "missing-task": (
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata:\n  name: bad-run\nspec:\n  taskRef:\n"
        "    name: nothere\n",
        ["bad.yaml:6: spec.taskRef: CouldntGetTask", 'Task "nothere" not found'],
    ),
    "field-of-the-named-pipeline": (
        "apiVersion: tekton.dev/v1\nkind: Pipeline\nmetadata: {name: outer}\nspec:\n  tasks:\n"
        "    - name: child\n      pipelineSpec:\n"
        "        tasks: [{name: t, taskSpec: {steps: [{image: busybox, script: echo}]}}]\n---\n"
        "apiVersion: tekton.dev/v1\nkind: PipelineRun\nmetadata:\n  name: bad-run\nspec:\n"
        "  pipelineRef: {name: outer}\n",
        ["bad.yaml:7: spec.tasks[0].pipelineSpec", 'requires "enable-api-fields"'],
    ),
    "missing-configmap": (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: app-config}\ndata: {greeting: hello}\n---\n"
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata:\n  name: bad-run\nspec:\n  workspaces:\n"
        "    - name: config\n      configMap:\n        name: app-confg\n"
        "  taskSpec:\n    workspaces: [{name: config}]\n    steps: [{image: busybox, script: echo}]\n",
        ["bad.yaml:14: spec.workspaces[0].configMap.name", 'ConfigMap "app-confg"', "app-config"],
    ),
    "bad-duration": (
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata:\n  name: bad-run\nspec:\n  taskSpec:\n"
        "    steps:\n      - image: busybox\n        script: echo\n        timeout: forever\n",
        ["bad.yaml:10", "forever"],
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_INPUTS))
def test_bad_input_exits_2_and_records_nothing(tmp_path: Path, case: str) -> None:
    text, needles = BAD_INPUTS[case]
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    home = tmp_path / "home"
    done = cli("run", "-q", "-f", path, "--home", home)
    assert done.returncode == 2, (done.stdout, done.stderr)
    assert done.stderr.startswith("error: "), done.stderr
    for needle in needles:
        assert needle in done.stderr
    listed = cli("runs", "list", "-o", "json", "--home", home)
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout) == []
    assert not (home / "runs" / "bad-run").exists()


# --- crash recovery ---------------------------------------------------------------------------------------


def test_a_run_whose_engine_died_is_failed_at_the_next_cli_start(tmp_path: Path) -> None:
    home = tmp_path / "home"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True
    )
    dead_pid = int(dead.stdout)
    with RunStore(home) as store:
        store.create_run(
            name="orphan", kind="PipelineRun", manifest={"kind": "PipelineRun"}, engine_pid=dead_pid
        )
        store.mark_started("orphan", engine_pid=dead_pid)
        store.create_run(
            name="alive", kind="PipelineRun", manifest={"kind": "PipelineRun"}, engine_pid=os.getpid()
        )
        store.mark_started("alive", engine_pid=os.getpid())
    done = cli("runs", "list", "-o", "json", "--home", home)
    assert done.returncode == 0, done.stderr
    assert "run orphan was interrupted" in done.stderr
    states = {r["name"]: (r["state"], r["reason"]) for r in json.loads(done.stdout)}
    assert states == {"orphan": ("Failed", "EngineInterrupted"), "alive": ("Running", None)}
    with RunStore(home) as store:
        cond = store.get_run("orphan").status["conditions"][0]
    assert (cond["status"], cond["reason"]) == ("False", "EngineInterrupted")
    assert str(dead_pid) in cond["message"]


def test_run_o_json_reports_each_outcome_and_the_failure(tmp_path: Path) -> None:
    path = tmp_path / "fail.yaml"
    path.write_text(
        "apiVersion: tekton.dev/v1\nkind: TaskRun\nmetadata: {name: fails-json}\n"
        "spec:\n  taskSpec:\n    steps: [{name: boom, image: busybox, script: 'echo bad; exit 4'}]\n"
    )
    done = cli("run", "-o", "json", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 1, done.stderr
    (doc,) = json.loads(done.stdout)  # step logs are not mixed into the JSON
    assert (doc["run"], doc["kind"], doc["succeeded"], doc["reason"]) == (
        "fails-json",
        "TaskRun",
        False,
        "Failed",
    )
    failure = doc["failure"]
    assert (failure["task"], failure["taskrun"], failure["step"]) == (None, "fails-json", "boom")
    assert failure["log_tail"] == ["bad"]
    assert failure["message"] == '"step-boom" exited with code 4'
