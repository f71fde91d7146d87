"""The scheduler, notifier and drift monitor built from retrain.yaml, driving the service's real launcher."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures.alertmanager import Receiver, Script, http_receiver  # noqa: F401
from fixtures.service_helpers import make_service, service_config
from retrain.engine.clock import FakeClock
from retrain.triggers.scheduler import SCHEDULED_TIME_ANNOTATION
from retrain.triggers.wiring import service_drift_monitor, service_notifier, service_scheduler

SUNDAY_2 = datetime(2026, 1, 4, 2, tzinfo=UTC)
CONFIG = """
defaults:
  data_source: synthetic
  prometheus_url: http://prom.test:9090
schedules:
  - name: ad-weekly
    model: anomaly-detector
    cron: "0 2 * * 0"
    training_hours: 24
notifications:
  - url: {url}
    events: [successful, failed]
"""


def test_schedules_fire_through_the_service_launcher(
    tmp_path: Path,
    http_receiver: Callable[[Script], Receiver],  # noqa: F811
) -> None:
    receiver = http_receiver([(202, "")])
    config = service_config(tmp_path, CONFIG.format(url=receiver.url))
    service = make_service(config, tmp_path / "home", tmp_path / "registry")
    notifier, on_finished = service_notifier(config, service.store)
    assert notifier is not None and on_finished is not None
    service.launcher.on_finished = on_finished
    clock = FakeClock(SUNDAY_2 - timedelta(minutes=1))

    async def scenario() -> list[str]:
        scheduler = service_scheduler(
            config, service.launch, "http://127.0.0.1:8080", store=service.store, clock=clock
        )
        assert scheduler is not None
        (schedule,) = scheduler.schedules
        # The schedule's own fields win; the rest comes from the service's defaults.
        assert (schedule.request.training_hours, schedule.request.data_source) == ("24", "synthetic")
        assert schedule.request.prometheus_url == "http://prom.test:9090"
        assert schedule.request.serving_url == "http://127.0.0.1:8080"
        await service.start()
        try:
            (service.registry_root / "hold-anomaly-detector").touch()  # keep the first run running
            await scheduler.run(until=SUNDAY_2 + timedelta(minutes=1))
            first = scheduler.last_run("ad-weekly")
            assert first is not None and not service.store.get_run(first).finished
            # A week later it still runs: Forbid skips the fire and says why.
            clock.advance(7 * 86400)
            (skip,) = await scheduler.tick()
            assert skip.outcome == "skipped" and first in skip.reason
            (service.registry_root / "hold-anomaly-detector").unlink()
            assert await service.launcher.wait_idle(30)
            await notifier.drain(30)
            return [first]
        finally:
            await service.drain(grace_s=10)
            service.close()

    (run,) = asyncio.run(scenario())
    record = service.store.get_run(run)
    assert record.state == "Succeeded"
    assert (
        record.labels["retrain.dev/trigger"] == "cron"
        and record.labels["retrain.dev/schedule"] == "ad-weekly"
    )
    assert record.manifest["metadata"]["annotations"][SCHEDULED_TIME_ANNOTATION] == "2026-01-04T02:00:00Z"
    assert (service.store.home / "scheduler" / "state.json").is_file()
    # The run's end was announced as a CloudEvent.
    (event,) = receiver.requests
    body = event.json()
    assert body["type"] == "dev.retrain.pipelinerun.successful.v1" and body["subject"] == run
    assert body["data"]["model"] == "anomaly-detector" and body["data"]["trigger"] == "cron"


def test_an_empty_section_means_no_scheduler_and_no_notifier(tmp_path: Path) -> None:
    config = service_config(tmp_path, "schedules: []\n")
    service = make_service(config, tmp_path / "home", tmp_path / "registry")

    async def launch(request: object) -> object:
        raise AssertionError("nothing may launch")

    assert service_scheduler(config, launch, "http://x", store=service.store) is None  # type: ignore[arg-type]
    assert service_notifier(config, service.store) == (None, None)
    service.close()


def test_the_drift_monitor_from_the_config(tmp_path: Path) -> None:
    config = service_config(
        tmp_path, "drift:\n  schedule: '@hourly'\n  time_zone: Europe/Berlin\n  data_source: synthetic\n"
    )
    built = service_drift_monitor(config, tmp_path / "registry")
    assert built is not None
    monitor, cron = built
    assert monitor.settings.data_source == "synthetic"
    assert cron.next_after(datetime(2026, 1, 1, 0, 30, tzinfo=UTC)) == datetime(2026, 1, 1, 1, tzinfo=UTC)
    assert monitor.models() == []  # an empty registry: nothing to check
    off = service_config(tmp_path, "drift:\n  enabled: false\n")
    assert service_drift_monitor(off, tmp_path / "registry") is None


def test_replace_cancels_the_previous_run_through_the_run_store(tmp_path: Path) -> None:
    config = service_config(
        tmp_path,
        "schedules:\n"
        "  - {name: ad-daily, model: anomaly-detector, cron: '@daily', concurrency_policy: Replace}\n",
    )
    service = make_service(config, tmp_path / "home", tmp_path / "registry")
    clock = FakeClock(datetime(2026, 1, 1, 23, 59, tzinfo=UTC))

    async def scenario() -> tuple[str, str]:
        scheduler = service_scheduler(config, service.launch, "http://x", store=service.store, clock=clock)
        assert scheduler is not None
        await service.start()
        try:
            (service.registry_root / "hold-anomaly-detector").touch()
            await scheduler.run(until=datetime(2026, 1, 2, 0, 1, tzinfo=UTC))
            first = scheduler.last_run("ad-daily")
            assert first is not None
            clock.advance(86400)
            (replaced,) = await scheduler.tick()
            assert replaced.outcome in ("started", "queued") and replaced.run != first
            assert f"cancelled the previous run {first}" in replaced.reason
            (service.registry_root / "hold-anomaly-detector").unlink()
            assert await service.launcher.wait_idle(30)
            assert replaced.run is not None
            return first, replaced.run
        finally:
            await service.drain(grace_s=10)
            service.close()

    first, second = asyncio.run(scenario())
    assert service.store.get_run(first).state == "Cancelled"
    assert service.store.get_run(second).state == "Succeeded"
