"""One section (`drift:`, `schedules:`, `notifications:`) of `retrain.yaml`, validated with file:line errors.

The service reads the whole file; the CLI commands that need only one section (`retrain drift check`,
`retrain schedules list`) read it here, so a mistake in the file is reported the same way by both: what
was wrong, the file and line, the field path, and a pointer to the docs.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from pydantic import BaseModel, ValidationError

from retrain.errors import InvalidInput, InvalidInputs, Location

M = TypeVar("M", bound=BaseModel)


@dataclass(frozen=True)
class Section:
    """The value under `key` (None when the file has no such key), with its YAML node for line numbers."""

    key: str
    data: Any
    node: Any
    file: str


def read_section(path: Path, key: str) -> Section:
    from retrain.yamlfile import read_yaml

    data, root = read_yaml(
        path,
        what="configuration file",
        hint="pass --config with a readable retrain.yaml (or unset RETRAIN_CONFIG)",
    )
    if data is None:
        return Section(key, None, None, str(path))
    if not isinstance(data, dict):
        raise InvalidInput(
            "the configuration file must be a mapping of sections (drift:, schedules:, ...)",
            location=Location(file=str(path), line=1),
        )
    return Section(key, data.get(key), _child(root, key), str(path))


def validate(model: type[M], section: Section, *, docs: str) -> M:
    """`section.data` as `model` (an absent section: the model's defaults); InvalidInput(s) otherwise."""
    try:
        return model.model_validate({} if section.data is None else section.data)
    except ValidationError as err:
        raise problems(err, section, docs=docs) from None


def problems(err: ValidationError, section: Section, *, docs: str) -> InvalidInput:
    found = [
        InvalidInput(
            e["msg"],
            location=Location(
                file=section.file,
                line=line_of(section.node, e["loc"]),
                field=".".join([section.key, *(str(p) for p in e["loc"])]),
            ),
            hint=f"see {docs}",
        )
        for e in err.errors()
    ]
    return found[0] if len(found) == 1 else InvalidInputs(found)


def _child(node: Any, key: str | int) -> Any:
    value = getattr(node, "value", None)
    if isinstance(value, list) and value and isinstance(value[0], tuple):
        return next((v for k, v in value if getattr(k, "value", None) == str(key)), None)
    if isinstance(value, list) and isinstance(key, int) and 0 <= key < len(value):
        return value[key]
    return None


def line_of(node: Any, path: Sequence[str | int]) -> int | None:
    """The 1-based line of the YAML node at `path` (or of its deepest existing parent)."""
    line = None
    for key in path:
        if node is None:
            break
        line = node.start_mark.line + 1
        node = _child(node, key)
    if node is not None:
        line = node.start_mark.line + 1
    return line
