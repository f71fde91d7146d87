"""Tekton variable substitution: `$(params.x)`, `$(tasks.t.results.r)`, `$(workspaces.w.path)`, ...

Rules follow tektoncd/pipeline's pkg/substitution:
- every `$(key)` whose key is known is replaced in one pass (a replaced value is never substituted again);
  unknown keys are left exactly as written, as Tekton does;
- a list element that is exactly `$(params.a[*])` (or `$(params.a)` for an array) becomes the array's
  elements; elsewhere an array reference is left alone (Tekton's webhook rejects it before it gets here);
- the bracket forms `$(params["my.param"])`, `$(params['x'])` and `$(tasks.t.results["r"])` mean the same as
  the dotted forms; keys are always given, and looked up, in the dotted form (`params.my.param`).
Indexes (`$(params.a[0])`) and object keys (`$(params.o.key)`) fall back to `arrays` and `objects` when
`strings` has no entry, so callers need only register each value once.
"""

from __future__ import annotations

import re
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel

__all__ = [
    "Replacements",
    "find_references",
    "normalize_reference",
    "substitute_list",
    "substitute_model",
    "substitute_string",
    "whole_reference",
]

M = TypeVar("M", bound=BaseModel)

# `$(` ... `)` with no whitespace, `$` or parentheses inside: `$(date +%s)` and `$(echo $(params.x))` are
# shell, only the inner `$(params.x)` of the latter is a Tekton reference.
_REFERENCE = re.compile(r"\$\(([^()\s$]+)\)")
_NAME = r"[A-Za-z0-9_-]+"
_FIRST = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PART = re.compile(rf"\.({_NAME})|\[\"([^\"\]]+)\"\]|\['([^'\]]+)'\]|\[(\d+|\*)\]")


@dataclass(frozen=True)
class Replacements:
    """The values a `$(...)` can stand for, keyed by the dotted reference without `$(` `)`."""

    strings: Mapping[str, str] = field(default_factory=dict)
    arrays: Mapping[str, Sequence[str]] = field(default_factory=dict)
    objects: Mapping[str, Mapping[str, str]] = field(default_factory=dict)

    def merged(self, other: Replacements) -> Replacements:
        """A new set with `other`'s entries added; `other` wins where both define a key."""
        return Replacements(
            strings={**self.strings, **other.strings},
            arrays={**self.arrays, **other.arrays},
            objects={**self.objects, **other.objects},
        )

    def without(self, names: tuple[str, ...]) -> Replacements:
        """A new set without the references under any of `names` (what an inline spec declares itself):
        `params.a` drops `params.a`, `params.a.key` and `params.a[0]` but not `params.ab`; a name ending
        in "." (`workspaces.`) drops everything under it."""

        def dropped(key: str) -> bool:
            return any(
                key == n or (key.startswith(n) and (n.endswith(".") or key[len(n)] in ".[")) for n in names
            )

        return Replacements(
            strings={k: v for k, v in self.strings.items() if not dropped(k)},
            arrays={k: v for k, v in self.arrays.items() if not dropped(k)},
            objects={k: v for k, v in self.objects.items() if not dropped(k)},
        )

    def lookup_string(self, key: str) -> str | None:
        """The string value of a dotted key, using array indexes and object keys as fallbacks."""
        if key in self.strings:
            return self.strings[key]
        indexed = re.fullmatch(r"(.+)\[(\d+)\]", key)
        if indexed:
            items = self.arrays.get(indexed.group(1))
            index = int(indexed.group(2))
            return items[index] if items is not None and index < len(items) else None
        base, _, member = key.rpartition(".")
        if base in self.objects:
            return self.objects[base].get(member)
        return None

    def lookup_array(self, key: str) -> Sequence[str] | None:
        """The array a whole reference (`x[*]` or bare `x`) stands for."""
        return self.arrays.get(key.removesuffix("[*]"))

    def lookup_object(self, key: str) -> Mapping[str, str] | None:
        return self.objects.get(key.removesuffix("[*]"))


def normalize_reference(expression: str) -> str | None:
    """`params["a.b"][*]` -> `params.a.b[*]`; None when the text is not a Tekton variable expression."""
    first = _FIRST.match(expression)
    if first is None:
        return None
    out = [first.group(0)]
    pos = first.end()
    while pos < len(expression):
        part = _PART.match(expression, pos)
        if part is None:
            return None
        dotted, double, single, index = part.groups()
        if index is not None:
            out.append(f"[{index}]")
        else:
            out.append("." + (dotted or double or single))
        pos = part.end()
    return "".join(out)


def find_references(text: str) -> list[str]:
    """The normalised inner expression of every `$(...)` in text, in order, duplicates kept."""
    found = []
    for match in _REFERENCE.finditer(text):
        key = normalize_reference(match.group(1))
        if key is not None:
            found.append(key)
    return found


def whole_reference(text: str) -> str | None:
    """The normalised key when text is exactly one `$(...)` and nothing else (an "isolated" reference)."""
    match = _REFERENCE.fullmatch(text)
    return normalize_reference(match.group(1)) if match else None


def substitute_string(text: str, r: Replacements) -> str:
    """Replace every known `$(key)` in text; leave unknown ones as written."""
    if "$(" not in text:
        return text

    def replace(match: re.Match[str]) -> str:
        key = normalize_reference(match.group(1))
        value = r.lookup_string(key) if key is not None else None
        return match.group(0) if value is None else value

    return _REFERENCE.sub(replace, text)


def _array_for(key: str | None, r: Replacements) -> Sequence[str] | None:
    """The array a whole reference stands for: `x[*]`, or bare `x` when x is not also a string."""
    if key is None or (key.endswith("]") and not key.endswith("[*]")) or key in r.strings:
        return None
    return r.lookup_array(key)


def _object_for(key: str | None, r: Replacements) -> Mapping[str, str] | None:
    if key is None or (key.endswith("]") and not key.endswith("[*]")) or key in r.strings:
        return None
    return r.lookup_object(key)


def substitute_list(items: Sequence[str], r: Replacements) -> list[str]:
    """Substitute each element; an element that is exactly an array reference expands in place."""
    out: list[str] = []
    for item in items:
        array = _array_for(whole_reference(item), r)
        if array is not None:
            out.extend(array)
        else:
            out.append(substitute_string(item, r))
    return out


def _substitute_value(value: str, r: Replacements, *, may_widen: bool) -> str | list[str] | dict[str, str]:
    """A string field; where the field accepts arrays/objects (a param value), a whole `[*]` or bare
    array/object reference becomes the array or object itself, as when a Pipeline passes an array param on."""
    if may_widen:
        key = whole_reference(value)
        array = _array_for(key, r)
        if array is not None:
            return list(array)
        obj = _object_for(key, r)
        if obj is not None:
            return dict(obj)
    return substitute_string(value, r)


def _substitute_any(value: Any, r: Replacements, *, may_widen: bool = False) -> Any:
    if isinstance(value, str):
        return _substitute_value(value, r, may_widen=may_widen)
    if isinstance(value, BaseModel):
        return substitute_model(value, r)
    if isinstance(value, list):
        if all(isinstance(item, str) for item in value):
            return substitute_list(value, r)
        return [_substitute_any(item, r) for item in value]
    if isinstance(value, tuple):
        return tuple(_substitute_any(item, r) for item in value)
    if isinstance(value, dict):
        # Keys are names (labels, env names, object param keys); Tekton substitutes values only.
        return {key: _substitute_any(item, r) for key, item in value.items()}
    return value


def _accepts_collections(annotation: Any) -> bool:
    """Whether a field declared `str | list[str] | dict[str, str]` (a ParamValue) may receive an array."""
    origin = typing.get_origin(annotation)
    if origin in (typing.Union, types.UnionType):
        args = typing.get_args(annotation)
        return str in args and any(typing.get_origin(a) in (list, dict) for a in args)
    return False


def substitute_model(obj: M, r: Replacements) -> M:
    """A copy of a (frozen) pydantic model with every string inside it substituted."""
    updates: dict[str, Any] = {}
    for name, info in type(obj).model_fields.items():
        value = getattr(obj, name)
        new = _substitute_any(value, r, may_widen=_accepts_collections(info.annotation))
        if new is not value and new != value:
            updates[name] = new
    return obj.model_copy(update=updates) if updates else obj
