"""The cron scheduler: start each schedule's training at its fire times, with CronJob semantics.

- **Concurrency policy per schedule** (as a Kubernetes CronJob's `concurrencyPolicy`): `Forbid` (the
  default) skips a fire while the schedule's previous run is still active and records the skip; `Replace`
  cancels that run and starts the new one; `Allow` starts anyway. (Runs of one model from other triggers
  are the launcher's business: its per-model policy may still refuse or queue a cron run; that outcome is
  recorded as well.)
- **Missed fires** (the service was down): only the latest missed fire can run, and only while it is late
  by at most the schedule's starting deadline (`startingDeadlineSeconds`); otherwise it is recorded as
  skipped. Earlier missed fires are recorded as skipped in one record.
- **Persisted state** (`schedule_state`): the last fire time handled is written before the run is
  launched, so a restart never fires a time twice; a schedule seen for the first time, or whose cron
  changed, starts from now (no burst of old fires).

Time comes from an injected clock (`retrain.engine.clock.Clock`): tests drive a fake clock, no sleeps.
`tick()` handles what is due now; `run()` loops tick -> sleep until the next fire (at most `max_sleep_s`
at a time, so a wall-clock jump is noticed) until `stop()`.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Literal, Protocol

from retrain.app.requests import TrainingRequest
from retrain.engine.clock import Clock
from retrain.triggers.cron import CronSchedule
from retrain.triggers.schedule_state import HISTORY_LIMIT, FireRecordJSON, ScheduleStateJSON, StateStore

log = logging.getLogger(__name__)

Policy = Literal["Allow", "Forbid", "Replace"]
Outcome = Literal["started", "queued", "refused", "ignored", "skipped", "error"]
SCHEDULED_TIME_ANNOTATION = "retrain.dev/scheduled-time"
_OUTCOMES: dict[str, Outcome] = {o: o for o in ("started", "queued", "refused", "ignored")}
MISSED_LIMIT = 100  # as Kubernetes: past this many missed fires, only the latest is looked at


@dataclass(frozen=True)
class Schedule:
    name: str
    cron: CronSchedule
    request: TrainingRequest
    policy: Policy = "Forbid"
    starting_deadline_s: float | None = 6 * 3600
    suspend: bool = False


class LaunchResult(Protocol):
    """What `retrain.triggers.launcher.Launcher.launch` answers (its `Launch` has these attributes)."""

    @property
    def outcome(self) -> str: ...  # started | queued | refused | ignored

    @property
    def run(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


Launch = Callable[[TrainingRequest], Awaitable[LaunchResult]]


class RunControl(Protocol):
    """How the scheduler sees and stops the runs it started (the service adapts its run store)."""

    async def is_active(self, run: str) -> bool: ...

    async def cancel(self, run: str, reason: str) -> None: ...


class NoRunControl:
    """Without a run store, no run counts as active: Forbid/Replace then rest on the launcher's policy."""

    async def is_active(self, run: str) -> bool:
        return False

    async def cancel(self, run: str, reason: str) -> None:
        return None


@dataclass(frozen=True)
class FireRecord:
    schedule: str
    scheduled_for: datetime
    at: datetime
    outcome: Outcome
    run: str | None = None
    reason: str = ""

    def to_json(self) -> FireRecordJSON:
        return {
            "scheduled_for": self.scheduled_for.isoformat(),
            "at": self.at.isoformat(),
            "outcome": self.outcome,
            "run": self.run,
            "reason": self.reason,
        }


class Scheduler:
    def __init__(
        self,
        schedules: list[Schedule],
        launch: Launch,
        clock: Clock,
        state: StateStore,
        *,
        runs: RunControl | None = None,
        max_sleep_s: float | None = 60.0,
        on_record: Callable[[FireRecord], None] | None = None,
    ) -> None:
        names = [s.name for s in schedules]
        if len(set(names)) != len(names):
            raise ValueError(f"schedule names must be unique: {names}")
        self.schedules = list(schedules)
        self._launch = launch
        self._clock = clock
        self._store = state
        self._runs = runs or NoRunControl()
        self._max_sleep_s = max_sleep_s
        self._on_record = on_record
        self._state = state.load()
        self._stop = asyncio.Event()

    # -- queries --------------------------------------------------------------------------------------------

    def next_fire_times(self, now: datetime | None = None) -> dict[str, datetime | None]:
        """Each schedule's next fire time (UTC); None while suspended."""
        now = now or self._clock.now()
        out: dict[str, datetime | None] = {}
        for schedule in self.schedules:
            out[schedule.name] = None if schedule.suspend else schedule.cron.next_after(now)
        return out

    def history(self, name: str) -> list[FireRecordJSON]:
        return list(self._entry_or_none(name)["history"]) if name in self._state["schedules"] else []

    def last_run(self, name: str) -> str | None:
        entry = self._state["schedules"].get(name)
        return entry["last_run"] if entry else None

    # -- the loop -------------------------------------------------------------------------------------------

    async def run(self, *, until: datetime | None = None) -> None:
        """Fire schedules until `stop()` (or until the clock passes `until`)."""
        self._store.acquire()
        try:
            while not self._stop.is_set():
                await self.tick()
                now = self._clock.now()
                if until is not None and now >= until:
                    return
                pending = [t for t in self.next_fire_times(now).values() if t is not None]
                target = min([*pending, *([until] if until is not None else [])], default=None)
                if target is None:  # every schedule suspended: look again later
                    delay = self._max_sleep_s if self._max_sleep_s is not None else 3600.0
                else:
                    delay = (target - now).total_seconds()
                if self._max_sleep_s is not None:
                    delay = min(delay, self._max_sleep_s)
                await self._wait(max(0.0, delay))
        finally:
            self._store.release()

    def stop(self) -> None:
        self._stop.set()

    async def _wait(self, seconds: float) -> None:
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        stopper = asyncio.ensure_future(self._stop.wait())
        try:
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, stopper):
                task.cancel()

    async def tick(self) -> list[FireRecord]:
        """Handle every fire that is due now; returns what was recorded."""
        done: list[FireRecord] = []
        for schedule in self.schedules:
            done += await self._tick_one(schedule, self._clock.now())
        return done

    # -- one schedule -------------------------------------------------------------------------------------

    async def _tick_one(self, schedule: Schedule, now: datetime) -> list[FireRecord]:
        entry = self._entry(schedule, now)
        anchor = datetime.fromisoformat(entry["last_scheduled"]) if entry["last_scheduled"] else now
        due = schedule.cron.fires_between(anchor, now, limit=MISSED_LIMIT)
        if not due:
            return []
        latest = due[-1]
        records: list[FireRecord] = []
        if len(due) > 1:
            more = " or more" if len(due) >= MISSED_LIMIT else ""
            reason = (
                f"missed {len(due) - 1}{more} earlier fire time(s) from {due[0].isoformat()} to "
                f"{due[-2].isoformat()} while not running; only the latest may still run"
            )
            records.append(self._record(schedule, due[-2], now, "skipped", reason=reason))
        entry["last_scheduled"] = latest.isoformat()
        late = (now - latest).total_seconds()
        deadline = schedule.starting_deadline_s
        if schedule.suspend:
            records.append(self._record(schedule, latest, now, "skipped", reason="the schedule is suspended"))
        elif deadline is not None and late > deadline:
            reason = (
                f"missed: {late:.0f} s late, past the starting deadline of {deadline:.0f} s; "
                f"the next fire is {schedule.cron.next_after(now).isoformat()}"
            )
            records.append(self._record(schedule, latest, now, "skipped", reason=reason))
        else:
            self._save()  # the fire time is handled before anything starts: a crash never fires it twice
            records.append(await self._fire(schedule, entry, latest, now))
        self._save()
        return records

    async def _fire(
        self, schedule: Schedule, entry: ScheduleStateJSON, at: datetime, now: datetime
    ) -> FireRecord:
        previous = entry["last_run"]
        note = ""
        if previous and schedule.policy != "Allow" and await self._runs.is_active(previous):
            if schedule.policy == "Forbid":
                reason = f"the previous run {previous} is still active (concurrency policy Forbid)"
                return self._record(schedule, at, now, "skipped", reason=reason)
            why = f"replaced by the {at.isoformat()} run of schedule {schedule.name}"
            await self._runs.cancel(previous, why)
            note = f"cancelled the previous run {previous} (concurrency policy Replace)"
        stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
        request = replace(
            schedule.request,
            trigger="cron",
            labels={**schedule.request.labels, "retrain.dev/schedule": schedule.name},
            annotations={**schedule.request.annotations, SCHEDULED_TIME_ANNOTATION: stamp},
        )
        try:
            result = await self._launch(request)
        except Exception as err:  # one schedule's failure must never stop the scheduler
            log.exception("schedule %s: launching the %s run failed", schedule.name, stamp)
            reason = "; ".join(filter(None, [f"{type(err).__name__}: {err}", note]))
            return self._record(schedule, at, now, "error", reason=reason)
        outcome = _OUTCOMES.get(result.outcome, "error")
        if outcome in ("started", "queued") and result.run:
            entry["last_run"] = result.run
        reason = "; ".join(filter(None, [result.reason or "", note]))
        return self._record(schedule, at, now, outcome, run=result.run, reason=reason)

    # -- state --------------------------------------------------------------------------------------------

    def _entry_or_none(self, name: str) -> ScheduleStateJSON:
        return self._state["schedules"][name]

    def _entry(self, schedule: Schedule, now: datetime) -> ScheduleStateJSON:
        key = schedule.cron.describe()
        entry = self._state["schedules"].get(schedule.name)
        if entry is None or entry.get("cron") != key:
            # New, or its cron changed: start from now, so no old fire time runs at once.
            history = entry["history"] if entry else []
            entry = {
                "cron": key,
                "last_scheduled": now.isoformat(),
                "last_run": entry["last_run"] if entry else None,
                "history": history,
            }
            self._state["schedules"][schedule.name] = entry
            self._save()
        return entry

    def _record(
        self, schedule: Schedule, at: datetime, now: datetime, outcome: Outcome, *, run: str | None = None,
        reason: str = "",
    ) -> FireRecord:  # fmt: skip
        record = FireRecord(schedule.name, at, now, outcome, run, reason)
        entry = self._state["schedules"][schedule.name]
        entry["history"] = [*entry["history"], record.to_json()][-HISTORY_LIMIT:]
        level = logging.INFO if outcome in ("started", "queued") else logging.WARNING
        log.log(level, "schedule %s (%s): %s %s", schedule.name, at.isoformat(), outcome, reason or run or "")
        if self._on_record is not None:
            self._on_record(record)
        return record

    def _save(self) -> None:
        try:
            self._store.save(self._state)
        except OSError as err:  # keep scheduling from memory; a restart may then re-decide this fire
            log.error("could not save the scheduler state: %s", err)
