"""CEL `when` expressions: evaluated after param/result substitution, recorded in skippedTasks as Tekton
records them, gated by `enable-cel-in-whenexpression`, and bad CEL is a clear error (at creation for syntax,
CELEvaluationFailed at run time for a type error)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.engine_helpers import RunYaml, cli
from retrain.engine.feature_flags import ANNOTATION
from retrain.engine.reasons import RunRejected
from retrain.tekton.cel import CelError, evaluate

FLAGS = json.dumps({"enable-cel-in-whenexpression": "true"})


def _pipeline(whens: dict[str, str], *, flags: str | None = FLAGS) -> str:
    annotations = f"\n  annotations:\n    {ANNOTATION}: '{flags}'" if flags else ""
    tasks = "\n".join(
        f"""      - name: {name}
        runAfter: [produce]
        when: [{{cel: "{cel}"}}]
        taskSpec:
          steps: [{{name: s, image: alpine, script: "echo ran {name}"}}]"""
        for name, cel in whens.items()
    )
    return f"""
apiVersion: tekton.dev/v1
kind: PipelineRun
metadata:
  name: cel-run{annotations}
spec:
  params: [{{name: path, value: README.md}}]
  pipelineSpec:
    params: [{{name: path}}]
    tasks:
      - name: produce
        taskSpec:
          results: [{{name: exists}}]
          steps: [{{name: s, image: alpine, script: "printf yes > $(results.exists.path)"}}]
{tasks}
"""


def test_cel_whens_run_or_skip_after_substitution(run: RunYaml) -> None:
    ran = run(
        _pipeline(
            {
                "param-true": "'$(params.path)' == 'README.md'",
                "result-true": "'$(tasks.produce.results.exists)' in ['yes', 'maybe'] && 2 > 1",
                "result-false": "'$(tasks.produce.results.exists)' == 'missing'",
                "regex-false": "!'$(params.path)'.matches('^READ') || size('$(params.path)') != 9",
            }
        )
    )
    assert ran.result.succeeded, ran.result.message
    assert set(ran.taskruns()) == {"produce", "param-true", "result-true"}
    skipped = ran.skipped()
    assert set(skipped) == {"result-false", "regex-false"}
    assert skipped["result-false"]["reason"] == "When Expressions evaluated to false"
    # Tekton records the expression after substitution
    assert skipped["result-false"]["whenExpressions"] == [{"cel": "'yes' == 'missing'"}]


def test_cel_needs_its_feature_flag(run: RunYaml) -> None:
    with pytest.raises(RunRejected) as caught:
        run(_pipeline({"t": "'a' == 'a'"}, flags=None))
    assert "feature flag enable-cel-in-whenexpression should be set to true" in caught.value.message
    assert caught.value.location is not None and caught.value.location.field == "spec.tasks[1].when[0].cel"


def test_a_type_error_fails_the_run_with_celevaluationfailed(run: RunYaml) -> None:
    ran = run(_pipeline({"t": "'$(params.path)' < 3"}))
    assert not ran.result.succeeded
    assert ran.condition["reason"] == "CELEvaluationFailed"
    assert "'README.md' < 3" in ran.condition["message"] and "no such overload" in ran.condition["message"]
    assert "t" not in ran.taskruns()


def test_bad_cel_syntax_is_refused_at_creation_with_file_and_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(_pipeline({"t": "'$(params.path)' == params.path"}))
    done = cli("run", "-q", "-f", path, "--home", tmp_path / "home")
    assert done.returncode == 2, done.stderr
    assert "bad.yaml:" in done.stderr and "when[0].cel" in done.stderr
    assert "invalid cel expression" in done.stderr and "undeclared reference to 'params'" in done.stderr
    assert not (tmp_path / "home" / "runs").exists() or not any((tmp_path / "home" / "runs").iterdir())


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("'a' == 'a'", True),
        ("'a' != 'a'", False),
        ("1 < 2 && !(3 in [1, 2])", True),
        ("'x' == 1", False),  # different types are never equal
        ("true ? 'a'.startsWith('a') : false", True),
        ("1 + 2 * 3 == 7 && 7 / 2 == 3 && 2.5 > 1", True),
        ("'abc'.contains('b') && 'abc'.endsWith('c')", True),
    ],
)
def test_the_evaluator(expression: str, value: bool) -> None:
    assert evaluate(expression) is value


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("'a'", "is not evaluated to a boolean"),
        ("{'a': 1}", "map literals are not supported"),
        ("'a'.lowerAscii() == 'a'", "unsupported member or function 'lowerAscii'"),
        ("'a' == ", "unexpected 'end of expression'"),
        ("'a' in 'abc'", "`in` needs a list"),
    ],
)
def test_the_evaluator_names_what_it_does_not_support(expression: str, message: str) -> None:
    with pytest.raises(CelError) as caught:
        evaluate(expression)
    assert message in str(caught.value) and expression.strip() in str(caught.value)
