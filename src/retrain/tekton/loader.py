"""Load multi-document Tekton YAML into the object model, remembering the line of every field.

PyYAML's composer gives nodes with marks; we build plain data from them ourselves so that we can record the
line of each mapping key and sequence item, and reject duplicate keys (which PyYAML silently accepts). Each
document is then validated with the model class for its `kind`; pydantic's errors become InvalidInput errors
with file:line and the Tekton field path (`problems.validation_problems`).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from retrain.errors import InvalidInput, InvalidInputs, Location, NotFound
from retrain.tekton.field_case import Folded, fold_field_names, remap_positions
from retrain.tekton.kube import KUBE_KINDS, KubeObject, parse_kube_object
from retrain.tekton.model import API_VERSION, API_VERSIONS, KINDS, TektonObject
from retrain.tekton.problems import FieldPath, format_field_path, parse_field_path, validation_problems

__all__ = [
    "Document",
    "FieldPath",
    "Ignored",
    "LoadResult",
    "SourceMap",
    "format_field_path",
    "load_file",
    "load_files",
    "load_text",
    "parse_field_path",
]

log = logging.getLogger(__name__)

_MIGRATE_HINT = "convert it to tekton.dev/v1; see https://tekton.dev/docs/pipelines/migrating-v1beta1-to-v1/"
_TIMESTAMP_TAG = "tag:yaml.org,2002:timestamp"


@dataclass(frozen=True)
class SourceMap:
    """Where each field of one document sits in its file."""

    file: str
    positions: Mapping[FieldPath, int] = field(default_factory=dict)

    def line_of(self, path: Sequence[str | int]) -> int | None:
        """The 1-based line of `path`, or of its nearest ancestor that has one."""
        key = tuple(path)
        while True:
            if key in self.positions:
                return self.positions[key]
            if not key:
                return None
            key = key[:-1]

    def line_of_field(self, field_path: str) -> int | None:
        """`line_of` for a dotted field path such as `spec.tasks[2].runAfter`."""
        return self.line_of(parse_field_path(field_path))

    def location(self, field_path: str) -> Location:
        """A Location for a dotted field path, with the line where known."""
        return Location(file=self.file, line=self.line_of_field(field_path), field=field_path)

    def under(self, prefix: Sequence[str | int]) -> SourceMap:
        """The map of a sub-tree, with paths relative to `prefix` (for the items of a `kind: List`)."""
        n = len(prefix)
        pre = tuple(prefix)
        return SourceMap(self.file, {p[n:]: line for p, line in self.positions.items() if p[:n] == pre})


@dataclass(frozen=True)
class Document:
    obj: TektonObject
    file: str
    line: int
    source: SourceMap


@dataclass(frozen=True)
class Ignored:
    """A document that is valid YAML but not something the local engine runs."""

    kind: str
    name: str | None
    file: str
    line: int
    reason: str


@dataclass(frozen=True)
class LoadResult:
    documents: list[Document] = field(default_factory=list)
    ignored: list[Ignored] = field(default_factory=list)
    objects: list[KubeObject] = field(default_factory=list)  # ConfigMaps, Secrets, ServiceAccounts (v1)


# --- YAML nodes -> data + positions -----------------------------------------------------------------------


class _Builder:
    """Turns one composed document into plain data, recording lines and duplicate keys."""

    def __init__(self, loader: yaml.SafeLoader, file: str) -> None:
        self.loader = loader
        self.file = file
        self.positions: dict[FieldPath, int] = {}
        self.errors: list[InvalidInput] = []

    def build(self, node: yaml.Node, path: FieldPath) -> Any:
        self.positions.setdefault(path, node.start_mark.line + 1)
        if isinstance(node, yaml.MappingNode):
            self.loader.flatten_mapping(node)  # resolves `<<: *anchor` merge keys
            out: dict[str, Any] = {}
            first_line: dict[str, int] = {}
            for key_node, value_node in node.value:
                line = key_node.start_mark.line + 1
                if not isinstance(key_node, yaml.ScalarNode):
                    self.errors.append(self._error("a mapping key must be a plain string", line, path))
                    continue
                key = str(key_node.value)
                if key in first_line:
                    self.errors.append(
                        self._error(
                            f"duplicate key {key!r} (first given on line {first_line[key]})",
                            line,
                            (*path, key),
                            hint="remove one of them; YAML keeps only the last and hides the other",
                        )
                    )
                    continue
                first_line[key] = line
                self.positions[(*path, key)] = line
                out[key] = self.build(value_node, (*path, key))
            return out
        if isinstance(node, yaml.SequenceNode):
            return [self.build(item, (*path, i)) for i, item in enumerate(node.value)]
        if node.tag == _TIMESTAMP_TAG:
            return node.value  # Kubernetes timestamps are strings on the wire, not datetimes
        return self.loader.construct_object(node, deep=True)

    def _error(self, message: str, line: int, path: FieldPath, hint: str | None = None) -> InvalidInput:
        where = Location(self.file, line, format_field_path(path) or None)
        return InvalidInput(message, location=where, hint=hint)


def _compose(text: str, file: str) -> Iterator[tuple[yaml.Node, Any, SourceMap, list[InvalidInput]]]:
    loader = yaml.SafeLoader(text)
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:
                continue
            builder = _Builder(loader, file)
            data = builder.build(node, ())
            yield node, data, SourceMap(file, builder.positions), builder.errors
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        context = f" ({exc.context} on line {exc.context_mark.line + 1})" if exc.context_mark else ""
        raise InvalidInput(
            f"malformed YAML: {exc.problem}{context}",
            location=Location(file, mark.line + 1 if mark else None),
            hint="check the indentation and quoting around this line",
        ) from None
    except yaml.YAMLError as exc:
        raise InvalidInput(f"malformed YAML: {exc}", location=Location(file)) from None
    finally:
        loader.dispose()


# --- documents ---------------------------------------------------------------------------------------------


def _name_of(data: Mapping[str, Any]) -> str | None:
    meta = data.get("metadata")
    if isinstance(meta, Mapping):
        name = meta.get("name") or meta.get("generateName")
        return str(name) if name is not None else None
    return None


def _has_name(data: Mapping[str, Any]) -> bool:
    meta = data.get("metadata")
    return isinstance(meta, Mapping) and bool(meta.get("name"))


def _load_object(
    data: Any, source: SourceMap, line: int, result: LoadResult, errors: list[InvalidInput]
) -> None:
    file = source.file
    if not isinstance(data, dict):
        errors.append(
            InvalidInput(
                f"a document must be a mapping with apiVersion and kind, not {type(data).__name__}",
                location=Location(file, line),
            )
        )
        return
    kind, api_version = data.get("kind"), data.get("apiVersion")
    if not isinstance(kind, str) or not kind:
        errors.append(
            InvalidInput(
                "missing kind",
                location=Location(file, line, "kind"),
                hint="add e.g. `kind: Pipeline` (Task, Pipeline, TaskRun or PipelineRun)",
            )
        )
        return
    if kind == "List" and api_version == "v1" and isinstance(data.get("items"), list):
        for i, item in enumerate(data["items"]):
            sub = source.under(("items", i))
            _load_object(item, sub, source.line_of(("items", i)) or line, result, errors)
        return
    group = str(api_version).split("/", 1)[0] if isinstance(api_version, str) else ""
    if kind not in KINDS:
        spelled = next((k for k in KINDS if k.lower() == kind.lower()), None)
        if group == "tekton.dev" and spelled is not None:
            # Unlike field names, Kubernetes matches kinds exactly: `kubectl apply` refuses `kind: task` too.
            errors.append(
                InvalidInput(
                    f"unknown kind {kind!r}: kinds are case-sensitive",
                    location=Location(file, line, "kind"),
                    hint=f"write `kind: {spelled}`",
                )
            )
        elif group == "tekton.dev":
            errors.append(
                InvalidInput(
                    f"{kind} is not supported by the local engine",
                    location=Location(file, line, "kind"),
                    hint="use Task, Pipeline, TaskRun or PipelineRun (tekton.dev/v1)",
                )
            )
        elif kind in KUBE_KINDS and api_version == "v1" and _has_name(data):
            # Kept: the runs' workspaces, volumes, env and credentials read them (tekton/kube.py).
            def locate(path: FieldPath) -> Location:
                return Location(file, source.line_of(path) or line, format_field_path(path) or None)

            try:
                result.objects.append(parse_kube_object(data, locate))
            except InvalidInput as exc:
                errors.append(exc)
        else:
            reason = "not a Tekton kind; ignored locally"
            result.ignored.append(Ignored(kind, _name_of(data), file, line, reason))
        return
    if api_version not in API_VERSIONS.get(kind, (API_VERSION,)):
        where = Location(file, source.line_of(("apiVersion",)) or line, "apiVersion")
        if api_version is None:
            errors.append(
                InvalidInput("missing apiVersion", location=where, hint=f"add `apiVersion: {API_VERSION}`")
            )
        elif group == "tekton.dev":
            allowed = API_VERSIONS.get(kind, (API_VERSION,))
            message = f"{kind} uses apiVersion {api_version}; only {' or '.join(allowed)} is supported"
            hint = _MIGRATE_HINT if kind not in API_VERSIONS else f"use `apiVersion: {allowed[0]}`"
            errors.append(InvalidInput(message, location=where, hint=hint))
        else:
            message = f"{kind} must have apiVersion {API_VERSION}, not {api_version!r}"
            errors.append(InvalidInput(message, location=where, hint=f"use `apiVersion: {API_VERSION}`"))
        return
    folded = Folded()
    data = fold_field_names(data, KINDS[kind], (), folded)
    if folded.renames:
        source = SourceMap(file, remap_positions(dict(source.positions), folded.renames))
    for at, note in folded.notes:
        log.warning("warning: %s:%s: %s: %s", file, source.line_of(at) or line, format_field_path(at), note)
    try:
        obj = KINDS[kind].model_validate(data)
    except ValidationError as exc:
        errors.extend(validation_problems(exc, data, KINDS[kind], source))
        return
    result.documents.append(Document(obj, file, line, source))


def _raise_if_any(errors: list[InvalidInput]) -> None:
    if len(errors) == 1:
        raise errors[0]
    if errors:
        raise InvalidInputs(errors)


def _load_into(text: str, file: str, result: LoadResult, errors: list[InvalidInput]) -> None:
    try:
        for node, data, source, build_errors in _compose(text, file):
            if build_errors:
                errors.extend(build_errors)
                continue
            if data is None:
                continue  # an empty document (`---` followed by nothing or only comments)
            _load_object(data, source, node.start_mark.line + 1, result, errors)
    except InvalidInput as exc:  # malformed YAML stops this file; earlier problems are still reported
        errors.append(exc)


def load_text(text: str, file: str = "<string>") -> LoadResult:
    """Load every document in `text`; raise InvalidInput(s) listing every problem found."""
    result = LoadResult()
    errors: list[InvalidInput] = []
    _load_into(text, file, result, errors)
    _raise_if_any(errors)
    return result


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise NotFound(f"no such file: {path}", location=Location(str(path))) from None
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"not UTF-8 text: {exc.reason}", location=Location(str(path))) from None


def load_file(path: Path) -> LoadResult:
    return load_text(_read(path), str(path))


def load_files(paths: Sequence[Path]) -> LoadResult:
    """Load several files; every problem in every file is reported together."""
    result = LoadResult()
    errors: list[InvalidInput] = []
    for path in paths:
        try:
            text = _read(path)
        except InvalidInput as exc:
            errors.append(exc)
            continue
        _load_into(text, str(path), result, errors)
    _raise_if_any(errors)
    return result
