"""Semantic checks of a Pipeline spec: task names, refs, runAfter, result and status references, workspaces,
matrix, when expressions, and the task graph. Pure. Rules from pkg/apis/pipeline/v1/pipeline_validation.go.
"""

from __future__ import annotations

import math
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from retrain.errors import InvalidInput
from retrain.tekton.cel import cel_syntax_problem
from retrain.tekton.dag import INVALID_GRAPH, build_dag
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import ParamSpec, PipelineSpec, PipelineTask
from retrain.tekton.problems import FieldPath, format_field_path, parse_field_path
from retrain.tekton.references import (
    TaskReference,
    iter_references,
    parse_task_reference,
    pipeline_task_references,
)
from retrain.tekton.task_validation import (
    DNS_LABEL,
    Report,
    check_duration,
    check_param_specs,
    check_unique,
    known,
    param_declared,
    validate_task_spec,
)

__all__ = ["MAX_MATRIX_COMBINATIONS", "validate_pipeline_spec"]

MAX_MATRIX_COMBINATIONS = 256  # Tekton's default `default-max-matrix-combinations-count`


def validate_pipeline_spec(
    spec: PipelineSpec,
    *,
    where: SourceMap | None,
    path: str,
    extra_params: Collection[str] = (),
    extra_workspaces: Collection[str] = (),
) -> list[InvalidInput]:
    """Problems in a Pipeline spec, including its embedded taskSpecs and its task graph. `extra_params` and
    `extra_workspaces` are names a PipelineRun propagates into an embedded pipelineSpec."""
    report = Report(where, parse_field_path(path))
    check_param_specs(report, spec.params)
    workspaces = {w.name for w in spec.workspaces} | set(extra_workspaces)
    check_unique(
        report, ((("workspaces", i, "name"), w.name) for i, w in enumerate(spec.workspaces)), "workspace"
    )
    sections = [("tasks", i, t) for i, t in enumerate(spec.tasks)] + [
        ("finally", i, t) for i, t in enumerate(spec.finally_)
    ]
    check_unique(report, (((s, i, "name"), t.name) for s, i, t in sections), "pipeline task")
    scope = _PipelineScope(
        dag_tasks={t.name: t for t in spec.tasks},
        finally_tasks={t.name: t for t in spec.finally_},
        params={**{name: ParamSpec(name=name) for name in extra_params}, **{p.name: p for p in spec.params}},
        workspaces=frozenset(workspaces),
    )
    for section, i, task in sections:
        _check_pipeline_task(report, scope, (section, i), task, is_finally=section == "finally")
        if task.task_spec is not None:
            # An embedded spec sees the pipeline's params and workspaces (propagation).
            bound = {w.name for w in task.workspaces}
            report.problems.extend(
                validate_task_spec(
                    task.task_spec,
                    where=where,
                    path=format_field_path((*report.prefix, section, i, "taskSpec")),
                    extra_params=set(scope.params) | {p.name for p in task.params},
                    extra_workspaces=workspaces | bound,
                )
            )
    for i, result in enumerate(spec.results):
        for rel, _text, ref in iter_references(result.value, ("results", i, "value")):
            parsed = parse_task_reference(ref)
            if (
                parsed is not None
                and parsed.task is not None
                and parsed.task not in scope.dag_tasks
                and parsed.task not in scope.finally_tasks
            ):
                report.add(
                    rel, f"pipeline result {result.name!r} reads task {parsed.task!r}, which does not exist"
                )
    try:
        build_dag(spec, where=where, path=path)
    except InvalidInput as exc:
        # An unknown task is already reported, at the same field, by the checks above.
        reported = {p.location.field for p in report.problems if p.location}
        if not (exc.location and exc.location.field in reported):
            report.problems.append(exc)
    return report.in_line_order()


@dataclass(frozen=True)
class _PipelineScope:
    """The names a Pipeline's tasks may refer to."""

    dag_tasks: Mapping[str, PipelineTask]
    finally_tasks: Mapping[str, PipelineTask]
    params: Mapping[str, ParamSpec]
    workspaces: frozenset[str]


def _check_pipeline_task(
    report: Report, scope: _PipelineScope, at: FieldPath, task: PipelineTask, *, is_finally: bool
) -> None:
    dag_tasks, finally_tasks, params, workspaces = (
        scope.dag_tasks,
        scope.finally_tasks,
        scope.params,
        scope.workspaces,
    )
    if not DNS_LABEL.fullmatch(task.name) or len(task.name) > 63:
        report.add(
            (*at, "name"), f"invalid pipeline task name {task.name!r}", hint="use a DNS label: a-z, 0-9, '-'"
        )
    kinds = (
        ("taskRef", task.task_ref),
        ("taskSpec", task.task_spec),
        ("pipelineRef", task.pipeline_ref),
        ("pipelineSpec", task.pipeline_spec),
    )
    given = [name for name, value in kinds if value is not None]
    if len(given) != 1:
        report.add(
            at, f"task {task.name!r} needs exactly one of taskRef or taskSpec, has {given or 'neither'}"
        )
    if task.task_ref is not None and not task.task_ref.name and not task.task_ref.resolver:
        report.add((*at, "taskRef"), "taskRef needs a name (or a resolver)")
    if is_finally and task.run_after:
        report.add(
            (*at, "runAfter"),
            "finally tasks cannot use runAfter",
            hint="finally tasks all run after the tasks",
        )
    for j, after in enumerate(task.run_after if not is_finally else []):
        if after not in dag_tasks:
            what = "a finally task" if after in finally_tasks else "not a task of this pipeline"
            report.add((*at, "runAfter", j), f"{INVALID_GRAPH}: runAfter {after!r} is {what}")
    if task.retries < 0:
        report.add((*at, "retries"), f"retries must be 0 or more, not {task.retries}")
    if task.on_error == "continue" and task.retries > 0:
        report.add((*at, "onError"), 'onError "continue" cannot be combined with retries')
    check_duration(report, (*at, "timeout"), task.timeout)
    for j, binding in enumerate(task.workspaces):
        name = binding.workspace or binding.name
        if name not in workspaces:
            report.add(
                (*at, "workspaces", j),
                f"workspace {name!r} is not declared by the pipeline",
                hint=known("workspaces", workspaces),
            )
    _check_when(report, at, task)
    _check_matrix(report, at, task, params)
    scanned = (
        ("params", task.params),
        ("matrix", task.matrix),
        ("when", task.when),
        ("displayName", task.display_name),
        ("taskRef", task.task_ref),
    )
    for field_name, value in scanned:
        for rel, _text, ref in iter_references(value, (*at, field_name)):
            if ref.startswith("params.") and not param_declared(ref.removeprefix("params."), params):
                report.add(rel, f"$({ref}) names an undeclared pipeline param", hint=known("params", params))
    for rel, task_ref in pipeline_task_references(task):
        _check_task_ref(report, scope, (*at, *rel), task_ref, is_finally=is_finally)


def _check_task_ref(
    report: Report, scope: _PipelineScope, rel: FieldPath, ref: TaskReference, *, is_finally: bool
) -> None:
    dag_tasks, finally_tasks = scope.dag_tasks, scope.finally_tasks
    if ref.kind != "result" and not is_finally:
        text = "tasks.status" if ref.task is None else f"tasks.{ref.task}.{ref.kind}"
        report.add(rel, f"only finally tasks can read $({text})", hint="move this task to `finally`")
        return
    if ref.task is None:
        return
    if ref.task in finally_tasks:
        report.add(rel, f"task {ref.task!r} is a finally task; only results of other tasks can be read")
        return
    if ref.task not in dag_tasks:
        report.add(rel, f"reference to task {ref.task!r}, which is not a task of this pipeline")
        return
    producer = dag_tasks[ref.task].task_spec
    if ref.kind == "result" and producer is not None:
        names = {r.name for r in producer.results}
        rest = ref.rest or ""
        if not any(rest == n or rest.startswith((n + ".", n + "[")) for n in names):
            report.add(rel, f"task {ref.task!r} has no result {ref.result!r}", hint=known("results", names))


def _check_when(report: Report, at: FieldPath, task: PipelineTask) -> None:
    for j, when in enumerate(task.when):
        rel = (*at, "when", j)
        if when.cel is not None:
            if when.input is not None or when.operator is not None or when.values is not None:
                report.add(rel, "a when expression has either cel or input/operator/values, not both")
            if (problem := cel_syntax_problem(when.cel)) is not None:
                report.add((*rel, "cel"), problem)
            continue
        if when.input is None or when.operator is None:
            report.add(rel, "a when expression needs input and operator (in or notin)")
        if not when.values:
            report.add((*rel, "values"), "a when expression needs at least one value")


def _check_matrix(report: Report, at: FieldPath, task: PipelineTask, params: Mapping[str, ParamSpec]) -> None:
    if task.matrix is None:
        return
    names = {p.name for p in task.params}
    sizes: list[int] = []
    static = True
    for j, param in enumerate(task.matrix.params):
        rel = (*at, "matrix", "params", j)
        if param.name in names:
            report.add((*rel, "name"), f"param {param.name!r} is given both in params and in matrix")
        value = param.value
        if isinstance(value, list):
            sizes.append(len(value))
            continue
        if isinstance(value, str) and re.fullmatch(r"\$\([^()]+\)", value.strip()):
            ref = value.strip()[2:-1]
            base = ref.removeprefix("params.").removesuffix("[*]")
            if ref.startswith("params.") and base in params and params[base].effective_type != "array":
                report.add(
                    (*rel, "value"),
                    f"matrix param {param.name!r} must be an array; {ref} is a {params[base].effective_type}",
                )
            static = False
            continue
        report.add(
            (*rel, "value"), f"matrix param {param.name!r} must be an array", hint="give a list of values"
        )
    if static and sizes:
        # `include` entries only add params to these combinations or add a few; the product dominates.
        combinations = math.prod(sizes)
        if combinations > MAX_MATRIX_COMBINATIONS:
            report.add(
                (*at, "matrix"),
                f"matrix makes {combinations} combinations; at most {MAX_MATRIX_COMBINATIONS} are allowed",
            )
