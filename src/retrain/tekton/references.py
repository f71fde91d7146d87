"""Finding `$(...)` references inside Tekton objects, with the field path of each.

Used by validation (to say where a bad reference is) and by the DAG builder (result references are edges).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel

from retrain.tekton.model import PipelineTask
from retrain.tekton.problems import FieldPath
from retrain.tekton.substitution import find_references

__all__ = [
    "TaskReference",
    "iter_references",
    "iter_strings",
    "parse_task_reference",
    "pipeline_task_references",
]


def iter_strings(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str]]:
    """Every string inside a model (or list/dict of them), with its wire-name field path."""
    if isinstance(value, str):
        yield path, value
    elif isinstance(value, BaseModel):
        for name, info in type(value).model_fields.items():
            yield from iter_strings(getattr(value, name), (*path, info.alias or name))
    elif isinstance(value, list | tuple):
        for i, item in enumerate(value):
            yield from iter_strings(item, (*path, i))
    elif isinstance(value, dict):
        for key, item in value.items():
            yield from iter_strings(item, (*path, str(key)))


def iter_references(value: Any, path: FieldPath = ()) -> Iterator[tuple[FieldPath, str, str]]:
    """(field path, the whole string, normalised reference) for every `$(...)` inside value."""
    for where, text in iter_strings(value, path):
        if "$(" in text:
            for ref in find_references(text):
                yield where, text, ref


@dataclass(frozen=True)
class TaskReference:
    """`$(tasks.X.results.R...)`, `$(tasks.X.status)`, `$(tasks.X.reason)` or `$(tasks.status)`."""

    kind: Literal["result", "status", "reason", "aggregate-status"]
    task: str | None  # None for the aggregate `$(tasks.status)`
    result: str | None = None  # the result name, without index or object key
    rest: str | None = None  # what follows `results.`, e.g. `r[*]`, `r.key`, `my.dotted.name`


def parse_task_reference(ref: str) -> TaskReference | None:
    """Parse a normalised reference beginning with `tasks.`; None for anything else."""
    if not ref.startswith("tasks."):
        return None
    if ref == "tasks.status":
        return TaskReference("aggregate-status", None)
    parts = ref.split(".", 3)
    if len(parts) == 3 and parts[2] in ("status", "reason"):
        return TaskReference("status" if parts[2] == "status" else "reason", parts[1])
    if len(parts) == 4 and parts[2] == "results":
        rest = parts[3]
        name = rest.split("[", 1)[0].split(".", 1)[0]
        return TaskReference("result", parts[1], name, rest)
    return None


def pipeline_task_references(
    task: PipelineTask, *, include_task_spec: bool = True
) -> Iterator[tuple[FieldPath, TaskReference]]:
    """Task references in the places Tekton reads them (params, matrix, when), plus the embedded taskSpec
    (implicit result propagation, tektoncd/pipeline#7086), with paths relative to the pipeline task."""
    sources: list[tuple[str, Any]] = [("params", task.params), ("matrix", task.matrix), ("when", task.when)]
    if include_task_spec:
        sources.append(("taskSpec", task.task_spec))
    for name, value in sources:
        for where, _text, ref in iter_references(value, (name,)):
            parsed = parse_task_reference(ref)
            if parsed is not None:
                yield where, parsed
