from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from retrain.errors import InvalidInput
from retrain.tekton.loader import Document, load_files, load_text
from retrain.tekton.model import Pipeline, PipelineRun, PipelineSpec, Task, TaskSpec
from retrain.tekton.validation import (
    INVALID_GRAPH,
    Dag,
    build_dag,
    validate_object,
    validate_pipeline_spec,
    validate_task_spec,
)

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared/conformance/tekton-examples"


def load_one(text: str) -> Document:
    (doc,) = load_text(textwrap.dedent(text).lstrip("\n"), "v.yaml").documents
    return doc


def with_header(kind: str, spec: str) -> str:
    """A document of `kind` whose spec starts on line 5."""
    body = textwrap.indent(textwrap.dedent(spec).lstrip("\n"), "  ")
    return f"apiVersion: tekton.dev/v1\nkind: {kind}\nmetadata: {{name: x}}\nspec:\n{body}"


def task_problems(spec: str) -> list[tuple[int | None, str | None, str]]:
    doc = load_one(with_header("Task", spec))
    assert isinstance(doc.obj, Task)
    found = validate_task_spec(doc.obj.spec, where=doc.source, path="spec")
    return [
        (e.location.line, e.location.field, e.message) if e.location else (None, None, e.message)
        for e in found
    ]


def pipeline_problems(spec: str) -> list[InvalidInput]:
    doc = load_one(with_header("Pipeline", spec))
    assert isinstance(doc.obj, Pipeline)
    return validate_pipeline_spec(doc.obj.spec, where=doc.source, path="spec")


def messages(errors: list[InvalidInput]) -> list[str]:
    return [e.message for e in errors]


def fields(errors: list[InvalidInput]) -> list[str | None]:
    return [e.location.field if e.location else None for e in errors]


# --- tasks --------------------------------------------------------------------------------------------------

GOOD_TASK = """
params:
  - {name: model-name, default: anomaly-detector}
  - {name: flags, type: array, default: [-v]}
  - {name: cfg, type: object, properties: {url: {}}, default: {url: x}}
  - {name: my.dotted}
results:
  - name: model-version
workspaces:
  - name: models
steps:
  - name: train
    image: python
    command: [retrain, train, "$(params.flags[*])", "--cfg=$(params.cfg.url)"]
    args: ["$(params['my.dotted'])", "$(params.flags[0])"]
    timeout: 10m
    onError: $(params.model-name)
  - name: report
    script: |
      cd $(workspaces.models.path) && echo 1 > $(results.model-version.path)
      echo $(context.taskRun.name) $(date)
    onError: continue
"""


def test_good_task_has_no_problems() -> None:
    assert task_problems(GOOD_TASK) == []


def test_task_problems_have_lines_and_fields() -> None:
    got = task_problems(
        """
        params:
          - {name: a, type: array, default: x}
          - {name: a}
          - {name: 9bad}
        results: [{name: r}, {name: r}]
        workspaces: [{name: w}]
        steps:
          - name: same
            script: echo $(params.nope) $(params.a) $(workspaces.ws.path) $(results.missing.path)
            command: [sh]
            timeout: 10 minutes
            onError: ignore
          - name: same
            image: alpine
          - name: Bad_Name
            command: [echo, "x$(params.a[*])"]
            env: [{name: E, value: $(workspaces.w.size)}]
        """
    )
    assert got == [
        (6, "spec.params[0].default", "param 'a' is declared array but its default is string"),
        (7, "spec.params[1].name", "duplicate param name 'a'"),
        (8, "spec.params[2].name", "invalid param name '9bad'"),
        (9, "spec.results[1].name", "duplicate result name 'r'"),
        (13, "spec.steps[0].script", "step 'same' has both script and command"),
        (13, "spec.steps[0].script", "$(params.nope) names an undeclared param"),
        (13, "spec.steps[0].script", "array param 'a' used as a string"),
        (13, "spec.steps[0].script", "$(workspaces.ws.path) names an undeclared workspace"),
        (13, "spec.steps[0].script", "$(results.missing.path) names an undeclared result"),
        (15, "spec.steps[0].timeout", "invalid duration '10 minutes': unknown unit ' minutes'"),
        (16, "spec.steps[0].onError", "invalid onError 'ignore'; use 'continue' or 'stopAndFail'"),
        (17, "spec.steps[1].name", "duplicate step name 'same'"),
        (19, "spec.steps[2].name", "invalid step name 'Bad_Name'"),
        (20, "spec.steps[2].command[1]", "$(params.a[*]) must be a whole element of command or args"),
        (21, "spec.steps[2].env[0].value", "$(workspaces.w.size): unknown workspace attribute"),
    ]


def test_task_without_steps() -> None:
    assert task_problems("params: []\n") == [(4, "spec.steps", "a Task needs at least one step")]


def test_propagated_names_are_accepted() -> None:
    spec = TaskSpec.model_validate(
        {"steps": [{"name": "s", "script": "echo $(params.p) $(workspaces.w.path)"}]}
    )
    assert len(validate_task_spec(spec, where=None, path="spec.taskSpec")) == 2
    assert validate_task_spec(spec, where=None, path="x", extra_params=["p"], extra_workspaces=["w"]) == []


def test_problem_without_source_map_has_field_only() -> None:
    spec = TaskSpec.model_validate({"steps": [{"name": "s", "script": "echo $(params.p)"}]})
    (err,) = validate_task_spec(spec, where=None, path="spec.pipelineSpec.tasks[0].taskSpec")
    assert err.location is not None and err.location.line is None and err.location.file is None
    assert err.location.field == "spec.pipelineSpec.tasks[0].taskSpec.steps[0].script"


# --- pipelines ----------------------------------------------------------------------------------------------

GOOD_PIPELINE = """
params:
  - {name: model-name}
  - {name: hours, type: array, default: ["24", "168"]}
workspaces: [{name: models}]
tasks:
  - name: train
    taskSpec:
      results: [{name: model-version}]
      steps: [{name: s, script: "echo 1 > $(results.model-version.path)"}]
    workspaces: [{name: models}]
  - name: check
    taskRef: {name: check}
    params:
      - {name: version, value: $(tasks.train.results.model-version)}
      - {name: model, value: $(params.model-name)}
  - name: deploy
    runAfter: [check]
    when:
      - {input: "$(tasks.check.results.verdict)", operator: in, values: [blessed]}
    taskRef: {name: deploy}
    workspaces: [{name: output, workspace: models}]
  - name: sweep
    matrix:
      params:
        - {name: hours, value: "$(params.hours[*])"}
        - {name: seed, value: ["1", "2"]}
    taskRef: {name: train}
finally:
  - name: rollback
    when:
      - {input: $(tasks.deploy.status), operator: notin, values: [Succeeded]}
      - {input: $(tasks.status), operator: in, values: [Failed]}
    params:
      - {name: reason, value: $(tasks.deploy.reason)}
      - {name: v, value: $(tasks.train.results.model-version)}
    taskRef: {name: rollback}
results:
  - {name: version, value: $(tasks.train.results.model-version)}
"""


def test_good_pipeline_has_no_problems() -> None:
    assert pipeline_problems(GOOD_PIPELINE) == []


def test_pipeline_task_structure_problems() -> None:
    errs = pipeline_problems(
        """
        tasks:
          - name: a
            taskRef: {name: t}
            taskSpec: {steps: [{name: s, script: x}]}
          - name: a
          - name: Not_DNS
            taskRef: {}
            retries: -1
            timeout: 1 hour
          - name: c
            taskRef: {name: t}
            onError: continue
            retries: 2
        finally:
          - name: f
            runAfter: [a]
            taskRef: {name: t}
        """
    )
    assert messages(errs) == [
        "task 'a' needs exactly one of taskRef or taskSpec, has ['taskRef', 'taskSpec']",
        "duplicate pipeline task name 'a'",
        "task 'a' needs exactly one of taskRef or taskSpec, has neither",
        "invalid pipeline task name 'Not_DNS'",
        "taskRef needs a name (or a resolver)",
        "retries must be 0 or more, not -1",
        "invalid duration '1 hour': unknown unit ' hour'",
        'onError "continue" cannot be combined with retries',
        "finally tasks cannot use runAfter",
    ]
    assert fields(errs)[:3] == ["spec.tasks[0]", "spec.tasks[1].name", "spec.tasks[1]"]
    assert [e.location.line if e.location else None for e in errs] == [6, 9, 9, 10, 11, 12, 13, 16, 20]


def test_run_after_unknown_or_finally_task() -> None:
    errs = pipeline_problems(
        """
        tasks:
          - {name: a, taskRef: {name: t}, runAfter: [ghost, f]}
        finally:
          - {name: f, taskRef: {name: t}}
        """
    )
    assert messages(errs) == [
        f"{INVALID_GRAPH}: runAfter 'ghost' is not a task of this pipeline",
        f"{INVALID_GRAPH}: runAfter 'f' is a finally task",
    ]
    assert fields(errs) == ["spec.tasks[0].runAfter[0]", "spec.tasks[0].runAfter[1]"]


def test_reference_problems() -> None:
    errs = pipeline_problems(
        """
        params: [{name: p}]
        workspaces: [{name: ws}]
        tasks:
          - name: a
            taskSpec:
              results: [{name: out}]
              steps: [{name: s, script: "echo $(params.p) $(params.local)"}]
            params:
              - {name: x, value: "$(params.nope)"}
              - {name: local, value: "$(tasks.ghost.results.r)"}
          - name: b
            taskRef: {name: t}
            params:
              - {name: y, value: "$(tasks.a.results.missing)"}
              - {name: s, value: "$(tasks.a.status)"}
              - {name: z, value: "$(tasks.f.results.r)"}
            workspaces: [{name: src, workspace: other}]
        finally:
          - name: f
            taskRef: {name: t}
            params: [{name: q, value: "$(tasks.nobody.status)"}]
        results:
          - {name: r, value: "$(tasks.zzz.results.r)"}
        """
    )
    assert messages(errs) == [
        "$(params.nope) names an undeclared pipeline param",
        "reference to task 'ghost', which is not a task of this pipeline",
        "task 'a' has no result 'missing'",
        "only finally tasks can read $(tasks.a.status)",
        "task 'f' is a finally task; only results of other tasks can be read",
        "workspace 'other' is not declared by the pipeline",
        "reference to task 'nobody', which is not a task of this pipeline",
        "pipeline result 'r' reads task 'zzz', which does not exist",
    ]
    assert fields(errs)[:2] == ["spec.tasks[0].params[0].value", "spec.tasks[0].params[1].value"]
    assert errs[2].hint == "declared results: out"


def test_when_and_matrix_problems() -> None:
    errs = pipeline_problems(
        """
        params: [{name: s}, {name: arr, type: array}]
        tasks:
          - name: a
            taskRef: {name: t}
            when:
              - {input: x, operator: in}
              - {cel: "'a' == 'a'", input: x}
              - {values: [x]}
          - name: m
            taskRef: {name: t}
            params: [{name: dup, value: x}]
            matrix:
              params:
                - {name: dup, value: [a, b]}
                - {name: s, value: "$(params.s)"}
                - {name: lit, value: just-a-string}
                - {name: ok, value: "$(params.arr[*])"}
          - name: big
            taskRef: {name: t}
            matrix:
              params:
                - {name: x, value: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p, q]}
                - {name: y, value: [a, b, c, d, e, f, g, h, i, j, k, l, m, n, o, p]}
        """
    )
    assert messages(errs) == [
        "a when expression needs at least one value",
        "a when expression has either cel or input/operator/values, not both",
        "a when expression needs input and operator (in or notin)",
        "param 'dup' is given both in params and in matrix",
        "matrix param 's' must be an array; params.s is a string",
        "matrix param 'lit' must be an array",
        "matrix makes 272 combinations; at most 256 are allowed",
    ]


def test_cycle_is_reported_by_validation_and_dag() -> None:
    text = """
        tasks:
          - {name: a, taskRef: {name: t}, runAfter: [c]}
          - {name: b, taskRef: {name: t}, params: [{name: x, value: $(tasks.a.results.r)}]}
          - {name: c, taskRef: {name: t}, runAfter: [b]}
        """
    (err,) = pipeline_problems(text)
    assert INVALID_GRAPH in err.message
    assert "a -> c -> b -> a" in err.message
    assert err.location is not None and err.location.field == "spec.tasks[0].runAfter[0]"
    assert err.location.line == 6


def dag_of(tasks: list[dict[str, object]], finally_: list[dict[str, object]] | None = None) -> Dag:
    spec = PipelineSpec.model_validate({"tasks": tasks, "finally": finally_ or []})
    return build_dag(spec)


def ref(name: str, **extra: object) -> dict[str, object]:
    return {"name": name, "taskRef": {"name": "t"}, **extra}


def test_dag_edges_order_and_downstream() -> None:
    when_blessed = [{"input": "$(tasks.check.results.verdict)", "operator": "in", "values": ["blessed"]}]
    dag = dag_of(
        [
            ref("train"),
            ref("lint"),
            ref("check", params=[{"name": "v", "value": "$(tasks.train.results.version)"}]),
            ref("deploy", when=when_blessed),
            ref("verify", runAfter=["deploy", "lint"]),
            ref("sweep", matrix={"params": [{"name": "x", "value": "$(tasks.lint.results.list[*])"}]}),
            {
                "name": "show",
                "taskSpec": {"steps": [{"name": "s", "script": "echo $(tasks.train.results.v)"}]},
            },
        ],
        [ref("rollback", params=[{"name": "s", "value": "$(tasks.verify.status)"}])],
    )
    assert dag.tasks == ("train", "lint", "check", "deploy", "verify", "sweep", "show")
    assert dag.deps["check"] == frozenset({"train"})
    assert dag.deps["deploy"] == frozenset({"check"})
    assert dag.deps["verify"] == frozenset({"deploy", "lint"})
    assert dag.deps["sweep"] == frozenset({"lint"})
    assert dag.deps["show"] == frozenset({"train"})  # implicit result propagation into an embedded taskSpec
    assert dag.roots() == ("train", "lint")
    assert dag.downstream("train") == frozenset({"check", "deploy", "verify", "show"})
    assert dag.downstream("verify") == frozenset()
    assert dag.upstream("verify") == frozenset({"train", "check", "deploy", "lint"})
    assert dag.dependents("lint") == frozenset({"verify", "sweep"})
    assert dag.topological_order() == ("train", "lint", "check", "sweep", "show", "deploy", "verify")
    assert "rollback" not in dag.deps


def test_dag_rejects_self_dependency_and_unknown_tasks() -> None:
    with pytest.raises(InvalidInput, match=r"PipelineInvalidGraph: cycle detected: a -> a"):
        dag_of([{"name": "a", "taskRef": {"name": "t"}, "runAfter": ["a"]}])
    with pytest.raises(InvalidInput, match=r"PipelineInvalidGraph: task 'a' depends on 'zz'") as info:
        dag_of([{"name": "a", "taskRef": {"name": "t"}, "runAfter": ["zz"]}])
    assert info.value.location is not None and info.value.location.field == "spec.tasks[0].runAfter[0]"
    with pytest.raises(InvalidInput, match="which is a finally task"):
        dag_of(
            [
                {
                    "name": "a",
                    "taskRef": {"name": "t"},
                    "params": [{"name": "p", "value": "$(tasks.f.results.r)"}],
                }
            ],
            [{"name": "f", "taskRef": {"name": "t"}}],
        )


def test_hand_made_cyclic_dag_cannot_be_ordered() -> None:
    dag = Dag(("a", "b"), {"a": frozenset({"b"}), "b": frozenset({"a"})})
    with pytest.raises(InvalidInput, match=INVALID_GRAPH):
        dag.topological_order()


def test_validate_object_propagates_run_params_and_workspaces() -> None:
    doc = load_one(
        """
        apiVersion: tekton.dev/v1
        kind: PipelineRun
        metadata: {generateName: pr-}
        spec:
          params: [{name: HELLO, value: hi}]
          workspaces: [{name: shared, emptyDir: {}}]
          pipelineSpec:
            tasks:
              - name: echo
                taskSpec:
                  steps:
                    - {name: s, script: "echo $(params.HELLO) > $(workspaces.shared.path)/x"}
        """
    )
    assert isinstance(doc.obj, PipelineRun)
    assert validate_object(doc.obj, where=doc.source) == []
    bare_spec = doc.obj.spec.model_copy(update={"params": [], "workspaces": []})
    bare = doc.obj.model_copy(update={"spec": bare_spec})
    assert messages(validate_object(bare, where=doc.source)) == [
        "$(params.HELLO) names an undeclared param",
        "$(workspaces.shared.path) names an undeclared workspace",
    ]


@pytest.mark.conformance
@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/conformance is not present")
def test_tekton_examples_validate_cleanly() -> None:
    result = load_files(sorted(EXAMPLES.rglob("*.yaml")))
    found = [e for doc in result.documents for e in validate_object(doc.obj, where=doc.source)]
    # Steps that rely on their image's entrypoint are valid Tekton (the engine knows common entrypoints).
    assert found == [], [str(e) for e in found]
