"""YAML documents of any kind with the line of every field (for site values and rendered manifests).

`retrain.tekton.loader` does the same for Tekton kinds only; here every document is kept as plain data with a
`SourceMap`, so that the site values, Tekton Triggers, KServe and core kinds can all be reported as
`file:line: field.path: message`. Duplicate keys are errors (PyYAML silently keeps the last one).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from retrain.errors import InvalidInput, InvalidInputs, Location, NotFound
from retrain.tekton.loader import SourceMap, format_field_path

__all__ = ["YamlDocument", "load_yaml_file", "load_yaml_text"]

FieldPath = tuple[str | int, ...]
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True)
class YamlDocument:
    data: Any
    source: SourceMap
    line: int  # where the document starts (1-based)


def _build(
    loader: yaml.SafeLoader, node: yaml.Node, path: FieldPath, positions: dict[FieldPath, int], file: str
) -> Any:
    positions.setdefault(path, node.start_mark.line + 1)
    if isinstance(node, yaml.MappingNode):
        loader.flatten_mapping(node)
        out: dict[str, Any] = {}
        for key_node, value_node in node.value:
            line = key_node.start_mark.line + 1
            key = str(key_node.value) if isinstance(key_node, yaml.ScalarNode) else None
            where = Location(file, line, format_field_path((*path, key or "?")))
            if key is None:
                raise InvalidInput("a mapping key must be a plain string", location=where)
            if key in out:
                raise InvalidInput(
                    f"duplicate key {key!r} (first given on line {positions[(*path, key)]})",
                    location=where,
                    hint="remove one of them; YAML keeps only the last and hides the other",
                )
            positions[(*path, key)] = line
            out[key] = _build(loader, value_node, (*path, key), positions, file)
        return out
    if isinstance(node, yaml.SequenceNode):
        return [_build(loader, item, (*path, i), positions, file) for i, item in enumerate(node.value)]
    if node.tag == _TIMESTAMP_TAG:
        return node.value  # Kubernetes timestamps are strings on the wire
    return loader.construct_object(node, deep=True)


def load_yaml_text(text: str, file: str) -> list[YamlDocument]:
    """Every non-empty document of `text`, in order; InvalidInput with file:line for malformed YAML."""
    loader = yaml.SafeLoader(text)
    docs: list[YamlDocument] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            positions: dict[FieldPath, int] = {}
            data = _build(loader, node, (), positions, file)
            if data is not None:
                docs.append(YamlDocument(data, SourceMap(file, positions), node.start_mark.line + 1))
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        raise InvalidInput(
            f"malformed YAML: {exc.problem}",
            location=Location(file, mark.line + 1 if mark else None),
            hint="check the indentation and quoting around this line",
        ) from None
    finally:
        loader.dispose()
    return docs


def load_yaml_file(path: Path) -> list[YamlDocument]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}", location=Location(str(path))) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text: {exc.reason}", location=Location(str(path))) from None
    return load_yaml_text(text, str(path))


def raise_all(errors: list[InvalidInput]) -> None:
    """Raise the one error, or all of them together; nothing when the list is empty."""
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidInputs(errors)
