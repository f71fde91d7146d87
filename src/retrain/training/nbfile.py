"""Reading a notebook file: refuse what is not a notebook (without quoting it), its declared parameters, and
the per-cell status and timing papermill leaves in an executed one."""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import InvalidInput, Location

INJECTED_TAG = "injected-parameters"
PARAMETERS_TAG = "parameters"
MARKER_TAG = "papermill-error-cell-tag"


@dataclass(frozen=True)
class CellTiming:
    index: int | None  # in the input notebook; None for the injected parameters cell
    kind: str  # "code", "parameters" or "injected-parameters"
    status: str  # papermill's: "completed", "failed", "running", "pending"
    duration_s: float | None
    first_line: str


def read_notebook(path: Path) -> Any:
    """The notebook as an nbformat node; InvalidInput naming the file when it cannot be one.

    The message names the file and what is wrong with it, never its content: `--notebook-path /etc/passwd`
    must not print the first bytes of the password file (nbformat's own errors quote them).
    """
    import json

    import nbformat

    where = Location(file=str(path), field="notebook-path")
    hint = "give the path of a Jupyter notebook (.ipynb, nbformat 4 JSON)"
    if not path.is_file():
        raise InvalidInput(f"notebook {path} does not exist or is not a file", location=where, hint=hint)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise InvalidInput(
            f"{path} is not a notebook: it is not UTF-8 text", location=where, hint=hint
        ) from None
    except OSError as err:
        raise InvalidInput(
            f"cannot read notebook {path}: {err.strerror}", location=where, hint=hint
        ) from None
    try:
        json.loads(text)
    except ValueError as err:
        position = (
            f" (line {err.lineno}, column {err.colno})" if isinstance(err, json.JSONDecodeError) else ""
        )
        raise InvalidInput(
            f"{path} is not a notebook: it is not JSON{position}", location=where, hint=hint
        ) from None
    try:
        return nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as err:  # nbformat raises several unrelated types; their messages quote the file
        raise InvalidInput(
            f"{path} is not a notebook: its JSON does not follow the nbformat schema ({type(err).__name__})",
            location=where,
            hint=hint,
        ) from None


def cell_tags(cell: Any) -> list[str]:
    return list(cell.get("metadata", {}).get("tags", []))


def declared_parameters(nb: Any) -> list[str]:
    """Names assigned at top level in the first `parameters`-tagged cell (empty when there is none)."""
    for cell in nb.cells:
        if cell.cell_type == "code" and PARAMETERS_TAG in cell_tags(cell):
            try:
                tree = ast.parse(cell.source)
            except SyntaxError:
                return []
            names: list[str] = []
            for node in tree.body:
                targets = node.targets if isinstance(node, ast.Assign) else [getattr(node, "target", None)]
                names += [t.id for t in targets if isinstance(t, ast.Name)]
            return names
    return []


def first_line(source: str) -> str:
    return next((line.strip() for line in source.splitlines() if line.strip()), "")[:80]


def cell_timings(nb: Any) -> tuple[CellTiming, ...]:
    """Timing and status of every code cell, from papermill's per-cell metadata."""
    timings: list[CellTiming] = []
    position = 0
    for cell in nb.cells:
        tags = cell_tags(cell)
        if MARKER_TAG in tags:
            continue
        injected = INJECTED_TAG in tags
        index = None if injected else position
        position += 0 if injected else 1
        if cell.cell_type != "code":
            continue
        meta = cell.get("metadata", {}).get("papermill", {})
        kind = INJECTED_TAG if injected else PARAMETERS_TAG if PARAMETERS_TAG in tags else "code"
        duration = meta.get("duration")
        timings.append(
            CellTiming(
                index,
                kind,
                str(meta.get("status", "pending")),
                None if duration is None else float(duration),
                first_line(cell.source),
            )
        )
    return tuple(timings)
