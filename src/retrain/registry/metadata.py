"""The JSON files of the registry (TypedDicts: their exact persisted shape) and the input to `register`."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Literal, NotRequired, TypedDict

from retrain.errors import InvalidInput, Location

SCHEMA = 1

EventKind = Literal[
    "registered", "promoted", "rolled_back", "rejected", "pruned", "alias_set", "alias_removed"
]
EVENT_KINDS: frozenset[str] = frozenset(
    {"registered", "promoted", "rolled_back", "rejected", "pruned", "alias_set", "alias_removed"}
)


class ArtefactRecord(TypedDict):
    file: str
    sha256: str
    size: int


class TrainingWindow(TypedDict):
    hours: float | None
    start: str | None
    end: str | None


class VersionMetadata(TypedDict):
    """`versions/<n>/metadata.json`."""

    schema: int
    model: str
    version: int
    created_at: str
    trainer: str
    notebook_path: str | None
    git_commit: str | None
    data_source_requested: str | None
    data_source_effective: str | None
    training_window: TrainingWindow
    rows: dict[str, int]
    feature_contract: dict[str, Any] | None
    metrics: dict[str, Any]
    artefact: ArtefactRecord
    libraries: dict[str, str]
    run: str | None
    extra: dict[str, Any]
    # The notebook as it ran, stored beside the artefact (absent for versions registered without one).
    executed_notebook: NotRequired[ArtefactRecord]


# `aliases.json`: {"serving": n, "previous": m, ...user aliases}; a flat object, so a plain dict type.
Aliases = dict[str, int]


class EventRecord(TypedDict):
    """One line of `events.jsonl`."""

    event: EventKind
    at: str
    model: str
    version: int | None
    actor: str
    reason: str
    run: str | None
    previous: NotRequired[int | None]  # promoted/rolled_back: the version that was serving before
    versions: NotRequired[list[int]]  # pruned: the versions deleted
    reasons: NotRequired[list[str]]  # rejected: every reason the gate gave
    alias: NotRequired[str]  # alias_set/alias_removed
    sha256: NotRequired[str]  # registered: the artefact digest


@dataclass(frozen=True)
class NewVersionMetadata:
    """What the caller of `Registry.register` knows about a candidate; the registry adds the rest."""

    trainer: str
    notebook_path: Path | None = None
    data_source_requested: str | None = None
    data_source_effective: str | None = None  # None: same as requested
    training_hours: float | None = None
    window_start: datetime | None = None
    window_end: datetime | None = None
    rows: Mapping[str, int] = field(default_factory=dict)
    feature_contract: Mapping[str, Any] | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    run: str | None = None
    extra: Mapping[str, Any] = field(default_factory=dict)


def json_safe(value: Any, where: str) -> Any:
    """A copy of `value` that json.dumps accepts without NaN/Infinity (stored as null: JSON has no NaN)."""
    if value is None or isinstance(value, bool | str | int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, Mapping):
        return {str(k): json_safe(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_safe(v, f"{where}[{i}]") for i, v in enumerate(value)]
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    # numpy scalars and arrays: .tolist() gives plain Python values (without importing numpy here).
    tolist = getattr(value, "tolist", None)
    if callable(tolist):
        return json_safe(tolist(), where)
    raise InvalidInput(
        f"metadata value of type {type(value).__name__} cannot be stored as JSON",
        location=Location(field=where),
        hint="pass numbers, strings, booleans, lists or dicts of them",
    )


def draft_metadata(
    model: str,
    new: NewVersionMetadata,
    *,
    git_commit: str | None,
    libraries: dict[str, str],
    iso: Callable[[datetime], str],
) -> VersionMetadata:
    """metadata.json without what only the locked writer knows (version, created_at, artefact digest).

    Raises InvalidInput for values JSON cannot hold, before anything is written.
    """
    return {
        "schema": SCHEMA,
        "model": model,
        "version": 0,
        "created_at": "",
        "trainer": new.trainer,
        "notebook_path": str(new.notebook_path) if new.notebook_path else None,
        "git_commit": git_commit,
        "data_source_requested": new.data_source_requested,
        "data_source_effective": new.data_source_effective or new.data_source_requested,
        "training_window": {
            "hours": new.training_hours,
            "start": iso(new.window_start) if new.window_start else None,
            "end": iso(new.window_end) if new.window_end else None,
        },
        "rows": {str(k): int(v) for k, v in new.rows.items()},
        "feature_contract": json_safe(new.feature_contract, "feature_contract"),
        "metrics": json_safe(new.metrics, "metrics"),
        "artefact": {"file": "", "sha256": "", "size": 0},
        "libraries": dict(libraries),
        "run": new.run,
        "extra": json_safe(new.extra, "extra"),
    }
