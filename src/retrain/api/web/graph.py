"""The pipeline as a graph, server-side SVG: tasks in columns by depth (runAfter and result references are
the edges), `finally` tasks in their own box to the right, each node coloured by its state (CSS classes
`state-<state>`; `dashboard.js` updates them from live.json while the run runs)."""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from retrain.api.web.html import esc

NODE_W, NODE_H, GAP_X, GAP_Y, PAD = 170, 40, 60, 16, 12
_RESULT_REF = re.compile(r"\$\(tasks\.([a-z0-9]([-a-z0-9]*[a-z0-9])?)\.results\.")


@dataclass(frozen=True)
class Edge:
    source: str
    target: str
    kind: str  # runAfter | result


def edges_of(spec: Mapping[str, Any]) -> tuple[list[str], list[str], list[Edge]]:
    """DAG task names, finally task names, and the edges between DAG tasks (a `finally` task runs after all
    of them; its result references are drawn too)."""
    tasks = [t for t in spec.get("tasks") or [] if isinstance(t, dict) and "name" in t]
    finally_ = [t for t in spec.get("finally") or [] if isinstance(t, dict) and "name" in t]
    names = {t["name"] for t in tasks}
    edges: list[Edge] = []
    for task in [*tasks, *finally_]:
        after = [a for a in task.get("runAfter") or [] if a in names]
        edges += [Edge(a, task["name"], "runAfter") for a in after]
        refs = {m.group(1) for m in _RESULT_REF.finditer(json.dumps(task))}
        edges += [Edge(r, task["name"], "result") for r in sorted(refs) if r in names and r not in after]
    return [t["name"] for t in tasks], [t["name"] for t in finally_], edges


def _levels(names: Sequence[str], edges: Sequence[Edge]) -> dict[str, int]:
    level = dict.fromkeys(names, 0)
    for _ in range(len(names)):  # longest path; a cycle (refused by the engine) cannot loop forever here
        changed = False
        for e in edges:
            if e.source in level and e.target in level and level[e.target] <= level[e.source]:
                level[e.target] = level[e.source] + 1
                changed = True
        if not changed:
            break
    return level


def pipeline_svg(spec: Mapping[str, Any], states: Mapping[str, str]) -> str:
    """The graph as an inline <svg>; `states` maps a task name to its state (Pending when absent)."""
    dag, finally_, edges = edges_of(spec)
    if not dag and not finally_:
        return '<p class="muted">This run has no pipeline graph (a TaskRun, or a pipeline not resolved).</p>'
    level = _levels(dag, edges)
    columns: dict[int, list[str]] = {}
    for name in dag:
        columns.setdefault(level[name], []).append(name)
    pos: dict[str, tuple[int, int]] = {}
    for col, members in columns.items():
        for row, name in enumerate(members):
            pos[name] = (PAD + col * (NODE_W + GAP_X), PAD + 24 + row * (NODE_H + GAP_Y))
    finally_x = PAD + (max(columns, default=-1) + 1) * (NODE_W + GAP_X) + (GAP_X // 2 if finally_ else 0)
    for row, name in enumerate(finally_):
        pos[name] = (finally_x + PAD, PAD + 24 + row * (NODE_H + GAP_Y) + 16)
    rows = max([len(m) for m in columns.values()] + [len(finally_)])
    width = finally_x + (NODE_W + 3 * PAD if finally_ else 0)
    height = PAD * 2 + 24 + rows * (NODE_H + GAP_Y) + 16
    parts = [f'<svg class="graph" xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
             f'width="{width}" height="{height}" role="img" aria-label="pipeline graph">',
             '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" '
             'markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" class="arrowhead"/>'
             '</marker></defs>']  # fmt: skip
    for e in edges:
        if e.source in pos and e.target in pos:
            (x1, y1), (x2, y2) = pos[e.source], pos[e.target]
            sx, sy, tx, ty = x1 + NODE_W, y1 + NODE_H // 2, x2, y2 + NODE_H // 2
            mid = (sx + tx) // 2
            parts.append(f'<path class="edge edge-{e.kind}" d="M{sx},{sy} C{mid},{sy} {mid},{ty} {tx},{ty}" '
                         'marker-end="url(#arrow)"/>')  # fmt: skip
    if finally_:
        box_h = len(finally_) * (NODE_H + GAP_Y) + 24
        parts.append(f'<rect class="finally-box" x="{finally_x}" y="{PAD + 14}" width="{NODE_W + 2 * PAD}" '
                     f'height="{box_h}" rx="8"/><text class="finally-label" x="{finally_x + PAD}" '
                     f'y="{PAD + 10}">finally</text>')  # fmt: skip
    for name in [*dag, *finally_]:
        x, y = pos[name]
        state = states.get(name, "Pending")
        label = name if len(name) <= 20 else name[:19] + "…"
        parts.append(
            f'<g class="node state-{esc(state.lower())}" id="task-{esc(name)}" data-task="{esc(name)}" '
            f'data-state="{esc(state)}"><title>{esc(name)}: {esc(state)}</title>'
            f'<rect x="{x}" y="{y}" width="{NODE_W}" height="{NODE_H}" rx="6"/>'
            f'<text x="{x + 10}" y="{y + 17}" class="node-name">{esc(label)}</text>'
            f'<text x="{x + 10}" y="{y + 32}" class="node-state">{esc(state)}</text></g>'
        )
    parts.append("</svg>")
    return "".join(parts)
