"""Semantic checks of a Task spec, after the loader has checked its shape. Pure.

The rules are Tekton's admission-webhook rules (pkg/apis/pipeline/v1/task_validation.go) that matter to a
local run, plus one local rule: a step needs a script or a command, because there is no image entrypoint to
fall back to. Every check returns all the problems it finds, each with a field path (and a line, given a
SourceMap). The small helpers here are shared with `pipeline_validation`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field

from retrain.errors import InvalidInput, Location
from retrain.tekton.cel import cel_syntax_problem
from retrain.tekton.durations import parse_duration
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import ParamSpec, TaskSpec
from retrain.tekton.problems import FieldPath, format_field_path, parse_field_path
from retrain.tekton.references import iter_references
from retrain.tekton.substitution import whole_reference

__all__ = ["validate_task_spec"]

DNS_LABEL = re.compile(r"[a-z0-9]([-a-z0-9]*[a-z0-9])?")
_PARAM_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_.-]*")
_WORKSPACE_ATTRIBUTES = ("path", "bound", "claim", "volume")
_ON_ERROR = ("continue", "stopAndFail")


@dataclass
class Report:
    where: SourceMap | None
    prefix: FieldPath
    problems: list[InvalidInput] = field(default_factory=list)

    def add(self, rel: Sequence[str | int], message: str, hint: str | None = None) -> None:
        field_path = format_field_path((*self.prefix, *rel))
        location = self.where.location(field_path) if self.where else Location(field=field_path)
        self.problems.append(InvalidInput(message, location=location, hint=hint))

    def in_line_order(self) -> list[InvalidInput]:
        """The problems in document order (stable: same-line problems keep the order they were found in)."""
        return sorted(self.problems, key=lambda e: (e.location.line if e.location else None) or 0)


def check_unique(report: Report, names: Iterable[tuple[FieldPath, str | None]], what: str) -> None:
    seen: set[str] = set()
    for rel, name in names:
        if name is None:
            continue
        if name in seen:
            report.add(rel, f"duplicate {what} name {name!r}", hint=f"every {what} needs its own name")
        seen.add(name)


def check_param_specs(report: Report, params: Sequence[ParamSpec]) -> None:
    check_unique(report, ((("params", i, "name"), p.name) for i, p in enumerate(params)), "param")
    for i, param in enumerate(params):
        if not _PARAM_NAME.fullmatch(param.name):
            report.add(
                ("params", i, "name"),
                f"invalid param name {param.name!r}",
                hint="use letters, digits, '_', '-' and '.', starting with a letter or '_'",
            )
        if param.default is None:
            continue
        actual = _value_type(param.default)
        if actual != param.effective_type:
            report.add(
                ("params", i, "default"),
                f"param {param.name!r} is declared {param.effective_type} but its default is {actual}",
            )


def _value_type(value: str | list[str] | dict[str, str]) -> str:
    if isinstance(value, list):
        return "array"
    return "object" if isinstance(value, dict) else "string"


def param_declared(rest: str, names: Collection[str]) -> bool:
    """`rest` is what follows `params.`: a name, possibly dotted, then `[i]`, `[*]` or `.key`."""
    base = rest.split("[", 1)[0]
    return any(base == n or base.startswith(n + ".") for n in names)


def check_duration(report: Report, rel: FieldPath, value: str | None) -> None:
    if value is not None and "$(" not in value:
        try:
            parse_duration(value)
        except InvalidInput as exc:
            report.add(rel, exc.message, hint=exc.hint)


def validate_task_spec(
    spec: TaskSpec,
    *,
    where: SourceMap | None,
    path: str,
    extra_params: Collection[str] = (),
    extra_workspaces: Collection[str] = (),
) -> list[InvalidInput]:
    """Problems in a Task spec. `extra_params`/`extra_workspaces` are names propagated from an enclosing
    Pipeline (an embedded taskSpec may use the pipeline's params and workspaces without declaring them)."""
    report = Report(where, parse_field_path(path))
    steps = spec.steps
    if not steps:
        report.add(("steps",), "a Task needs at least one step")
    check_unique(report, ((("steps", i, "name"), s.name) for i, s in enumerate(steps)), "step")
    check_param_specs(report, spec.params)
    check_unique(report, ((("results", i, "name"), r.name) for i, r in enumerate(spec.results)), "result")
    check_unique(
        report, ((("workspaces", i, "name"), w.name) for i, w in enumerate(spec.workspaces)), "workspace"
    )
    for i, step in enumerate(steps):
        label = f"step {step.name!r}" if step.name else f"step {i}"
        if step.name is not None and not DNS_LABEL.fullmatch(step.name):
            report.add(
                ("steps", i, "name"),
                f"invalid step name {step.name!r}",
                hint="use a DNS label: a-z, 0-9, '-'",
            )
        if step.script is not None and step.command is not None:
            report.add(("steps", i, "script"), f"{label} has both script and command", hint="use one of them")
        # A step with neither runs its image's entrypoint: valid Tekton; the engine knows common images.
        check_duration(report, ("steps", i, "timeout"), step.timeout)
        if step.on_error is not None and "$(" not in step.on_error and step.on_error not in _ON_ERROR:
            report.add(
                ("steps", i, "onError"), f"invalid onError {step.on_error!r}; use 'continue' or 'stopAndFail'"
            )
        for j, when in enumerate(step.when or []):  # Tekton's webhook compiles a step's CEL as a task's
            if when.cel is not None:
                if when.input is not None or when.operator is not None or when.values is not None:
                    report.add(
                        ("steps", i, "when", j),
                        "a when expression has either cel or input/operator/values, not both",
                    )
                if (problem := cel_syntax_problem(when.cel)) is not None:
                    report.add(("steps", i, "when", j, "cel"), problem)
    from retrain.tekton.step_actions import check_step_refs  # it builds on this module's helpers

    check_step_refs(report, spec)
    scope = _TaskScope(
        params=frozenset(p.name for p in spec.params) | frozenset(extra_params),
        arrays=frozenset(p.name for p in spec.params if p.effective_type == "array"),
        workspaces=frozenset(w.name for w in spec.workspaces) | frozenset(extra_workspaces),
        results=frozenset(r.name for r in spec.results),
    )
    scanned = [("steps", spec.steps), ("stepTemplate", spec.step_template), ("sidecars", spec.sidecars)]
    for name, value in scanned:
        for rel, text, ref in iter_references(value, (name,)):
            _check_task_reference(report, scope, rel, text, ref)
    return report.in_line_order()


@dataclass(frozen=True)
class _TaskScope:
    """The names a Task's `$(...)` may use."""

    params: frozenset[str]
    arrays: frozenset[str]
    workspaces: frozenset[str]
    results: frozenset[str]


def _check_task_reference(report: Report, scope: _TaskScope, rel: FieldPath, text: str, ref: str) -> None:
    params, arrays, workspaces, results = scope.params, scope.arrays, scope.workspaces, scope.results
    head, _, rest = ref.partition(".")
    if head == "params":
        if not param_declared(rest, params):
            report.add(rel, f"$({ref}) names an undeclared param", hint=known("params", params))
            return
        base = rest.split("[", 1)[0]
        in_list = rel[-2] in ("command", "args") if len(rel) >= 2 else False
        # Tekton (validateStepArrayUsage): a whole array, `$(params.a[*])` or bare `$(params.a)`, may only be
        # a whole element of command/args, where it expands into several elements.
        isolated = in_list and whole_reference(text) == ref
        if base in arrays and not rest.endswith("]") and not isolated:
            report.add(
                rel, f"array param {base!r} used as a string", hint=f"use $(params.{base}[*]) in args/command"
            )
        elif base in arrays and rest.endswith("[*]") and not isolated:
            report.add(
                rel,
                f"$({ref}) must be a whole element of command or args",
                hint="an array expands into several list elements; it cannot sit inside a string",
            )
    elif head == "workspaces":
        name, _, attribute = rest.partition(".")
        # Tekton does not check a step's `when` (an unknown workspace stays unresolved: the step is skipped).
        if name not in workspaces and "when" not in rel:
            report.add(rel, f"$({ref}) names an undeclared workspace", hint=known("workspaces", workspaces))
        elif attribute not in _WORKSPACE_ATTRIBUTES:
            report.add(rel, f"$({ref}): unknown workspace attribute", hint="use path, bound, claim or volume")
    elif head == "results":
        name, _, attribute = rest.partition(".")
        if name not in results:
            report.add(rel, f"$({ref}) names an undeclared result", hint=known("results", results))
        elif attribute != "path":
            report.add(rel, f"$({ref}): a task result has only `.path`")


def known(what: str, names: Collection[str]) -> str:
    return f"declared {what}: {', '.join(sorted(names))}" if names else f"declare it under spec.{what}"
