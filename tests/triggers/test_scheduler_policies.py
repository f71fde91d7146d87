"""The scheduler on a fake clock: fire times, concurrency policies, missed fires, restarts, failures."""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from retrain.app.requests import TrainingRequest
from retrain.engine.clock import FakeClock
from retrain.errors import Conflict
from retrain.triggers.cron import parse_cron
from retrain.triggers.schedule_state import JsonStateFile, MemoryState, StateStore
from retrain.triggers.scheduler import SCHEDULED_TIME_ANNOTATION, Policy, Schedule, Scheduler
from retrain.triggers.schedules_config import load_schedules

THURSDAY = datetime(2026, 1, 1, 12, tzinfo=UTC)
SUNDAY_2 = datetime(2026, 1, 4, 2, tzinfo=UTC)
WEEK = timedelta(days=7)


@dataclass(frozen=True)
class Launched:
    outcome: str
    run: str | None
    reason: str = ""


@dataclass
class FakeLauncher:
    """Records each request and the fake time it came; answers `outcome` (or raises `error`)."""

    clock: FakeClock
    outcome: str = "started"
    error: Exception | None = None
    requests: list[TrainingRequest] = field(default_factory=list)
    times: list[datetime] = field(default_factory=list)
    peek: list[object] = field(default_factory=list)  # what `on_launch` saw

    async def __call__(self, request: TrainingRequest) -> Launched:
        self.requests.append(request)
        self.times.append(self.clock.now())
        if self.error is not None:
            raise self.error
        if self.outcome in ("refused", "ignored"):
            return Launched(self.outcome, None, "the model's policy Forbid refused it: run x is active")
        return Launched(self.outcome, f"{request.model}-cron-{len(self.requests)}", "")


@dataclass
class FakeRuns:
    active: set[str] = field(default_factory=set)
    cancelled: list[str] = field(default_factory=list)

    async def is_active(self, run: str) -> bool:
        return run in self.active

    async def cancel(self, run: str, reason: str) -> None:
        self.cancelled.append(run)
        self.active.discard(run)


def _schedule(policy: Policy = "Forbid", *, deadline: float | None = 3600, cron: str = "0 2 * * 0",
              zone: str = "UTC", suspend: bool = False) -> Schedule:  # fmt: skip
    return Schedule(
        "ad-weekly", parse_cron(cron, zone), TrainingRequest("anomaly-detector", trigger="cron"),
        policy=policy, starting_deadline_s=deadline, suspend=suspend,
    )  # fmt: skip


def _scheduler(
    schedules: list[Schedule], clock: FakeClock, state: StateStore, launcher: FakeLauncher,
    runs: FakeRuns | None = None,
) -> Scheduler:  # fmt: skip
    return Scheduler(schedules, launcher, clock, state, runs=runs, max_sleep_s=None)


def _run(scheduler: Scheduler, until: datetime) -> None:
    asyncio.run(scheduler.run(until=until))


def test_default_schedules_fire_weekly_at_their_times() -> None:
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock)
    scheduler = _scheduler(load_schedules(None), clock, MemoryState(), launcher)
    assert scheduler.next_fire_times() == {
        "anomaly-detector-weekly": SUNDAY_2, "predictive-analytics-weekly": SUNDAY_2 + timedelta(hours=1),
    }  # fmt: skip
    _run(scheduler, THURSDAY + 3 * WEEK)
    assert launcher.times == [SUNDAY_2, SUNDAY_2 + timedelta(hours=1)] * 1 + [
        SUNDAY_2 + WEEK, SUNDAY_2 + WEEK + timedelta(hours=1), SUNDAY_2 + 2 * WEEK,
        SUNDAY_2 + 2 * WEEK + timedelta(hours=1),
    ]  # fmt: skip
    first, second = launcher.requests[:2]
    assert (first.model, first.training_hours, first.pipeline) == (
        "anomaly-detector",
        "168",
        "model-training-pipeline",
    )
    assert (second.model, second.training_hours, second.pipeline) == (
        "predictive-analytics", "720", "model-training-pipeline-gpu",
    )  # fmt: skip
    assert first.trigger == "cron" and first.labels["retrain.dev/schedule"] == "anomaly-detector-weekly"
    assert first.annotations[SCHEDULED_TIME_ANNOTATION] == "2026-01-04T02:00:00Z"
    assert [r["outcome"] for r in scheduler.history("anomaly-detector-weekly")] == ["started"] * 3
    assert scheduler.last_run("anomaly-detector-weekly") == "anomaly-detector-cron-5"


@pytest.mark.parametrize(
    ("policy", "outcome", "launches", "cancelled"),
    [
        ("Forbid", "skipped", 1, []),
        ("Replace", "started", 2, ["anomaly-detector-cron-1"]),
        ("Allow", "started", 2, []),
    ],
)
def test_concurrency_policy_when_the_previous_run_is_still_active(
    policy: Policy, outcome: str, launches: int, cancelled: list[str]
) -> None:
    clock = FakeClock(THURSDAY)
    launcher, runs = FakeLauncher(clock), FakeRuns()
    scheduler = _scheduler([_schedule(policy)], clock, MemoryState(), launcher, runs)
    _run(scheduler, SUNDAY_2 + timedelta(minutes=1))
    runs.active.add("anomaly-detector-cron-1")  # a week later it still runs
    _run(scheduler, SUNDAY_2 + WEEK + timedelta(minutes=1))
    history = scheduler.history("ad-weekly")
    assert [h["outcome"] for h in history] == ["started", outcome]
    assert len(launcher.requests) == launches
    assert runs.cancelled == cancelled
    if policy == "Forbid":
        assert "anomaly-detector-cron-1 is still active (concurrency policy Forbid)" in history[-1]["reason"]
        # The run ends: the week after fires normally, and the skip did not change the last run.
        assert scheduler.last_run("ad-weekly") == "anomaly-detector-cron-1"
        runs.active.clear()
        _run(scheduler, SUNDAY_2 + 2 * WEEK + timedelta(minutes=1))
        assert [h["outcome"] for h in scheduler.history("ad-weekly")][-1] == "started"
    if policy == "Replace":
        assert "cancelled the previous run anomaly-detector-cron-1" in history[-1]["reason"]


def test_a_finished_previous_run_never_blocks() -> None:
    clock = FakeClock(THURSDAY)
    launcher, runs = FakeLauncher(clock), FakeRuns()
    scheduler = _scheduler([_schedule("Forbid")], clock, MemoryState(), launcher, runs)
    _run(scheduler, SUNDAY_2 + 2 * WEEK + timedelta(minutes=1))
    assert [h["outcome"] for h in scheduler.history("ad-weekly")] == ["started"] * 3


def _state_last_fired(at: datetime, cron: str = "0 2 * * 0 (UTC)") -> MemoryState:
    return MemoryState({"schema": 1, "schedules": {"ad-weekly": {
        "cron": cron, "last_scheduled": at.isoformat(), "last_run": "old-run", "history": []}}})  # fmt: skip


def test_a_fire_missed_while_down_runs_once_within_the_starting_deadline() -> None:
    clock = FakeClock(SUNDAY_2 + timedelta(minutes=30))  # restarted half an hour after the fire time
    launcher = FakeLauncher(clock)
    scheduler = _scheduler([_schedule(deadline=3600)], clock, _state_last_fired(SUNDAY_2 - WEEK), launcher)
    records = asyncio.run(scheduler.tick())
    assert [(r.outcome, r.scheduled_for) for r in records] == [("started", SUNDAY_2)]
    assert launcher.requests[0].annotations[SCHEDULED_TIME_ANNOTATION] == "2026-01-04T02:00:00Z"
    assert asyncio.run(scheduler.tick()) == []  # handled: not again


def test_a_fire_missed_past_the_starting_deadline_is_recorded_as_skipped() -> None:
    clock = FakeClock(SUNDAY_2 + timedelta(hours=2))
    launcher = FakeLauncher(clock)
    scheduler = _scheduler([_schedule(deadline=3600)], clock, _state_last_fired(SUNDAY_2 - WEEK), launcher)
    _run(scheduler, SUNDAY_2 + WEEK + timedelta(minutes=1))
    history = scheduler.history("ad-weekly")
    assert [(h["outcome"], h["scheduled_for"]) for h in history] == [
        ("skipped", SUNDAY_2.isoformat()), ("started", (SUNDAY_2 + WEEK).isoformat()),
    ]  # fmt: skip
    assert "7200 s late, past the starting deadline of 3600 s" in history[0]["reason"]
    assert launcher.times == [SUNDAY_2 + WEEK]


def test_weeks_of_downtime_run_only_the_latest_fire() -> None:
    clock = FakeClock(SUNDAY_2 + 2 * WEEK + timedelta(minutes=5))
    launcher = FakeLauncher(clock)
    scheduler = _scheduler([_schedule(deadline=None)], clock, _state_last_fired(SUNDAY_2 - WEEK), launcher)
    records = asyncio.run(scheduler.tick())
    assert [r.outcome for r in records] == ["skipped", "started"]
    assert "missed 2 earlier fire time(s)" in records[0].reason
    assert records[1].scheduled_for == SUNDAY_2 + 2 * WEEK
    assert len(launcher.requests) == 1


def test_a_restart_neither_fires_twice_nor_forgets(tmp_path: Path) -> None:
    path = tmp_path / "scheduler" / "state.json"
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock)
    _run(_scheduler([_schedule()], clock, JsonStateFile(path), launcher), SUNDAY_2 + timedelta(minutes=1))
    assert len(launcher.requests) == 1
    saved = json.loads(path.read_text())
    assert saved["schedules"]["ad-weekly"]["last_scheduled"] == SUNDAY_2.isoformat()
    assert saved["schedules"]["ad-weekly"]["last_run"] == "anomaly-detector-cron-1"

    # Restart ten minutes later: the fire at 02:00 was handled, nothing fires again.
    clock.advance(600)
    again = _scheduler([_schedule()], clock, JsonStateFile(path), launcher)
    assert asyncio.run(again.tick()) == []
    # Down over the next fire time, back within the deadline: that fire runs, once.
    clock.advance((SUNDAY_2 + WEEK + timedelta(minutes=20) - clock.now()).total_seconds())
    third = _scheduler([_schedule()], clock, JsonStateFile(path), launcher)
    assert [r.outcome for r in asyncio.run(third.tick())] == ["started"]
    assert [r.outcome for r in asyncio.run(third.tick())] == []
    assert len(launcher.requests) == 2


def test_the_fire_time_is_saved_before_the_launch(tmp_path: Path) -> None:
    path = tmp_path / "state.json"
    clock = FakeClock(SUNDAY_2 - timedelta(minutes=1))
    seen: list[str | None] = []

    class Peeking(FakeLauncher):
        async def __call__(self, request: TrainingRequest) -> Launched:
            seen.append(json.loads(path.read_text())["schedules"]["ad-weekly"]["last_scheduled"])
            raise KeyboardInterrupt  # the process dies while starting the run

    scheduler = _scheduler([_schedule()], clock, JsonStateFile(path), Peeking(clock))
    with pytest.raises(KeyboardInterrupt):
        _run(scheduler, SUNDAY_2 + timedelta(minutes=1))
    assert seen == [SUNDAY_2.isoformat()]
    launcher = FakeLauncher(clock)
    assert asyncio.run(_scheduler([_schedule()], clock, JsonStateFile(path), launcher).tick()) == []
    assert launcher.requests == []  # at most once: the interrupted fire is not repeated


def test_two_schedulers_cannot_share_a_state_file(tmp_path: Path) -> None:
    first, second = JsonStateFile(tmp_path / "state.json"), JsonStateFile(tmp_path / "state.json")
    first.acquire()
    with pytest.raises(Conflict, match="another scheduler is running"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


@pytest.mark.parametrize("outcome", ["refused", "ignored", "queued"])
def test_launcher_outcomes_are_recorded(outcome: str) -> None:
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock, outcome=outcome)
    scheduler = _scheduler([_schedule()], clock, MemoryState(), launcher)
    _run(scheduler, SUNDAY_2 + timedelta(minutes=1))
    (record,) = scheduler.history("ad-weekly")
    assert record["outcome"] == outcome
    assert scheduler.last_run("ad-weekly") == ("anomaly-detector-cron-1" if outcome == "queued" else None)
    if outcome != "queued":
        assert "refused it" in record["reason"]


def test_a_failing_launch_is_recorded_and_the_scheduler_goes_on() -> None:
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock, error=RuntimeError("run store is locked"))
    scheduler = _scheduler([_schedule()], clock, MemoryState(), launcher)
    _run(scheduler, SUNDAY_2 + WEEK + timedelta(minutes=1))
    assert [(h["outcome"], h["reason"]) for h in scheduler.history("ad-weekly")] == [
        ("error", "RuntimeError: run store is locked"),
    ] * 2


def test_suspended_schedules_and_changed_crons() -> None:
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock)
    suspended = _scheduler([_schedule(suspend=True)], clock, MemoryState(), launcher)
    assert suspended.next_fire_times() == {"ad-weekly": None}
    _run(suspended, SUNDAY_2 + timedelta(minutes=1))
    assert launcher.requests == []
    assert suspended.history("ad-weekly")[0]["reason"] == "the schedule is suspended"
    # A schedule whose cron changed starts from now: the new expression's past fire times do not run.
    state = _state_last_fired(SUNDAY_2 - WEEK, cron="0 2 * * 0 (UTC)")
    clock2 = FakeClock(SUNDAY_2 + timedelta(hours=3))
    daily = _scheduler([_schedule(cron="0 1 * * *", deadline=None)], clock2, state, FakeLauncher(clock2))
    assert asyncio.run(daily.tick()) == []


def test_time_zones_and_dst_in_the_loop() -> None:
    # 02:30 Europe/Berlin daily across the spring-forward night: 01:30Z, then 01:00Z (03:00 CEST), 00:30Z.
    clock = FakeClock(datetime(2026, 3, 27, 12, tzinfo=UTC))
    launcher = FakeLauncher(clock)
    scheduler = _scheduler(
        [_schedule("Allow", cron="30 2 * * *", zone="Europe/Berlin")], clock, MemoryState(), launcher
    )
    _run(scheduler, datetime(2026, 3, 30, 12, tzinfo=UTC))
    assert launcher.times == [
        datetime(2026, 3, 28, 1, 30, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        datetime(2026, 3, 30, 0, 30, tzinfo=UTC),
    ]  # fmt: skip


def test_stop_ends_the_loop() -> None:
    clock = FakeClock(THURSDAY)
    launcher = FakeLauncher(clock)
    scheduler = Scheduler([_schedule()], launcher, clock, MemoryState(), max_sleep_s=60)

    async def scenario() -> None:
        task = asyncio.ensure_future(scheduler.run())
        while not launcher.requests:  # fake time: each iteration advances a minute
            await asyncio.sleep(0)
        scheduler.stop()
        await asyncio.wait_for(task, 5)

    asyncio.run(scenario())
    assert launcher.times == [SUNDAY_2]
    assert max(clock.sleeps) <= 60  # the wall clock is looked at again at least every minute


def test_schedule_names_must_be_unique() -> None:
    clock = FakeClock(THURSDAY)
    with pytest.raises(ValueError, match="unique"):
        Scheduler(
            [_schedule(), replace(_schedule(), policy="Allow")], FakeLauncher(clock), clock, MemoryState()
        )
