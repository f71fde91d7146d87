"""Params (string, array, object), defaults, propagation, indexing, and context variables, as in Tekton."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, make_engine, submit_yaml
from retrain.engine.reasons import RunRejected
from retrain.engine.sandbox import detect_sandbox
from retrain.runs.store import RunStore

PARAMS_PIPELINE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: params-run
spec:
  params:
    - name: words
      value: [alpha, beta, gamma]
    - name: obj
      value: {url: "https://example.com", rev: main}
  pipelineSpec:
    params:
      - name: greeting
        default: hello
      - name: words
        type: array
      - name: obj
        type: object
        properties: {url: {}, rev: {}, depth: {}}
        default: {url: "x", rev: "y", depth: "1"}
    tasks:
      - name: show
        params:
          - name: g
            value: $(params.greeting)
          - name: w
            value: $(params.words[*])
          - name: o
            value: $(params.obj[*])
        taskSpec:
          params:
            - name: g
            - name: w
              type: array
            - name: o
              type: object
              properties: {url: {}, rev: {}, depth: {}}
          steps:
            - name: args
              image: busybox
              command: [sh, -c, 'printf "%s|" "$@"; echo', sh]
              args: ["$(params.w[*])", "first=$(params.w[0])", "second=$(params.w[1])"]
            - name: scalars
              image: busybox
              script: |
                echo "g=$(params.g) url=$(params.o.url) rev=$(params.o.rev) depth=$(params.o.depth)"
      - name: propagated
        taskSpec:
          steps:
            - name: echo
              image: busybox
              script: echo "prop=$(params.greeting) last=$(params.words[2]) url=$(params.obj.url)"
"""


def test_string_array_object_params_defaults_and_propagation(run: RunYaml) -> None:
    ran = run(PARAMS_PIPELINE)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("params-run-show") == [
        "alpha|beta|gamma|first=alpha|second=beta|",
        "g=hello url=https://example.com rev=main depth=1",  # object default keys fill the gaps
    ]
    assert ran.output("params-run-propagated") == ["prop=hello last=gamma url=https://example.com"]


CONTEXT = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: ctx-run
spec:
  pipelineSpec:
    tasks:
      - name: ctx
        retries: 3
        taskSpec:
          steps:
            - name: echo
              image: busybox
              script: |
                echo "pr=$(context.pipelineRun.name) tr=$(context.taskRun.name) \\
                retry=$(context.task.retry-count)"
                echo "retries=$(context.pipelineTask.retries) pipeline=$(context.pipeline.name) \\
                ns=$(context.pipelineRun.namespace)"
"""


def test_context_variables(run: RunYaml) -> None:
    ran = run(CONTEXT)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("ctx-run-ctx") == [
        "pr=ctx-run tr=ctx-run-ctx retry=0",
        "retries=3 pipeline=ctx-run ns=default",
    ]


TASKRUN_CONTEXT = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: tr-ctx
spec:
  params:
    - name: extra
      value: given
  taskSpec:
    params:
      - name: n
        default: "7"
    steps:
      - name: echo
        image: busybox
        script: echo "$(context.taskRun.name) $(params.n) $(params.extra) $(context.task.retry-count)"
"""


def test_taskrun_context_default_and_propagated_param(run: RunYaml) -> None:
    ran = run(TASKRUN_CONTEXT)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("tr-ctx") == ["tr-ctx 7 given 0"]


def _rejected(home: Path, text: str) -> RunRejected:
    engine, _ = make_engine(home, detect_sandbox())
    with pytest.raises(RunRejected) as caught:
        submit_yaml(engine, text)
    assert engine.store.list_runs() == [], "a rejected run must not be recorded"
    assert not any((home / "runs").iterdir()), "a rejected run must leave no directory"
    return caught.value


MISSING = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: missing
spec:
  pipelineSpec:
    params:
      - name: needed
      - name: other
        default: x
    tasks:
      - name: t
        taskSpec:
          steps:
            - image: busybox
              script: echo $(params.needed)
"""


def test_missing_param_is_rejected_before_anything_starts(home: Path) -> None:
    err = _rejected(home, MISSING)
    assert err.reason == "ParameterMissing"
    assert "needed" in err.detail
    assert "other" not in err.detail


MISMATCH = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: mismatch
spec:
  params:
    - name: list
      value: just-a-string
  pipelineSpec:
    params:
      - name: list
        type: array
    tasks:
      - name: t
        taskSpec:
          steps:
            - image: busybox
              script: echo hi
"""


def test_param_type_mismatch_is_rejected(home: Path) -> None:
    err = _rejected(home, MISMATCH)
    assert err.reason == "ParameterTypeMismatch"
    assert '"list"' in err.detail


OUT_OF_RANGE = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: oor
spec:
  params:
    - name: list
      value: [a, b]
  pipelineSpec:
    params:
      - name: list
        type: array
    tasks:
      - name: t
        params:
          - name: x
            value: $(params.list[2])
        taskSpec:
          params:
            - name: x
          steps:
            - image: busybox
              script: echo $(params.x)
"""


def test_array_index_out_of_range_is_rejected(home: Path) -> None:
    err = _rejected(home, OUT_OF_RANGE)
    assert err.reason == "ParamArrayIndexingInvalid"
    assert "$(params.list[2])" in err.detail


OBJECT_MISSING_KEYS = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: omk
spec:
  params:
    - name: o
      value: {url: u}
  pipelineSpec:
    params:
      - name: o
        type: object
        properties: {url: {}, rev: {}}
    tasks:
      - name: t
        taskSpec:
          steps:
            - image: busybox
              script: echo $(params.o.url)
"""


def test_object_param_missing_keys_is_rejected(home: Path) -> None:
    err = _rejected(home, OBJECT_MISSING_KEYS)
    assert err.reason == "ObjectParameterMissKeys"
    assert "rev" in err.detail


def test_a_rejected_run_leaves_the_store_usable(home: Path) -> None:
    _rejected(home, MISSING)
    with RunStore(home) as store:
        assert store.list_runs() == []


def test_a_rejected_run_with_a_taken_name_leaves_the_older_run_alone(run: RunYaml, home: Path) -> None:
    first = run(TASKRUN_CONTEXT)
    assert first.result.succeeded
    log = home / "runs" / "tr-ctx" / "logs"
    assert log.is_dir()
    engine, _ = make_engine(home, detect_sandbox())
    invalid = TASKRUN_CONTEXT.replace('        default: "7"\n', "")  # now `n` is missing
    with pytest.raises(RunRejected, match="ParameterMissing"):
        submit_yaml(engine, invalid)
    assert log.is_dir(), "the rejected run deleted the directory of the run that had its name"
    assert [r.name for r in engine.store.list_runs()] == ["tr-ctx"]


ENUM = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: enum
spec:
  params:
    - name: source
      value: carrier-pigeon
  pipelineSpec:
    params:
      - name: source
        enum: [synthetic, prometheus, hybrid]
    tasks:
      - name: t
        taskSpec:
          steps:
            - image: busybox
              script: echo $(params.source)
"""


def test_a_value_outside_the_enum_is_rejected(home: Path) -> None:
    err = _rejected(home, ENUM)
    assert err.reason == "InvalidParamValue"
    assert "carrier-pigeon" in err.detail


BARE_ARRAY = """
apiVersion: tekton.dev/v1
kind: TaskRun
metadata:
  name: bare-array
spec:
  params:
    - name: cmd
      value: [sh, -c, 'printf "%s|" "$@"; echo', sh]
  taskSpec:
    params:
      - name: cmd
        type: array
      - name: extra
        type: array
        default: [--one, "two words"]
    steps:
      - name: echo
        image: busybox
        command: ["$(params.cmd)"]
        args: ["$(params.extra)", "--last=$(params.extra[1])"]
"""


def test_an_array_param_used_whole_without_brackets_expands_in_command_and_args(run: RunYaml) -> None:
    """Tekton's kaniko catalog Task passes `- $(params.EXTRA_ARGS)` (upstream examples' pipelinerun.yaml)."""
    ran = run(BARE_ARRAY)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("bare-array") == ["--one|two words|--last=two words|"]


PROPAGATED = """
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: prop
spec:
  params:
    - name: undeclared
      value: from-run
    - name: obj
      value: {k: v}
  pipelineSpec:
    params:
      - name: who
        default: "$(context.pipelineRun.name)"
    tasks:
      - name: t
        retries: 2
        params:
          - name: r
            value: "$(context.pipelineTask.retries)"
        workspaces: [{name: ws, workspace: shared}]
        taskSpec:
          params:
            - name: r
            - name: me
              default: "$(context.taskRun.name)"
            - name: file
              default: "$(workspaces.ws.path)/f"
          workspaces: [{name: ws}]
          steps:
            - image: busybox
              script: |
                echo "u=$(params.undeclared) k=$(params.obj.k) who=$(params.who)" \\
                  "r=$(params.r) me=$(params.me)"
                echo hi > $(params.file) && cat $(workspaces.ws.path)/f
    workspaces: [{name: shared}]
  workspaces:
    - name: shared
      emptyDir: {}
"""


def test_run_params_and_context_variables_reach_inline_specs_and_defaults(run: RunYaml) -> None:
    """Tekton offers every PipelineRun param to the (inline) pipeline, declared or not; a param value gets the
    context, workspace and result variables after the params (ApplyParameters, then ApplyContexts, ...);
    `$(context.pipelineTask.retries)` is the pipeline task's retries."""
    ran = run(PROPAGATED)
    assert ran.result.succeeded, ran.result.message
    assert ran.output("prop-t") == ["u=from-run k=v who=prop r=2 me=prop-t", "hi"]
