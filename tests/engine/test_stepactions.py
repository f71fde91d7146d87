"""StepActions and the other per-step features, through real runs: step `ref` with params (defaults, types,
task params, object merging), StepAction and step results (`$(step.results.R.path)`, `$(steps.S.results.R)`,
Task results fed from step results), the stepTemplate on StepAction steps, step `when`, and
stdoutConfig/stderrConfig; refusals at creation (missing StepAction, wrong step params, ref with image)."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, cli, make_engine, submit_yaml
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import Sandbox
from retrain.errors import InvalidInput, InvalidInputs
from retrain.tekton.loader import load_text
from retrain.tekton.validation import validate_object

ACTION = """
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: report
spec:
  image: busybox
  params:
    - name: word
      default: "the default"
    - name: derived
      default: "from $(params.word)"
    - name: items
      type: array
      default: [a, b]
    - name: conf
      type: object
      properties: {k1: {type: string}, k2: {type: string}}
      default: {k1: d1, k2: d2}
  results:
    - name: said
  env:
    - name: WORD
      value: $(params.word)
    - name: DERIVED
      value: $(params.derived)
    - name: K1
      value: $(params.conf.k1)
    - name: K2
      value: $(params.conf.k2)
  workingDir: /workspace/actiondir
  command: [sh, -c]
  args:
    - >-
      echo "word=$WORD derived=$DERIVED k=$K1,$K2 args=$0,$1 pwd=$(pwd) tpl=$FROM_TEMPLATE";
      printf "$WORD" > $(step.results.said.path)
    - $(params.items[*])
"""

TASKRUN = (
    ACTION
    + """
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: actions
spec:
  params:
    - name: given
      value: from the run
  taskSpec:
    params:
      - name: given
      - name: conf
        type: object
        properties: {k2: {type: string}}
        default: {k2: task-k2}
    results:
      - name: copied
        value: $(steps.second.results.said)
    stepTemplate:
      env:
        - name: FROM_TEMPLATE
          value: template
    steps:
      - name: first
        ref: {name: report}
      - name: second
        ref: {name: report}
        params:
          - name: word
            value: $(params.given)
          - name: items
            value: [x, "y z"]
          - name: conf
            value: $(params.conf[*])
"""
)


def test_stepaction_params_defaults_template_and_results(run: RunYaml) -> None:
    ran = run(TASKRUN)
    assert ran.result.succeeded, ran.result.message
    first, second = ran.output("actions")
    assert first.startswith("word=the default derived=from the default k=d1,d2 args=a,b")
    # an object param keeps the default's keys the step does not give (k1); task params reach step params
    assert second.startswith("word=from the run derived=from from the run k=d1,task-k2 args=x,y z")
    assert first.endswith("tpl=template")  # the stepTemplate applies to StepAction steps
    assert "pwd=/workspace/actiondir" in first or "pwd=/" in first  # host mode has no container paths
    assert ran.results() == {"copied": "from the run"}  # a Task result fed from a step result
    assert [s["name"] for s in ran.status["steps"]] == ["first", "second"]
    shown = ran.status["taskSpec"]["steps"]  # the status holds the resolved steps, as Tekton's does
    assert "ref" not in shown[1] and shown[1]["args"][1:] == ["x", "y z"]


PASSING = """
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: consume
spec:
  image: bash
  params:
    - name: list
      type: array
    - name: one
    - name: obj
      type: object
      properties: {url: {type: string}, digest: {type: string}}
  env:
    - name: ONE
      value: $(params.one)
  command: [sh, -c, 'echo "all=$1,$2 first=$3 url=$4 digest=$5 one=$ONE"', sh]
  args: ["$(params.list[*])", "$(params.list[0])", "$(params.obj.url)", "$(params.obj.digest)"]
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: passing
spec:
  taskSpec:
    steps:
      - name: produce
        image: busybox
        results:
          - name: list
            type: array
          - name: one
          - name: obj
            type: object
            properties: {url: {type: string}, digest: {type: string}}
        script: |
          printf '["i1", "i2"]' > $(step.results.list.path)
          printf 'single' > $(step.results.one.path)
          printf '{"url": "ar.com", "digest": "sha1"}' > $(step.results.obj.path)
      - name: use
        ref: {name: consume}
        params:
          - {name: list, value: "$(steps.produce.results.list[*])"}
          - {name: one, value: $(steps.produce.results.one)}
          - {name: obj, value: "$(steps.produce.results.obj[*])"}
      - name: gate
        image: busybox
        when:
          - {input: $(steps.produce.results.one), operator: in, values: [other]}
        script: echo should not run
      - name: after
        image: busybox
        script: echo after
"""


def test_step_results_reach_later_steps_and_when_skips_a_step(run: RunYaml) -> None:
    ran = run(PASSING)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("passing") == ["all=i1,i2 first=i1 url=ar.com digest=sha1 one=single", "after"]
    steps = {s["name"]: s for s in ran.status["steps"]}
    # Tekton records a step skipped by its `when` as exited 0 with termination reason Skipped
    assert steps["gate"]["terminated"]["exitCode"] == 0
    assert steps["gate"]["terminationReason"] == "Skipped"
    assert steps["after"]["terminationReason"] == "Completed"
    # each step's own results are in its state, typed as declared (Tekton's StepState.results)
    assert steps["produce"]["results"] == [
        {"name": "list", "type": "array", "value": ["i1", "i2"]},
        {"name": "one", "type": "string", "value": "single"},
        {"name": "obj", "type": "object", "value": {"url": "ar.com", "digest": "sha1"}},
    ]
    assert "results" not in steps["after"]


STDIO = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: stdio
spec:
  workspaces:
    - name: data
      emptyDir: {}
  taskSpec:
    workspaces:
      - name: data
    results:
      - name: out
      - name: combined
    steps:
      - name: split
        image: bash
        script: echo to-out; echo to-err >&2
        stdoutConfig:
          path: $(results.out.path)
        stderrConfig:
          path: $(workspaces.data.path)/sub/err.txt
      - name: both
        image: bash
        onError: continue
        script: echo first; echo second >&2; exit 3
        stdoutConfig:
          path: $(results.combined.path)
        stderrConfig:
          path: $(results.combined.path)
      - name: read
        image: bash
        script: cat $(workspaces.data.path)/sub/err.txt
"""


def test_stdout_and_stderr_config_write_files_and_results(run: RunYaml) -> None:
    ran = run(STDIO)
    assert ran.result.succeeded, ran.result.message
    assert ran.results()["out"] == "to-out\n"
    assert sorted(ran.results()["combined"].splitlines()) == ["first", "second"]
    # the output still reaches the step's log; the exit code is the step's own
    assert sorted(ran.output("stdio")[:2]) == ["to-err", "to-out"]
    assert ran.output("stdio")[-1] == "to-err"
    both = {s["name"]: s for s in ran.status["steps"]}["both"]
    assert both["terminated"]["exitCode"] == 3


MISSING = """
apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata:
  name: greet
spec:
  image: busybox
  params:
    - name: who
  env: [{name: WHO, value: $(params.who)}]
  script: echo "$WHO"
---
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: refs
spec:
  taskSpec:
    steps:
      - name: s
        ref: {name: STEP_REF}
        params: PARAMS
"""


@pytest.mark.parametrize(
    ("ref", "params", "expected"),
    [
        ("greeet", "[{name: who, value: x}]", "which is not loaded"),
        ("greet", "[]", "does not give StepAction \"greet\" the params it requires: ['who']"),
        ("greet", "[{name: who, value: x}, {name: extra, value: y}]", "does not declare: ['extra']"),
    ],
)
def test_bad_step_refs_are_refused_before_anything_runs(
    home: Path, sandbox: Sandbox, ref: str, params: str, expected: str
) -> None:
    engine, _ = make_engine(home, sandbox)
    text = MISSING.replace("STEP_REF", ref).replace("PARAMS", params)
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "TaskRunResolutionFailed"
    assert expected in caught.value.detail
    if ref == "greeet":
        assert caught.value.hint == 'did you mean "greet"?'
    assert engine.store.list_runs() == []


def test_a_missing_stepaction_in_a_pipeline_is_refused_at_creation(home: Path, sandbox: Sandbox) -> None:
    engine, _ = make_engine(home, sandbox)
    text = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: p
spec:
  pipelineSpec:
    tasks:
      - name: t
        taskSpec:
          steps:
            - ref: {name: nowhere}
"""
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert caught.value.reason == "PipelineValidationFailed"
    assert 'pipeline task "t" refers to StepAction "nowhere"' in caught.value.detail
    assert engine.store.list_runs() == []


def test_step_with_ref_and_its_own_container_is_invalid_with_file_and_line() -> None:
    text = """apiVersion: tekton.dev/v1
kind: Task
metadata: {name: t}
spec:
  steps:
    - name: s
      ref: {name: a}
      image: busybox
      script: echo
    - name: plain
      image: busybox
      params: [{name: p, value: v}]
      script: echo
    - name: late
      image: busybox
      script: echo $(steps.plain.results.r)
"""
    (doc,) = load_text(text, "t.yaml").documents
    problems = validate_object(doc.obj, where=doc.source)
    found = {(p.location.line if p.location else None, p.message) for p in problems}
    assert (8, "image cannot be used with ref (the StepAction gives it)") in found
    assert (9, "script cannot be used with ref (the StepAction gives it)") in found
    assert (12, "params cannot be used without ref") in found
    message = "stepResult substitutions are only allowed in env, command and args, not in script"
    assert (16, message) in found


def test_stepaction_api_versions() -> None:
    good = "apiVersion: tekton.dev/{v}\nkind: StepAction\nmetadata: {{name: a}}\nspec: {{image: busybox}}\n"
    for version in ("v1beta1", "v1alpha1"):
        (doc,) = load_text(good.format(v=version)).documents
        assert doc.obj.kind == "StepAction"
    with pytest.raises((InvalidInput, InvalidInputs)) as caught:
        load_text(good.format(v="v1"), "a.yaml")
    assert "StepAction uses apiVersion tekton.dev/v1" in str(caught.value)
    assert "tekton.dev/v1beta1" in str(caught.value)


def test_a_rerun_runs_the_stepactions_the_run_resolved(tmp_path: Path) -> None:
    """`runs rerun` in a later process, without the files: the StepAction is kept with the run."""
    home = tmp_path / "home"
    path = tmp_path / "run.yaml"
    path.write_text(PASSING)
    first = cli("run", "-q", "-f", path, "--home", home, timeout=120)
    assert first.returncode == 0, first.stderr
    again = cli("runs", "rerun", "passing", "--home", home, timeout=120)
    assert again.returncode == 0, again.stderr
    assert "all=i1,i2 first=i1 url=ar.com digest=sha1 one=single" in again.stdout


PIPELINE = """
apiVersion: tekton.dev/v1alpha1
kind: StepAction
metadata:
  name: echo-it
spec:
  image: busybox
  params:
    - name: text
  results:
    - name: echoed
  env: [{name: TEXT, value: $(params.text)}]
  script: printf '%s' "$TEXT" | tee $(step.results.echoed.path)
---
apiVersion: tekton.dev/v1
kind: Task
metadata:
  name: uses-action
spec:
  params:
    - name: message
  results:
    - name: out
      value: $(steps.say.results.echoed)
  steps:
    - name: say
      ref: {name: echo-it}
      params:
        - {name: text, value: "task got $(params.message)"}
---
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: piped
spec:
  params:
    - {name: msg, value: hello}
  pipelineSpec:
    params:
      - name: msg
    results:
      - name: final
        value: $(tasks.second.results.out)
    tasks:
      - name: first
        taskRef: {name: uses-action}
        params:
          - {name: message, value: $(params.msg)}
      - name: second
        taskRef: {name: uses-action}
        params:
          - {name: message, value: $(tasks.first.results.out)}
"""


def test_stepactions_in_tasks_referenced_by_a_pipeline(run: RunYaml) -> None:
    ran = run(PIPELINE)
    assert ran.result.succeeded, ran.result.message
    assert ran.results() == {"final": "task got task got hello"}


def test_a_stepaction_is_validated_when_loaded() -> None:
    text = """apiVersion: tekton.dev/v1beta1
kind: StepAction
metadata: {name: a}
spec:
  params:
    - name: known
  script: echo $(params.known)
  args: ["$(params.unknown)"]
"""
    (doc,) = load_text(text, "a.yaml").documents
    problems = validate_object(doc.obj, where=doc.source)
    found = {(p.location.line if p.location else None, p.message) for p in problems}
    assert (4, "a StepAction needs an image") in found
    assert (7, "param substitution in a StepAction's script is not allowed (Tekton refuses it)") in found
    assert (8, "$(params.unknown) names a param the StepAction does not declare") in found
    assert len(found) == 3
