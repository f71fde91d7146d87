from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from retrain.errors import InvalidInput, InvalidInputs, NotFound
from retrain.tekton.loader import (
    SourceMap,
    format_field_path,
    load_file,
    load_files,
    load_text,
    parse_field_path,
)
from retrain.tekton.model import Pipeline, PipelineRun, Task, TaskRun

EXAMPLES = Path(__file__).resolve().parents[2].parent / "shared/conformance/tekton-examples"


def yaml(text: str) -> str:
    return textwrap.dedent(text).lstrip("\n")


def problems(text: str) -> list[InvalidInput]:
    with pytest.raises(InvalidInput) as info:
        load_text(yaml(text), "p.yaml")
    err = info.value
    return err.errors if isinstance(err, InvalidInputs) else [err]


PIPELINE_RUN = """\
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: train
spec:
  params:
    - name: model-name
      value: anomaly-detector
  pipelineSpec:
    params:
      - name: model-name
    tasks:
      - name: train
        taskSpec:
          steps:
            - name: run
              image: python
              script: echo $(params.model-name)
      - name: check
        runAfter: [train]
        taskRef:
          name: check-task
"""


def test_loads_documents_with_lines_and_positions() -> None:
    text = (
        "# leading comment\n---\n"
        + PIPELINE_RUN
        + "---\n"
        + yaml(
            """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: check-task}
        spec:
          steps: [{name: s, script: "true"}]
        """
        )
    )
    result = load_text(text, "f.yaml")
    assert [type(d.obj) for d in result.documents] == [PipelineRun, Task]
    run, task = result.documents
    assert (run.file, run.line, task.line) == ("f.yaml", 3, 26)
    assert run.source.line_of(("spec", "pipelineSpec", "tasks", 1, "runAfter")) == 22
    assert run.source.line_of(("spec", "pipelineSpec", "tasks", 1, "runAfter", 0)) == 22
    assert run.source.line_of_field("spec.pipelineSpec.tasks[0].taskSpec.steps[0].script") == 20
    # An unknown path falls back to the nearest ancestor that has a line.
    assert run.source.line_of(("spec", "pipelineSpec", "tasks", 1, "nothing", 3)) == 21
    assert run.source.line_of(()) == 3
    assert isinstance(run.obj, PipelineRun) and run.obj.spec.pipeline_spec is not None
    assert run.obj.spec.pipeline_spec.tasks[1].run_after == ["train"]


def test_scalars_become_strings_where_tekton_reads_strings() -> None:
    result = load_text(
        yaml(
            """
            apiVersion: tekton.dev/v1
            kind: TaskRun
            metadata:
              name: tr
              creationTimestamp: 2024-01-02T03:04:05Z
            spec:
              params:
                - {name: n, value: 3}
                - {name: b, value: true}
              taskSpec:
                steps:
                  - name: s
                    command: [sleep, 5]
            """
        )
    )
    obj = result.documents[0].obj
    assert isinstance(obj, TaskRun)
    assert [p.value for p in obj.spec.params] == ["3", "true"]
    assert obj.metadata.creation_timestamp == "2024-01-02T03:04:05Z"


def test_other_kinds_are_ignored_with_a_reason() -> None:
    result = load_text(
        yaml(
            """
            apiVersion: v1
            kind: PersistentVolumeClaim
            metadata:
              name: models
            ---
            ---
            apiVersion: v1
            kind: ConfigMap
            """
        ),
        "x.yaml",
    )
    assert result.documents == []
    assert [(i.kind, i.name, i.line) for i in result.ignored] == [
        ("PersistentVolumeClaim", "models", 1),
        ("ConfigMap", None, 7),
    ]
    assert "not a Tekton kind" in result.ignored[0].reason


def test_kind_list_is_unpacked() -> None:
    result = load_text(
        yaml(
            """
            apiVersion: v1
            kind: List
            items:
              - apiVersion: tekton.dev/v1
                kind: Pipeline
                metadata: {name: p}
                spec:
                  tasks: [{name: a, taskRef: {name: t}}]
            """
        )
    )
    (doc,) = result.documents
    assert isinstance(doc.obj, Pipeline) and doc.line == 4
    assert doc.source.line_of(("spec", "tasks", 0)) == 8


def test_unknown_field_with_did_you_mean() -> None:
    (err,) = problems(
        """
        apiVersion: tekton.dev/v1
        kind: PipelineRun
        metadata: {name: x}
        spec:
          pipelineSpec:
            tasks:
              - name: a
                taskSpec:
                  steps:
                    - name: s
                      script: "true"
                      onErorr: continue
        """
    )
    assert err.location is not None
    assert (err.location.file, err.location.line) == ("p.yaml", 12)
    assert err.location.field == "spec.pipelineSpec.tasks[0].taskSpec.steps[0].onErorr"
    assert err.message == "unknown field 'onErorr'"
    assert err.hint == "did you mean 'onError'?"
    assert str(err).startswith(
        "p.yaml:12: spec.pipelineSpec.tasks[0].taskSpec.steps[0].onErorr: unknown field"
    )


def test_unknown_field_without_close_match_lists_allowed_fields() -> None:
    (err,) = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: x}
        spec:
          steps: [{name: s, script: "true"}]
          zzz: 1
        """
    )
    assert err.location is not None and err.location.line == 6
    assert err.hint is not None and err.hint.startswith("allowed fields:") and "stepTemplate" in err.hint


def test_several_problems_are_all_reported_in_line_order() -> None:
    errs = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Pipeline
        metadata: {name: x}
        spec:
          tasks:
            - name: a
              retries: many
              taskRef: {name: t}
              params:
                - name: p
                  value: [ok, {not: allowed}]
            - runAfter: a
              taskRef: {name: t}
              when:
                - {input: x, operator: inn, values: [y]}
        """
    )
    got = [
        (e.location.line if e.location else None, e.location.field if e.location else None, e.message)
        for e in errs
    ]
    assert got == [
        (7, "spec.tasks[0].retries", "wrong type: expected an integer, got the string 'many'"),
        (
            11,
            "spec.tasks[0].params[0].value",
            "wrong type: expected a string, a list of strings or a mapping of strings, "
            "got a list whose item [1] is a mapping",
        ),
        (12, "spec.tasks[1].name", "missing required field 'name'"),
        (12, "spec.tasks[1].runAfter", "wrong type: expected a list, got the string 'a'"),
        (15, "spec.tasks[1].when[0].operator", "invalid value 'inn'; expected 'in' or 'notin'"),
    ]


def test_wrong_type_list_for_string() -> None:
    (err,) = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: x}
        spec:
          steps:
            - name: s
              script: [echo, hi]
        """
    )
    assert err.location is not None and (err.location.line, err.location.field) == (7, "spec.steps[0].script")
    assert err.message == "wrong type: expected a string, got a list"


def test_v1beta1_is_rejected_with_a_migration_hint() -> None:
    (err,) = problems(
        """
        kind: Task
        apiVersion: tekton.dev/v1beta1
        metadata: {name: old}
        spec: {}
        """
    )
    assert err.location is not None and (err.location.line, err.location.field) == (2, "apiVersion")
    assert "tekton.dev/v1beta1" in err.message
    assert err.hint is not None and "migrating-v1beta1-to-v1" in err.hint


def test_wrong_api_group_and_missing_api_version_and_kind() -> None:
    errs = problems(
        """
        apiVersion: v1
        kind: Pipeline
        ---
        kind: Task
        ---
        apiVersion: tekton.dev/v1
        metadata: {name: x}
        ---
        apiVersion: tekton.dev/v1beta1
        kind: CustomRun
        """
    )
    assert [e.location.line if e.location else None for e in errs] == [1, 4, 6, 9]
    assert "must have apiVersion tekton.dev/v1" in errs[0].message
    assert errs[1].message == "missing apiVersion"
    assert errs[2].message == "missing kind"
    assert "CustomRun is not supported" in errs[3].message


def test_malformed_yaml_reports_the_parser_line() -> None:
    (err,) = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        spec:
          steps:
            - name: a
             script: x
        """
    )
    assert err.location is not None and err.location.line == 6
    assert err.message.startswith("malformed YAML:")


def test_malformed_yaml_after_a_bad_document_reports_both() -> None:
    errs = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        spec: {stepz: []}
        ---
        a: [1,
        """
    )
    assert [e.location.line if e.location else None for e in errs] == [3, 6]


def test_duplicate_key_is_an_error() -> None:
    (err,) = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata:
          name: a
          name: b
        spec:
          steps: [{name: s, script: "true"}]
        """
    )
    assert err.location is not None and (err.location.line, err.location.field) == (5, "metadata.name")
    assert err.message == "duplicate key 'name' (first given on line 4)"


def test_non_mapping_document() -> None:
    (err,) = problems("- just\n- a list\n")
    assert "must be a mapping" in err.message


def test_load_file_and_files(tmp_path: Path) -> None:
    good = tmp_path / "good.yaml"
    good.write_text(PIPELINE_RUN)
    bad = tmp_path / "bad.yaml"
    bad.write_text("apiVersion: tekton.dev/v1\nkind: Task\nspec: {stepz: []}\n")
    assert load_file(good).documents[0].file == str(good)
    assert len(load_files([good, good]).documents) == 2
    with pytest.raises(InvalidInput) as info:
        load_files([good, bad])
    assert info.value.location is not None and info.value.location.file == str(bad)
    with pytest.raises(NotFound):
        load_file(tmp_path / "missing.yaml")


def test_field_path_round_trip() -> None:
    path = ("spec", "tasks", 2, "runAfter", 0)
    assert format_field_path(path) == "spec.tasks[2].runAfter[0]"
    assert parse_field_path("spec.tasks[2].runAfter[0]") == path
    odd = ("metadata", "labels", "app.kubernetes.io/name")
    assert format_field_path(odd) == 'metadata.labels["app.kubernetes.io/name"]'
    assert parse_field_path(format_field_path(odd)) == odd


def test_source_map_location() -> None:
    source = SourceMap("f.yaml", {(): 1, ("spec",): 4})
    loc = source.location("spec.tasks[0]")
    assert (loc.file, loc.line, loc.field) == ("f.yaml", 4, "spec.tasks[0]")
    assert SourceMap("f.yaml").line_of(("a",)) is None


@pytest.mark.conformance
@pytest.mark.skipif(not EXAMPLES.is_dir(), reason="../shared/conformance is not present")
def test_every_tekton_example_loads() -> None:
    files = sorted(EXAMPLES.rglob("*.yaml"))
    assert files
    result = load_files(files)
    kinds = {type(d.obj) for d in result.documents}
    assert {PipelineRun, TaskRun} <= kinds
    assert all(i.kind == "PersistentVolumeClaim" for i in result.ignored)
    for doc in result.documents:
        assert doc.source.line_of(("spec",)) is not None


CASE_VARIANTS = """\
apiVersion: tekton.dev/v1
kind: Pipeline
metadata:
  name: p
spec:
  Params:
    - name: who
      Default: world
  tasks:
    - name: a
      TaskRef: {name: hello, kind: task}
    - name: b
      runafter: [a]
      taskSpec:
        steps:
          - image: busybox
            Script: echo $(params.who)
"""


def test_field_names_match_case_insensitively_as_gos_json_decoder_does(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Tekton's webhook decodes with encoding/json: `Params`, `runafter` and `Script` are its fields."""
    (doc,) = load_text(CASE_VARIANTS, "case.yaml").documents
    assert isinstance(doc.obj, Pipeline)
    spec = doc.obj.spec
    assert [(p.name, p.default) for p in spec.params] == [("who", "world")]
    assert spec.tasks[0].task_ref is not None
    assert (spec.tasks[0].task_ref.name, spec.tasks[0].task_ref.kind) == ("hello", "Task")
    assert spec.tasks[1].run_after == ["a"]
    assert spec.tasks[1].task_spec is not None
    assert spec.tasks[1].task_spec.steps[0].script == "echo $(params.who)"
    # positions follow the canonical names, so later errors still point at the right line
    assert doc.source.line_of(("spec", "params", 0, "default")) == 8
    assert doc.source.line_of(("spec", "tasks", 1, "taskSpec", "steps", 0, "script")) == 17
    warned = [r.getMessage() for r in caplog.records if r.levelname == "WARNING"]
    assert warned == [
        "warning: case.yaml:6: spec.Params: field 'Params' read as 'params' (Tekton matches field names "
        "case-insensitively, as Go's JSON decoder does); write 'params'",
        "warning: case.yaml:8: spec.params[0].Default: field 'Default' read as 'default' (Tekton matches "
        "field names case-insensitively, as Go's JSON decoder does); write 'default'",
        "warning: case.yaml:11: spec.tasks[0].TaskRef: field 'TaskRef' read as 'taskRef' (Tekton matches "
        "field names case-insensitively, as Go's JSON decoder does); write 'taskRef'",
        "warning: case.yaml:11: spec.tasks[0].taskRef.kind: taskRef kind 'task' read as 'Task'; write 'Task'",
        "warning: case.yaml:13: spec.tasks[1].runafter: field 'runafter' read as 'runAfter' (Tekton matches "
        "field names case-insensitively, as Go's JSON decoder does); write 'runAfter'",
        "warning: case.yaml:17: spec.tasks[1].taskSpec.steps[0].Script: field 'Script' read as 'script' "
        "(Tekton matches field names case-insensitively, as Go's JSON decoder does); write 'script'",
    ]


def test_a_case_variant_beside_the_exact_field_and_a_lower_case_kind_are_refused() -> None:
    found = problems(
        """
        apiVersion: tekton.dev/v1
        kind: Task
        metadata: {name: t}
        spec:
          steps:
            - image: busybox
              script: echo one
              Script: echo two
        ---
        apiVersion: tekton.dev/v1
        kind: task
        metadata: {name: u}
        spec: {steps: [{image: busybox, script: echo}]}
        """
    )
    assert [(e.location.line if e.location else None, e.message) for e in found] == [
        (8, "unknown field 'Script'"),
        (10, "unknown kind 'task': kinds are case-sensitive"),
    ]
    assert found[1].hint == "write `kind: Task`"
