"""Field names matched as Tekton matches them: Go's encoding/json pairs a JSON key with a struct field
case-insensitively when no field has exactly that name (`RunAfter`, `taskref`, `Script` all decode).

Tekton's CRDs keep unknown fields (x-kubernetes-preserve-unknown-fields) and its webhook decodes with Go's
decoder, so such a file runs on a cluster. The loader therefore accepts it too, with a warning naming the
canonical spelling, rather than rejecting it or, worse, dropping the field. A key that differs from a field
only in case while the canonical key is also present is left alone (the model then reports it as unknown),
since Go would silently let the later one win.

A local `taskRef` (no apiVersion, no resolver) with `kind: task` fetches a namespaced Task in Tekton
(GetTaskFunc uses the kind only for custom tasks, which need an apiVersion), so the kind is spelled `Task`.
"""

from __future__ import annotations

import types
import typing
from dataclasses import dataclass, field
from typing import Any

from pydantic import BaseModel

from retrain.tekton.model import TaskRef
from retrain.tekton.problems import FieldPath


@dataclass
class Folded:
    """What folding changed: each renamed key as (old path, new path), and notes for the user."""

    renames: list[tuple[FieldPath, FieldPath]] = field(default_factory=list)
    notes: list[tuple[FieldPath, str]] = field(default_factory=list)


def _models_in(annotation: Any) -> tuple[str, type[BaseModel]] | None:
    """('one' | 'list' | 'dict', Model) for a field holding a model, a list of them or a map of them."""
    origin = typing.get_origin(annotation)
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return "one", annotation
    if origin in (typing.Union, types.UnionType):
        found = [m for m in (_models_in(a) for a in typing.get_args(annotation)) if m is not None]
        return found[0] if len(found) == 1 else None
    if origin is list:
        inner = _models_in(typing.get_args(annotation)[0])
        return ("list", inner[1]) if inner and inner[0] == "one" else None
    if origin is dict:
        inner = _models_in(typing.get_args(annotation)[1])
        return ("dict", inner[1]) if inner and inner[0] == "one" else None
    return None


def fold_field_names(data: Any, model: type[BaseModel], path: FieldPath, folded: Folded) -> Any:
    """A copy of `data` with its keys spelled as `model`'s fields are, recursively."""
    if not isinstance(data, dict):
        return data
    by_key: dict[str, tuple[str, Any]] = {}
    for name, info in model.model_fields.items():
        by_key[info.alias or name] = (info.alias or name, info.annotation)
        by_key.setdefault(name, (name, info.annotation))
    lowered = {key.lower(): key for key in by_key}
    out: dict[str, Any] = {}
    for key, value in data.items():
        canonical = key
        if key not in by_key and key.lower() in lowered and lowered[key.lower()] not in data:
            canonical = lowered[key.lower()]
            folded.renames.append(((*path, key), (*path, canonical)))
            folded.notes.append(
                (
                    (*path, key),
                    f"field {key!r} read as {canonical!r} (Tekton matches field names "
                    f"case-insensitively, as Go's JSON decoder does); write {canonical!r}",
                )
            )
        out[canonical] = _fold_value(
            value, by_key.get(canonical, (canonical, None))[1], (*path, canonical), folded
        )
    if model is TaskRef:
        _fold_task_kind(out, path, folded)
    return out


def _fold_value(value: Any, annotation: Any, path: FieldPath, folded: Folded) -> Any:
    shape = _models_in(annotation) if annotation is not None else None
    if shape is None:
        return value
    how, model = shape
    if how == "one":
        return fold_field_names(value, model, path, folded)
    if how == "list" and isinstance(value, list):
        return [fold_field_names(item, model, (*path, i), folded) for i, item in enumerate(value)]
    if how == "dict" and isinstance(value, dict):
        return {k: fold_field_names(v, model, (*path, k), folded) for k, v in value.items()}
    return value


def _fold_task_kind(ref: dict[str, Any], path: FieldPath, folded: Folded) -> None:
    kind = ref.get("kind")
    local = not ref.get("apiVersion") and not ref.get("resolver")
    if local and isinstance(kind, str) and kind != "Task" and kind.lower() == "task":
        ref["kind"] = "Task"
        folded.notes.append(((*path, "kind"), f"taskRef kind {kind!r} read as 'Task'; write 'Task'"))


def remap_positions(
    positions: dict[FieldPath, int], renames: list[tuple[FieldPath, FieldPath]]
) -> dict[FieldPath, int]:
    """The source positions with each renamed key's sub-tree also found under its canonical path."""
    out = dict(positions)
    for old, new in renames:  # outer renames come first, so inner ones already use the new prefix
        n = len(old)
        out.update({(*new, *p[n:]): line for p, line in list(out.items()) if p[:n] == old})
    return out
