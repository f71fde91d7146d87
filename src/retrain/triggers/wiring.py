"""How `retrain serve` builds its scheduler, drift monitor and notifier from retrain.yaml.

Three functions for `retrain.triggers.service`, each reading its own section of `RetrainConfig`:

- `service_scheduler(config, launch, serving_url, store=...)`: the `schedules:` section (absent: the two
  weekly jobs) as a `Scheduler` whose requests start from the service's own request for the model (the
  `defaults:` and the model's entry), with its state in `<home>/scheduler/state.json`. None when the section
  is an empty list. `serving_url` may be a function: read when a request is built, since a service started
  on port 0 knows its URL only once it listens.
- `service_drift_monitor(config, registry)`: the `drift:` section as a `DriftMonitor` and the cron schedule
  of its checks (None when `enabled: false`). Run `monitor.run(cron.next_after, clock)` as a task and
  append `monitor.metrics_lines()` to /metrics.
- `service_notifier(config, store)`: the `notifications:` section as a `Notifier`, and the launcher's
  `on_finished` hook that notifies when a run ends (None, None without targets).
- `StoreRunControl`: how the scheduler sees whether its previous run is active, and cancels it (Replace).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.app.requests import TrainingRequest
from retrain.app.trigger import SUMMARY_EVENT
from retrain.engine.clock import Clock, SystemClock
from retrain.triggers.config import RetrainConfig, training_request
from retrain.triggers.cron import CronSchedule, parse_cron
from retrain.triggers.notify import Notifier, completion_from_run
from retrain.triggers.notify_config import parse_notifications
from retrain.triggers.schedule_state import JsonStateFile, default_state_path
from retrain.triggers.scheduler import Launch, LaunchResult, Scheduler
from retrain.triggers.schedules_config import parse_schedules

log = logging.getLogger(__name__)

if TYPE_CHECKING:
    from retrain.drift import DriftMonitor, DriftReport
    from retrain.engine.engine import RunResult
    from retrain.runs.store import RunStore


def _file(config: RetrainConfig) -> str:
    return str(config.source) if config.source is not None else "<defaults>"


def service_scheduler(
    config: RetrainConfig,
    launch: Launch,
    serving_url: str | Callable[[], str],
    *,
    store: RunStore,
    clock: Clock | None = None,
) -> Scheduler | None:
    def url() -> str:
        return serving_url() if callable(serving_url) else serving_url

    def base(model: str) -> TrainingRequest:
        return training_request(config, model, "cron", serving_url=url())

    async def fire(req: TrainingRequest) -> LaunchResult:  # the URL as it is when the schedule fires
        return await launch(dataclasses.replace(req, serving_url=url()))

    schedules = parse_schedules(config.schedules, file=_file(config), base=base)
    if not schedules:
        return None
    clock = clock or SystemClock()
    return Scheduler(
        schedules,
        fire if callable(serving_url) else launch,
        clock,
        JsonStateFile(default_state_path(store.home)),
        runs=StoreRunControl(store),
    )


def service_drift_monitor(
    config: RetrainConfig, registry: Path, *, environ: Mapping[str, str] | None = None
) -> tuple[DriftMonitor, CronSchedule] | None:
    from retrain.drift import DriftMonitor, DriftSection
    from retrain.drift.yamlsection import Section, validate
    from retrain.registry import Registry
    from retrain.training.handoff import data_settings

    section = validate(
        DriftSection, Section("drift", config.drift, None, _file(config)), docs="docs/drift.md"
    )
    settings = section.settings()
    if not settings.enabled:
        return None
    cron = parse_cron(settings.schedule, settings.time_zone, field_path="drift.schedule")
    env = os.environ if environ is None else environ
    prometheus_url = config.defaults.prometheus_url or None
    from retrain.app.drift import keep_drift_report

    def keep(report: DriftReport) -> None:  # the dashboard's drift history
        keep_drift_report(Path(registry), report)

    monitor = DriftMonitor(
        Registry(registry),
        settings,
        data_settings=data_settings(env, prometheus_url=prometheus_url),
        environ=env,
        on_report=keep,
    )
    return monitor, cron


def service_notifier(
    config: RetrainConfig,
    store: RunStore,
    *,
    environ: Mapping[str, str] | None = None,
    source: str = "/retrain",
) -> tuple[Notifier | None, Callable[[RunResult], None] | None]:
    targets = parse_notifications(config.notifications or None, environ, file=_file(config))
    if not targets:
        return None, None
    notifier = Notifier(targets, source=source)

    def on_finished(result: RunResult) -> None:
        record = store.get_run(result.name)
        said = [e.message for e in store.events(result.name) if e.reason == SUMMARY_EVENT]
        notifier.notify(
            completion_from_run(
                record.name,
                record.state,
                reason=record.reason or result.reason,
                labels=record.labels,
                status=record.status or result.status_doc,
                pipeline=record.pipeline,
                finished_at=record.completed_at,
                summary=said[-1] if said else "",
            )
        )

    return notifier, on_finished


class StoreRunControl:
    """`RunControl` over the run store: a run is active until it reaches a final state; Replace asks it to
    cancel (`CancelledRunFinally`: its finally tasks still run) and waits up to `wait_s` for it to end.
    The wait is on real time whatever the scheduler's clock: it waits for real processes."""

    def __init__(self, store: RunStore, *, wait_s: float = 60.0, poll_s: float = 0.1) -> None:
        self._store = store
        self._wait_s = wait_s
        self._poll_s = poll_s

    async def is_active(self, run: str) -> bool:
        from retrain.errors import NotFound

        try:
            record = await asyncio.to_thread(self._store.get_run, run)
        except NotFound:
            return False
        return not record.finished

    async def cancel(self, run: str, reason: str) -> None:
        from retrain.errors import Conflict, NotFound

        try:
            await asyncio.to_thread(self._store.request_cancel, run, "CancelledRunFinally")
        except (Conflict, NotFound):
            return  # it ended meanwhile
        log.info("cancelled run %s: %s", run, reason)
        deadline = time.monotonic() + self._wait_s
        while await self.is_active(run) and time.monotonic() < deadline:
            await asyncio.sleep(self._poll_s)
