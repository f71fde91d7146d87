"""List the training schedules of `retrain serve`: their next fire times and what their last fire did.

The same schedules the service runs (the configuration's `schedules:` section, else the two weekly
defaults) and the scheduler state the service keeps in `<home>/scheduler/state.json`, with `home` chosen
as the service chooses it: `--home`, else the configuration's `server.home`, else $RETRAIN_HOME.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from retrain.triggers.schedule_state import FireRecordJSON


@dataclass(frozen=True)
class ScheduleListRequest:
    config: Path | None = None  # retrain.yaml; None: the built-in schedules
    home: Path | None = None  # None: the configuration's server.home, else $RETRAIN_HOME (XDG default)
    count: int = 1  # next fire times per schedule
    now: datetime | None = None


@dataclass(frozen=True)
class ScheduleView:
    name: str
    model: str
    pipeline: str
    training_hours: str
    cron: str
    time_zone: str
    policy: str
    starting_deadline_s: float | None
    suspend: bool
    next: tuple[datetime, ...]  # in the schedule's own time zone; empty while suspended
    last: FireRecordJSON | None  # the latest fire the service handled


@dataclass(frozen=True)
class ScheduleList:
    schedules: tuple[ScheduleView, ...]
    state: Path  # the scheduler state that was read


def list_schedules(request: ScheduleListRequest, env: Mapping[str, str] | None = None) -> ScheduleList:
    from retrain.runs.home import default_home
    from retrain.triggers.schedule_state import JsonStateFile, default_state_path
    from retrain.triggers.schedules_config import load_schedules

    environ = os.environ if env is None else env
    schedules = load_schedules(request.config)
    home = request.home or _configured_home(request.config) or default_home(environ)
    path = default_state_path(home.expanduser())
    state = JsonStateFile(path).load()["schedules"]
    now = request.now or datetime.now(UTC)
    views: list[ScheduleView] = []
    for schedule in schedules:
        upcoming: list[datetime] = []
        moment = now
        for _ in range(0 if schedule.suspend else request.count):
            moment = schedule.cron.next_after(moment)
            upcoming.append(moment.astimezone(schedule.cron.zone))
        entry = state.get(schedule.name)
        views.append(
            ScheduleView(
                name=schedule.name,
                model=schedule.request.model,
                pipeline=schedule.request.pipeline,
                training_hours=schedule.request.training_hours,
                cron=schedule.cron.expression,
                time_zone=schedule.cron.time_zone,
                policy=schedule.policy,
                starting_deadline_s=schedule.starting_deadline_s,
                suspend=schedule.suspend,
                next=tuple(upcoming),
                last=entry["history"][-1] if entry and entry["history"] else None,
            )
        )
    return ScheduleList(tuple(views), path)


def _configured_home(config: Path | None) -> Path | None:
    """The configuration's `server.home` (relative to the file), as `retrain serve` reads it."""
    if config is None:
        return None
    from retrain.drift.yamlsection import read_section

    server = read_section(config, "server").data
    home = server.get("home") if isinstance(server, dict) else None
    return config.parent / str(home) if home else None
