"""Admission checks of StepActions and of the steps that refer to them (pure).

Tekton's webhook rules (pkg/apis/pipeline/v1/container_validation.go `Step.Validate` and v1beta1
stepaction_validation.go): a step with `ref` takes its container from the StepAction, so it may not also give
an image, command, args, script, workingDir, env, volumeMounts or results; a step without `ref` may not give
`params`; a StepAction needs an image, and a script excludes a command.
"""

from __future__ import annotations

import re

from retrain.errors import InvalidInput
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import StepActionSpec, TaskSpec
from retrain.tekton.problems import FieldPath
from retrain.tekton.references import iter_references
from retrain.tekton.substitution import find_references
from retrain.tekton.task_validation import Report, check_param_specs, check_unique, known, param_declared

__all__ = ["check_step_refs", "validate_step_action"]

_STEP_RESULT = re.compile(r"\$\(steps\.[^.()\s]+\.results\.")

_CONTAINER = (
    ("image", "image"),
    ("command", "command"),
    ("args", "args"),
    ("workingDir", "working_dir"),
    ("env", "env"),
)
_NOT_WITH_REF = (
    ("image", "image"),
    ("command", "command"),
    ("args", "args"),
    ("script", "script"),
    ("working_dir", "workingDir"),
    ("env", "env"),
    ("volume_mounts", "volumeMounts"),
    ("results", "results"),
)


def validate_step_action(spec: StepActionSpec, *, where: SourceMap | None) -> list[InvalidInput]:
    report = Report(where, ("spec",))
    if not spec.image:
        report.add(("image",), "a StepAction needs an image", hint="add `image:` (recorded, never pulled)")
    if spec.script is not None and spec.command is not None:
        report.add(("script",), "a StepAction has both script and command", hint="use one of them")
    if spec.script is not None and any(r.startswith("params.") for r in find_references(spec.script)):
        report.add(
            ("script",),
            "param substitution in a StepAction's script is not allowed (Tekton refuses it)",
            hint="pass the param in env (env: [{name: X, value: $(params.x)}]) and use $X in the script",
        )
    check_param_specs(report, spec.params)
    check_unique(report, ((("results", i, "name"), r.name) for i, r in enumerate(spec.results)), "result")
    names = [p.name for p in spec.params]
    container = [(f, getattr(spec, attr)) for f, attr in _CONTAINER]
    for field, value in container:
        for rel, _text, ref in iter_references(value, (field,)):
            if ref.startswith("params.") and not param_declared(ref[len("params.") :], names):
                report.add(
                    rel,
                    f"$({ref}) names a param the StepAction does not declare",
                    hint=known("params", names),
                )
    return report.in_line_order()


def check_step_refs(report: Report, spec: TaskSpec, prefix: FieldPath = ()) -> None:
    """Add the problems of `ref`/`params` on the steps of `spec` to `report`, and step result references
    where the entrypoint cannot resolve them (Tekton's validateStepResultReference)."""
    for i, step in enumerate(spec.steps):
        at = (*prefix, "steps", i)
        for wire, text in (("script", step.script), ("workingDir", step.working_dir), ("image", step.image)):
            if text and _STEP_RESULT.search(text):
                report.add(
                    (*at, wire),
                    f"stepResult substitutions are only allowed in env, command and args, not in {wire}",
                    hint="pass the value in env (or args) and use the variable in the script",
                )
        if step.ref is None:
            if step.params:
                report.add((*at, "params"), "params cannot be used without ref", hint="remove params")
            continue
        if not step.ref.name and not step.ref.resolver:
            report.add((*at, "ref", "name"), "a step ref needs the StepAction's name")
        for attr, wire in _NOT_WITH_REF:
            value = getattr(step, attr)
            if value is not None and value not in ([], ""):
                report.add(
                    (*at, wire),
                    f"{wire} cannot be used with ref (the StepAction gives it)",
                    hint=f"move {wire} into the StepAction, or drop ref",
                )
