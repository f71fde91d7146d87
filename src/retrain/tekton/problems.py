"""Field paths, and pydantic ValidationErrors turned into InvalidInput errors a person can act on.

A field path is written the Tekton way, with wire (camelCase) names and indexes:
`spec.pipelineSpec.tasks[2].taskSpec.steps[0].onError`.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from retrain.errors import InvalidInput, Location

if TYPE_CHECKING:
    from retrain.tekton.loader import SourceMap

__all__ = ["FieldPath", "format_field_path", "parse_field_path", "validation_problems"]

FieldPath = tuple[str | int, ...]

_PLAIN_KEY = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PATH_PART = re.compile(r"\.?([A-Za-z_][A-Za-z0-9_-]*)|\[(\d+)\]|\[\"([^\"]*)\"\]")


def format_field_path(path: Sequence[str | int]) -> str:
    """("spec", "tasks", 2, "runAfter") -> "spec.tasks[2].runAfter"; odd keys go in brackets."""
    out = ""
    for part in path:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f'["{part}"]'
    return out


def parse_field_path(text: str) -> FieldPath:
    """The inverse of format_field_path (unknown syntax stops the parse; what was read is returned)."""
    parts: list[str | int] = []
    pos = 0
    while pos < len(text):
        match = _PATH_PART.match(text, pos)
        if match is None or match.end() == pos:
            break
        name, index, quoted = match.groups()
        parts.append(int(index) if index is not None else (name if name is not None else quoted))
        pos = match.end()
    return tuple(parts)


def _describe(value: Any) -> str:
    if value is None:
        return "an empty value (null)"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"the number {value}"
    if isinstance(value, str):
        return f"the string {value!r}"
    if isinstance(value, Mapping):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return type(value).__name__


def _describe_mixed(value: Any) -> str:
    """Like _describe, but names the first item that is not a string inside a list or mapping."""
    if isinstance(value, list):
        for i, item in enumerate(value):
            if not isinstance(item, str):
                return f"a list whose item [{i}] is {_describe(item)}"
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(item, str):
                return f"a mapping whose key {key!r} holds {_describe(item)}"
    return _describe(value)


_EXPECTED = {
    "string_type": "a string",
    "list_type": "a list",
    "dict_type": "a mapping",
    "model_type": "a mapping",
    "model_attributes_type": "a mapping",
    "int_type": "an integer",
    "int_parsing": "an integer",
    "int_from_float": "a whole number",
    "bool_type": "true or false",
    "bool_parsing": "true or false",
}


def _unwrap_models(annotation: Any) -> list[type[BaseModel]]:
    """The model classes an annotation can hold (through Optional, list, dict)."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return [annotation]
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin in (typing.Union, types.UnionType, list, tuple):
        return [m for a in args for m in _unwrap_models(a)]
    if origin is dict and len(args) == 2:
        return _unwrap_models(args[1])
    return []


def _aliases(cls: type[BaseModel]) -> dict[str, str]:
    """wire name -> python field name."""
    return {(info.alias or name): name for name, info in cls.model_fields.items()}


def _model_at(root: type[BaseModel], path: FieldPath) -> type[BaseModel] | None:
    """The model class that holds the mapping at `path` (None inside opaque JSON)."""
    current: list[type[BaseModel]] = [root]
    for part in path:
        if isinstance(part, int):
            continue
        nxt: list[type[BaseModel]] = []
        for cls in current:
            fields = _aliases(cls)
            if part in fields:
                nxt.extend(_unwrap_models(cls.model_fields[fields[part]].annotation))
        if not nxt:
            return None
        current = nxt
    return current[0] if current else None


def _has(container: Any, part: str | int) -> bool:
    if isinstance(container, dict):
        return part in container
    return isinstance(container, list) and isinstance(part, int) and 0 <= part < len(container)


def _clean_path(loc: tuple[str | int, ...], data: Any, error_type: str) -> tuple[FieldPath, FieldPath | None]:
    """Drop pydantic's union-member tags (`str`, `list[str]`) from a loc by walking the real data.
    Returns the path, and where the error is one branch of a union, the path of the field with the union."""
    path: list[str | int] = []
    union_at: FieldPath | None = None
    current = data
    for i, part in enumerate(loc):
        if _has(current, part):
            path.append(part)
            current = current[part]
        elif i == len(loc) - 1 and error_type == "missing":
            path.append(part)
        elif union_at is None:
            union_at = tuple(path)  # a tag; the path stays where it is
    return tuple(path), union_at


def _value_at(data: Any, path: FieldPath) -> Any:
    for part in path:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _one_problem(
    err: ErrorDetails, path: FieldPath, data: Any, root: type[BaseModel], source: SourceMap
) -> InvalidInput:
    kind = err["type"]
    where = Location(source.file, source.line_of(path), format_field_path(path) or None)
    value = _value_at(data, path)
    if kind == "extra_forbidden":
        name = str(path[-1])
        owner = _model_at(root, path[:-1])
        allowed = sorted(_aliases(owner)) if owner else []
        close = difflib.get_close_matches(name, allowed, n=1, cutoff=0.6)
        if close:
            hint = f"did you mean {close[0]!r}?"
        elif allowed:
            hint = "allowed fields: " + ", ".join(allowed)
        else:
            hint = None
        return InvalidInput(f"unknown field {name!r}", location=where, hint=hint)
    if kind == "missing":
        return InvalidInput(f"missing required field {path[-1]!r}", location=where)
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return InvalidInput(f"invalid value {value!r}; expected {expected}", location=where)
    if kind in _EXPECTED:
        return InvalidInput(f"wrong type: expected {_EXPECTED[kind]}, got {_describe(value)}", location=where)
    return InvalidInput(f"invalid value {_describe(value)}: {err['msg']}", location=where)


def validation_problems(
    exc: ValidationError, data: Any, root: type[BaseModel], source: SourceMap
) -> list[InvalidInput]:
    """One InvalidInput per problem, in document order; a failed union (a param value that is none of a
    string, a list of strings or a mapping of strings) is reported once, at the field."""
    problems: dict[FieldPath, InvalidInput] = {}
    for err in exc.errors():
        path, loc_path = _clean_path(tuple(err["loc"]), data, err["type"])
        if loc_path is not None:
            # Report the whole union failure once, at the field where the union starts.
            if loc_path not in problems:
                where = Location(source.file, source.line_of(loc_path), format_field_path(loc_path) or None)
                got = _describe_mixed(_value_at(data, loc_path))
                problems[loc_path] = InvalidInput(
                    f"wrong type: expected a string, a list of strings or a mapping of strings, got {got}",
                    location=where,
                )
            continue
        problems.setdefault(path, _one_problem(err, path, data, root, source))
    ordered = sorted(problems.items(), key=lambda item: source.line_of(item[0]) or 0)
    return [problem for _, problem in ordered]
