"""A whole array param, `$(params.a)` or `$(params.a[*])`, is valid only as a whole command/args element.

As Tekton's validateStepArrayUsage: ValidateVariableReferenceIsIsolated for command and args (the `[*]`
suffix is optional there), ValidateNoReferencesToProhibitedVariables for every other step field.
"""

from __future__ import annotations

import textwrap

from retrain.tekton.loader import load_text
from retrain.tekton.model import Task
from retrain.tekton.validation import validate_task_spec


def problems(steps: str) -> list[tuple[str | None, str]]:
    spec = "params:\n  - name: a\n    type: array\nsteps:\n" + textwrap.indent(textwrap.dedent(steps), "  ")
    body = textwrap.indent(spec, "  ")
    (doc,) = load_text(
        f"apiVersion: tekton.dev/v1\nkind: Task\nmetadata: {{name: x}}\nspec:\n{body}", "t.yaml"
    ).documents
    assert isinstance(doc.obj, Task)
    found = validate_task_spec(doc.obj.spec, where=doc.source, path="spec")
    return [(e.location.field if e.location else None, e.message) for e in found]


def test_a_bare_array_reference_is_a_whole_args_or_command_element() -> None:
    assert (
        problems(
            """
        - image: busybox
          command: ["$(params.a)"]
          args: ["$(params.a)", "$(params.a[*])", "$(params.a[0])", "x$(params.a[1])"]
        """
        )
        == []
    )


def test_a_bare_array_reference_inside_a_string_or_outside_args_is_refused() -> None:
    assert problems(
        """
        - image: busybox
          args: ["x$(params.a)", "$(params.a[*])y"]
          script: echo $(params.a)
          env: [{name: E, value: "$(params.a)"}]
        """
    ) == [
        ("spec.steps[0].args[0]", "array param 'a' used as a string"),
        ("spec.steps[0].args[1]", "$(params.a[*]) must be a whole element of command or args"),
        ("spec.steps[0].script", "array param 'a' used as a string"),
        ("spec.steps[0].env[0].value", "array param 'a' used as a string"),
    ]
