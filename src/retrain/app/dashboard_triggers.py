"""What the dashboard's Triggers page shows: the schedules the service runs (next fire time, policy, what
the last fire did), the recent webhook answers (`retrain.app.hook_answers`), and the models a manual run
may name.

The application layer sits below `retrain.triggers`, so the scheduler is seen through `SchedulerView`
(`retrain.triggers.scheduler.Scheduler` satisfies it): the schedules the running service really has,
not a re-reading of the configuration. Nothing here formats HTML.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from retrain.app.serve import ScheduleLike


class PolicySchedule(ScheduleLike, Protocol):
    """`retrain.triggers.scheduler.Schedule`: a schedule with its concurrency policy."""

    @property
    def policy(self) -> str: ...

    @property
    def starting_deadline_s(self) -> float | None: ...


class SchedulerView(Protocol):
    """`retrain.triggers.scheduler.Scheduler`, read-only."""

    @property
    def schedules(self) -> Sequence[PolicySchedule]: ...

    def history(self, name: str) -> Sequence[Mapping[str, Any]]: ...


@dataclass(frozen=True)
class FireRow:
    scheduled_for: str
    at: str
    outcome: str  # started | queued | refused | ignored | skipped | error
    run: str | None
    reason: str


@dataclass(frozen=True)
class ScheduleRow:
    name: str
    model: str
    pipeline: str
    training_hours: str
    cron: str
    time_zone: str
    policy: str
    suspend: bool
    next_fire: datetime | None  # in the schedule's own time zone; None while suspended
    last: FireRow | None


@dataclass(frozen=True)
class RunAnswerRow:
    status: str
    run: str | None
    reason: str


@dataclass(frozen=True)
class AnswerRow:
    at: str
    receiver: str
    event: str
    status: int
    reason: str
    runs: tuple[RunAnswerRow, ...]


@dataclass(frozen=True)
class TriggersView:
    scheduling: bool  # the service runs a scheduler
    schedules: tuple[ScheduleRow, ...]
    answers: tuple[AnswerRow, ...]  # newest first
    models: tuple[str, ...]  # what a manual run may name: the built-in models and the registry's


def _fire(record: Mapping[str, Any]) -> FireRow:
    return FireRow(
        str(record.get("scheduled_for", "")),
        str(record.get("at", "")),
        str(record.get("outcome", "")),
        record.get("run"),
        str(record.get("reason", "")),
    )


def schedule_rows(scheduler: SchedulerView, now: datetime) -> tuple[ScheduleRow, ...]:
    rows = []
    for s in scheduler.schedules:
        history = scheduler.history(s.name)
        rows.append(
            ScheduleRow(
                name=s.name,
                model=s.request.model,
                pipeline=s.request.pipeline,
                training_hours=s.request.training_hours,
                cron=s.cron.expression,
                time_zone=s.cron.time_zone,
                policy=s.policy,
                suspend=s.suspend,
                next_fire=None if s.suspend else s.cron.next_after(now).astimezone(s.cron.zone),
                last=_fire(history[-1]) if history else None,
            )
        )
    return tuple(rows)


def triggers_view(
    scheduler: SchedulerView | None, home: Path, registry: Path, *, now: datetime, answers: int = 30
) -> TriggersView:
    from retrain.app.hook_answers import recent_answers
    from retrain.data.contracts import BUILTIN_MODELS
    from retrain.registry import Registry

    rows = tuple(
        AnswerRow(
            a["at"],
            a["receiver"],
            a.get("event", ""),
            int(a["status"]),
            a.get("reason", ""),
            tuple(RunAnswerRow(r["status"], r.get("run"), r.get("reason", "")) for r in a.get("runs", [])),
        )
        for a in recent_answers(home, answers)
    )
    models = sorted({*BUILTIN_MODELS, *Registry(registry).models()})
    return TriggersView(
        scheduler is not None,
        schedule_rows(scheduler, now) if scheduler is not None else (),
        rows,
        tuple(models),
    )
