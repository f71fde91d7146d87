"""The task graph of a Pipeline: who must finish before whom.

Edges come from `runAfter` and from every `$(tasks.X.results...)` a task reads (params, matrix, when, and the
embedded taskSpec). Finally tasks are not part of the graph; they run after it. Errors carry Tekton's reason
`PipelineInvalidGraph`, as a PipelineRun's condition would.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property

from retrain.errors import InvalidInput, Location
from retrain.tekton.loader import SourceMap
from retrain.tekton.model import PipelineSpec
from retrain.tekton.problems import format_field_path, parse_field_path
from retrain.tekton.references import pipeline_task_references

__all__ = ["INVALID_GRAPH", "Dag", "build_dag"]

INVALID_GRAPH = "PipelineInvalidGraph"


@dataclass(frozen=True)
class Dag:
    tasks: tuple[str, ...]  # declaration order
    deps: Mapping[str, frozenset[str]]  # task -> the tasks it waits for (every task has an entry)

    @cached_property
    def _dependents(self) -> Mapping[str, frozenset[str]]:
        out: dict[str, set[str]] = {t: set() for t in self.tasks}
        for task, deps in self.deps.items():
            for dep in deps:
                out[dep].add(task)
        return {t: frozenset(s) for t, s in out.items()}

    def roots(self) -> tuple[str, ...]:
        """Tasks that wait for nothing, in declaration order."""
        return tuple(t for t in self.tasks if not self.deps.get(t))

    def dependents(self, task: str) -> frozenset[str]:
        """Tasks that wait directly for `task`."""
        return self._dependents[task]

    def downstream(self, task: str) -> frozenset[str]:
        """Every task that waits for `task`, directly or through others."""
        seen: set[str] = set()
        todo = list(self._dependents[task])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self._dependents[current])
        return frozenset(seen)

    def upstream(self, task: str) -> frozenset[str]:
        """Every task that `task` waits for, directly or through others."""
        seen: set[str] = set()
        todo = list(self.deps[task])
        while todo:
            current = todo.pop()
            if current not in seen:
                seen.add(current)
                todo.extend(self.deps[current])
        return frozenset(seen)

    def topological_order(self) -> tuple[str, ...]:
        """Dependencies first; among tasks that are ready together, declaration order."""
        order: list[str] = []
        done: set[str] = set()
        while len(order) < len(self.tasks):
            ready = [t for t in self.tasks if t not in done and self.deps[t] <= done]
            if not ready:  # build_dag rejects cycles, so only a hand-made Dag gets here
                raise InvalidInput(f"{INVALID_GRAPH}: the tasks form a cycle")
            order.extend(ready)
            done.update(ready)
        return tuple(order)


def _where(where: SourceMap | None, field: str) -> Location:
    return where.location(field) if where else Location(field=field)


def build_dag(spec: PipelineSpec, *, where: SourceMap | None = None, path: str = "spec") -> Dag:
    """The graph of `spec.tasks`; an unknown task or a cycle raises InvalidInput (PipelineInvalidGraph)."""
    names = tuple(t.name for t in spec.tasks)
    finally_names = {t.name for t in spec.finally_}
    prefix = parse_field_path(path)
    deps: dict[str, set[str]] = {name: set() for name in names}
    cause: dict[tuple[str, str], str] = {}  # (task, dep) -> field path that created the edge
    for i, task in enumerate(spec.tasks):
        edges: list[tuple[str, str]] = []
        for j, after in enumerate(task.run_after):
            edges.append((after, format_field_path((*prefix, "tasks", i, "runAfter", j))))
        for rel, ref in pipeline_task_references(task):
            if ref.kind == "result" and ref.task is not None:
                edges.append((ref.task, format_field_path((*prefix, "tasks", i, *rel))))
        for dep, field in edges:
            if dep not in deps:
                what = "a finally task" if dep in finally_names else "not a task of this pipeline"
                raise InvalidInput(
                    f"{INVALID_GRAPH}: task {task.name!r} depends on {dep!r}, which is {what}",
                    location=_where(where, field),
                    hint=f"tasks are: {', '.join(names)}" if names else None,
                )
            deps[task.name].add(dep)
            cause.setdefault((task.name, dep), field)
    cycle = _find_cycle(names, deps)
    if cycle:
        field = cause.get((cycle[0], cycle[1]), format_field_path((*prefix, "tasks")))
        raise InvalidInput(
            f"{INVALID_GRAPH}: cycle detected: {' -> '.join(cycle)}",
            location=_where(where, field),
            hint="remove one runAfter or result reference on the cycle",
        )
    return Dag(names, {name: frozenset(d) for name, d in deps.items()})


def _find_cycle(names: tuple[str, ...], deps: Mapping[str, set[str]]) -> list[str] | None:
    """A cycle as a path `a -> b -> ... -> a` (a waits for b ...), found depth-first in declaration order."""
    state: dict[str, int] = {}  # 1 = on the stack, 2 = finished
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for dep in sorted(deps[node], key=names.index):
            if state.get(dep) == 1:
                return [*stack[stack.index(dep) :], dep]
            if dep not in state:
                found = visit(dep)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for name in names:
        if name not in state:
            found = visit(name)
            if found:
                return found
    return None
