"""A Pipeline's `taskRef`s against the Task objects of the same tree.

Tekton resolves a `taskRef` only when a run starts: a Pipeline that names a Task nobody applied, passes a
param the Task does not declare, leaves out one it needs, or binds a workspace wrongly is accepted by the
API server and fails at run time. Here each is an error at its line.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from retrain.errors import InvalidInput

if TYPE_CHECKING:
    from retrain.cluster.crosscheck import Located, Tree

_RESULT = re.compile(r"\$\(tasks\.([a-z0-9-]+)\.results\.([A-Za-z0-9_.-]+)")


def _names(items: Any, *, unless: str | None = None) -> set[str]:
    """The `name`s of a list of params/workspaces/results; with `unless`, only those without that field
    set (params without a `default`, workspaces not `optional`)."""
    return {
        str(item["name"])
        for item in (items if isinstance(items, list) else [])
        if isinstance(item, dict)
        and "name" in item
        and not (unless and item.get(unless) not in (None, False))
    }


def _pipeline(pipeline: Located, tasks: dict[str, Located]) -> Iterator[InvalidInput]:
    spec = pipeline.data.get("spec") or {}
    refs: dict[str, dict[str, Any]] = {}  # pipeline task -> the Task's spec, where it resolved
    for section in ("tasks", "finally"):
        for i, task in enumerate(spec.get(section) or []):
            ref = task.get("taskRef") if isinstance(task, dict) else None
            if not isinstance(ref, dict) or ref.get("resolver") or ref.get("kind") not in (None, "Task"):
                continue  # an embedded taskSpec, a resolver or another kind: not ours to resolve
            at = ("spec", section, i)
            target = tasks.get(str(ref.get("name")))
            if target is None:
                yield pipeline.problem(
                    f"task {task.get('name')!r} names Task {ref.get('name')!r}, which is not in the tree",
                    *at, "taskRef", "name",
                    hint=f"render it too, or name one of: {', '.join(sorted(tasks)) or '(no Task rendered)'}",
                )  # fmt: skip
                continue
            tspec = target.data.get("spec") or {}
            refs[str(task.get("name"))] = tspec
            yield from _bindings(pipeline, task, tspec, at)
    for section in ("tasks", "finally", "results"):
        for i, item in enumerate(spec.get(section) or []):
            for name, result in _RESULT.findall(str(item)):
                declared = _names((refs.get(name) or {}).get("results"))
                if name in refs and result not in declared:
                    yield pipeline.problem(
                        f"$(tasks.{name}.results.{result}): the Task of {name!r} has no result {result!r}",
                        "spec", section, i, hint=f"declared: {', '.join(sorted(declared)) or '(none)'}",
                    )  # fmt: skip


def _bindings(
    pipeline: Located, task: dict[str, Any], tspec: dict[str, Any], at: tuple[str | int, ...]
) -> Iterator[InvalidInput]:
    name, task_name = task.get("name"), (task.get("taskRef") or {}).get("name")
    declared = _names(tspec.get("params"))
    given = _names(task.get("params"))
    for param in sorted(given - declared):
        yield pipeline.problem(
            f"task {name!r} passes param {param!r}, which Task {task_name} does not declare", *at, "params"
        )
    for param in sorted(_names(tspec.get("params"), unless="default") - given):
        yield pipeline.problem(
            f"task {name!r} does not pass param {param!r}, which Task {task_name} needs (no default)",
            *at,
            "params",
        )
    ws_declared = _names(tspec.get("workspaces"))
    bound = _names(task.get("workspaces"))
    for ws in sorted(bound - ws_declared):
        yield pipeline.problem(
            f"task {name!r} binds workspace {ws!r}, which Task {task_name} does not declare",
            *at,
            "workspaces",
        )
    for ws in sorted(_names(tspec.get("workspaces"), unless="optional") - bound):
        yield pipeline.problem(
            f"task {name!r} does not bind workspace {ws!r}, which Task {task_name} needs", *at, "workspaces"
        )


def task_refs(tree: Tree) -> Iterator[InvalidInput]:
    tasks = tree.named("Task")
    for pipeline in tree.named("Pipeline").values():
        yield from _pipeline(pipeline, tasks)
