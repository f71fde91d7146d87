from __future__ import annotations

import pytest

from retrain.tekton.model import (
    EnvVar,
    Matrix,
    Param,
    PipelineResult,
    PipelineTask,
    Step,
    TaskRef,
    WhenExpression,
)
from retrain.tekton.substitution import (
    Replacements,
    find_references,
    normalize_reference,
    substitute_list,
    substitute_model,
    substitute_string,
    whole_reference,
)

R = Replacements(
    strings={
        "params.x": "X",
        "params.my.param": "DOTTED",
        "tasks.train.results.model-version": "7",
        "context.taskRun.name": "tr-1",
        "workspaces.data.path": "/workspace/data",
        "params.loop": "$(params.x)",
    },
    arrays={"params.a": ["1", "2"], "tasks.t.results.list": ["p", "q", "r"]},
    objects={"params.o": {"url": "u", "commit": "c"}},
)


@pytest.mark.parametrize(
    ("expression", "key"),
    [
        ("params.x", "params.x"),
        ('params["my.param"]', "params.my.param"),
        ("params['my.param']", "params.my.param"),
        ('tasks.t.results["r"]', "tasks.t.results.r"),
        ('params["a"][*]', "params.a[*]"),
        ("params.a[0]", "params.a[0]"),
        ("tasks.status", "tasks.status"),
        ("1bad", None),
        ("params.", None),
        ('params["unterminated]', None),
    ],
)
def test_normalize_reference(expression: str, key: str | None) -> None:
    assert normalize_reference(expression) == key


def test_find_references_in_order_with_duplicates() -> None:
    text = 'echo $(params.x) $(params["my.param"]) $(tasks.a.results.b[*]) $(params.x) $(date +%s)'
    assert find_references(text) == ["params.x", "params.my.param", "tasks.a.results.b[*]", "params.x"]


def test_find_references_sees_inside_shell_command_substitution() -> None:
    assert find_references("v=$(cat $(results.out.path))") == ["results.out.path"]
    assert find_references("no references here") == []


def test_substitute_string_replaces_known_and_keeps_unknown() -> None:
    text = "$(params.x)-$(params['my.param'])-$(params.unknown)-$(context.taskRun.name)"
    assert substitute_string(text, R) == "X-DOTTED-$(params.unknown)-tr-1"


def test_substitute_string_is_one_pass() -> None:
    # A replacement's own `$(...)` is never substituted again (tektoncd/pipeline#2093).
    assert substitute_string("$(params.loop)", R) == "$(params.x)"


def test_substitute_string_indexes_arrays_and_reads_object_keys() -> None:
    assert substitute_string("$(params.a[1]) $(params.o.url)", R) == "2 u"
    assert substitute_string('$(tasks.t.results["list"][2])', R) == "r"
    assert substitute_string("$(params.a[9]) $(params.o.nope)", R) == "$(params.a[9]) $(params.o.nope)"


def test_substitute_string_leaves_whole_arrays_inside_strings() -> None:
    assert substitute_string("all: $(params.a[*])", R) == "all: $(params.a[*])"


def test_substitute_list_expands_isolated_arrays() -> None:
    items = [
        "$(params.a[*])",
        "--x=$(params.x)",
        "$(params.a)",
        "$(tasks.t.results.list[*])",
        "$(params.o[*])",
    ]
    assert substitute_list(items, R) == ["1", "2", "--x=X", "1", "2", "p", "q", "r", "$(params.o[*])"]


def test_substitute_list_keeps_embedded_array_references() -> None:
    assert substitute_list(["x$(params.a[*])"], R) == ["x$(params.a[*])"]


def test_whole_reference() -> None:
    assert whole_reference('$(params["a"][*])') == "params.a[*]"
    assert whole_reference(" $(params.a)") is None
    assert whole_reference("$(params.a)$(params.b)") is None


def test_merged_prefers_other() -> None:
    merged = Replacements(strings={"a": "1", "b": "2"}).merged(
        Replacements(strings={"b": "3"}, arrays={"c": ["x"]})
    )
    assert merged.strings == {"a": "1", "b": "3"}
    assert merged.arrays == {"c": ["x"]}


def test_substitute_model_on_frozen_step() -> None:
    step = Step(
        name="s",
        image="python:$(params.x)",
        command=["python", "$(params.a[*])"],
        args=["$(params.x)"],
        script="cd $(workspaces.data.path) && echo $(params.unknown)",
        env=[EnvVar(name="MODEL", value="$(params.o.commit)")],
    )
    out = substitute_model(step, R)
    assert out.image == "python:X"
    assert out.command == ["python", "1", "2"]
    assert out.args == ["X"]
    assert out.script == "cd /workspace/data && echo $(params.unknown)"
    assert out.env == [EnvVar(name="MODEL", value="c")]
    assert step.image == "python:$(params.x)"  # the original is untouched


def test_substitute_model_returns_same_object_when_nothing_changes() -> None:
    step = Step(name="s", script="echo hi")
    assert substitute_model(step, R) is step


def test_substitute_model_widens_param_values_to_arrays_and_objects() -> None:
    task = PipelineTask(
        name="t",
        task_ref=TaskRef(name="x", params=[Param(name="p", value="$(params.x)")]),
        params=[
            Param(name="arr", value="$(params.a[*])"),
            Param(name="obj", value="$(params.o[*])"),
            Param(name="str", value="v$(params.x)"),
            Param(name="list", value=["$(params.a[*])", "z"]),
            Param(name="map", value={"k": "$(tasks.train.results.model-version)"}),
        ],
        when=[WhenExpression(input="$(params.x)", operator="in", values=["$(params.a[*])"])],
        matrix=Matrix(params=[Param(name="m", value="$(tasks.t.results.list[*])")]),
    )
    out = substitute_model(task, R)
    values = {p.name: p.value for p in out.params}
    assert values == {
        "arr": ["1", "2"],
        "obj": {"url": "u", "commit": "c"},
        "str": "vX",
        "list": ["1", "2", "z"],
        "map": {"k": "7"},
    }
    assert out.when[0].input == "X" and out.when[0].values == ["1", "2"]
    assert out.matrix is not None and out.matrix.params[0].value == ["p", "q", "r"]
    assert out.task_ref is not None and out.task_ref.params[0].value == "X"


def test_substitute_model_pipeline_result_array() -> None:
    result = PipelineResult(name="r", value="$(tasks.t.results.list[*])")
    assert substitute_model(result, R).value == ["p", "q", "r"]


def test_substitute_model_does_not_widen_plain_string_fields() -> None:
    # `input` is a plain string: a whole array reference stays as written.
    when = WhenExpression(input="$(params.a[*])", operator="in", values=["x"])
    assert substitute_model(when, R).input == "$(params.a[*])"


def test_substitute_model_recurses_into_opaque_json() -> None:
    step = Step(
        name="s", script="x", security_context={"runAsUser": "$(params.x)", "list": [{"k": "$(params.x)"}]}
    )
    assert substitute_model(step, R).security_context == {"runAsUser": "X", "list": [{"k": "X"}]}


def test_without_drops_the_declared_names_and_what_is_under_them_but_not_longer_names() -> None:
    r = Replacements(
        strings={
            "params.a": "1",
            "params.a.key": "k",
            "params.a[0]": "i",
            "workspaces.w.path": "/w",
            "params.ab": "2",
        },
        arrays={"params.list": ["x"], "tasks.t.results.r": ["y"]},
        objects={"params.o": {"k": "v"}},
    )
    kept = r.without(("params.a", "workspaces.", "tasks."))
    assert kept == Replacements(
        strings={"params.ab": "2"}, arrays={"params.list": ["x"]}, objects={"params.o": {"k": "v"}}
    )
    assert r.strings["params.a"] == "1"  # the original is untouched
