"""The audit log `events.jsonl`: one JSON object per line, appended under the model lock, never rewritten."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any, cast

from retrain.registry.atomic import append_line
from retrain.registry.metadata import EVENT_KINDS, EventKind, EventRecord

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Event:
    """One audit entry, as `Registry.history` returns it."""

    event: EventKind
    at: str
    model: str
    version: int | None
    actor: str
    reason: str = ""
    run: str | None = None
    previous: int | None = None
    versions: tuple[int, ...] = ()
    reasons: tuple[str, ...] = ()
    alias: str | None = None
    sha256: str | None = None

    @classmethod
    def from_record(cls, record: EventRecord) -> Event:
        return cls(
            event=record["event"],
            at=record["at"],
            model=record["model"],
            version=record.get("version"),
            actor=record.get("actor", ""),
            reason=record.get("reason", ""),
            run=record.get("run"),
            previous=record.get("previous"),
            versions=tuple(record.get("versions", ())),
            reasons=tuple(record.get("reasons", ())),
            alias=record.get("alias"),
            sha256=record.get("sha256"),
        )

    def to_record(self) -> EventRecord:
        record: EventRecord = {
            "event": self.event,
            "at": self.at,
            "model": self.model,
            "version": self.version,
            "actor": self.actor,
            "reason": self.reason,
            "run": self.run,
        }
        if self.event in ("promoted", "rolled_back"):
            record["previous"] = self.previous
        if self.versions:
            record["versions"] = list(self.versions)
        if self.reasons:
            record["reasons"] = list(self.reasons)
        if self.alias is not None:
            record["alias"] = self.alias
        if self.sha256 is not None:
            record["sha256"] = self.sha256
        return record


def append_event(path: Path, event: Event) -> None:
    """Append one event. Call only while holding the model lock."""
    append_line(path, json.dumps(event.to_record(), sort_keys=True, separators=(",", ":")))


def read_events(path: Path) -> list[Event]:
    """Every readable event, oldest first.

    A line that does not parse (torn by a crash mid-append, or damaged) is skipped with a logged warning: the
    audit log must never make the registry unreadable.
    """
    try:
        text = path.read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return []
    events: list[Event] = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        event = _parse(line)
        if event is None:
            log.warning("%s:%d: skip unreadable audit line (torn by a crash?): %.80s", path, number, line)
            continue
        events.append(event)
    return events


def _parse(line: str) -> Event | None:
    try:
        raw: Any = json.loads(line)
    except ValueError:
        return None
    if not isinstance(raw, dict) or raw.get("event") not in EVENT_KINDS:
        return None
    if not isinstance(raw.get("at"), str) or not isinstance(raw.get("model"), str):
        return None
    try:
        return Event.from_record(cast(EventRecord, raw))
    except (TypeError, ValueError):
        return None
