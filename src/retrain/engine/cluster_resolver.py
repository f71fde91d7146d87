"""The `cluster` resolver, locally: an object the run can see on this machine.

Tekton's cluster resolver (pkg/resolution/resolver/cluster) fetches a Task, Pipeline or StepAction by
`kind` (the config's `default-kind`, "task"), `name` and `namespace` (required: the shipped config has an
empty `default-namespace`) from the cluster's API. Locally "the cluster" is what the run can see: the
Tasks, Pipelines and StepActions given with `-f` and the built-in catalog. Each lives in the namespace its
`metadata.namespace` names, `default` when it names none (the namespace of every local run).
"""

from __future__ import annotations

import difflib
from collections.abc import Mapping
from typing import TYPE_CHECKING

from retrain.engine.resolver_keys import ResolutionError
from retrain.tekton.model import Pipeline, StepAction, Task

if TYPE_CHECKING:
    from retrain.engine.prepare import Catalog

__all__ = ["KINDS", "find_object"]

KINDS = {"task": "Task", "pipeline": "Pipeline", "stepaction": "StepAction"}
LOCAL_NAMESPACE = "default"


def _local(names: Mapping[str, object]) -> list[str]:
    return [n for n in names if not n.startswith("resolver:")]  # not a resolved ref's key


def find_object(params: Mapping[str, str], catalog: Catalog) -> Task | Pipeline | StepAction:
    kind = params.get("kind") or "task"
    if kind not in KINDS:
        raise ResolutionError(
            f"unknown or unsupported resource kind '{kind}'", "kind is task, pipeline or stepaction"
        )
    name = params.get("name", "")
    namespace = params.get("namespace", "").strip()
    missing = [n for n, v in (("name", name), ("namespace", namespace)) if not v]
    if missing:
        raise ResolutionError(
            f"missing required cluster resolver params: {', '.join(missing)}",
            f'locally, objects without metadata.namespace are in namespace "{LOCAL_NAMESPACE}"',
        )
    found: Task | Pipeline | StepAction | None
    if kind == "stepaction":
        spec = catalog.step_actions.get(name)
        found = StepAction.model_validate({"metadata": {"name": name}, "spec": spec}) if spec else None
        known = _local(catalog.step_actions)
    else:
        pool: Mapping[str, Task | Pipeline] = catalog.tasks if kind == "task" else catalog.pipelines
        found, known = pool.get(name), _local(pool)
    label = KINDS[kind]
    if found is None:
        close = difflib.get_close_matches(name, known, n=1)
        raise ResolutionError(
            f'{label} "{name}" not found in namespace "{namespace}" (locally: the files given with -f '
            "and the built-in catalog)",
            f'did you mean "{close[0]}"?' if close else f"known: {', '.join(sorted(known)) or 'none'}",
        )
    where = found.metadata.namespace or LOCAL_NAMESPACE
    if where != namespace:
        raise ResolutionError(
            f'{label} "{name}" is in namespace "{where}", not "{namespace}"',
            f'set namespace to "{where}" (locally an object is in its metadata.namespace, '
            f'"{LOCAL_NAMESPACE}" when it has none)',
        )
    return found
