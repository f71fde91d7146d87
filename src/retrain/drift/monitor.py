"""`DriftMonitor`: the service's scheduled drift checks of every serving model, kept as gauges for /metrics.

The service owns the schedule (the `drift:` section's cron, via `retrain.triggers.cron`) and calls
`run_once()` at each fire time, or hands `run()` a function that says when the next check is due. Each
check runs in a worker thread (fetching and feature building are blocking and CPU-bound); one model's
failure (Prometheus unreachable, no reference) is logged and shown as `retrain_model_drift_check_up 0`,
and never stops the others. The last good report of each model stays exposed until the next one (its
timestamp gauge tells how old it is). `metrics_lines()` is what the service appends to its /metrics.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Protocol

from retrain.drift.check import DriftReport, Thresholds, check_model
from retrain.drift.config import DriftSettings
from retrain.drift.exposition import PushOutcome, exposition_lines, push
from retrain.errors import RetrainError

if TYPE_CHECKING:
    from retrain.data import DataSettings
    from retrain.registry import Registry

log = logging.getLogger(__name__)


class Checker(Protocol):
    def __call__(
        self,
        registry: Registry,
        model: str,
        *,
        hours: float,
        source: str,
        settings: DataSettings | None,
        thresholds: Thresholds,
        environ: Mapping[str, str] | None,
    ) -> DriftReport: ...


class MonitorClock(Protocol):
    def now(self) -> datetime: ...

    async def sleep(self, seconds: float) -> None: ...


@dataclass(frozen=True)
class CheckFailure:
    model: str
    at: datetime
    message: str


class DriftMonitor:
    def __init__(
        self,
        registry: Registry,
        settings: DriftSettings | None = None,
        *,
        data_settings: DataSettings | None = None,
        environ: Mapping[str, str] | None = None,
        checker: Checker = check_model,
        pusher: Callable[[str, DriftReport], PushOutcome] = push,
        on_report: Callable[[DriftReport], None] | None = None,
    ) -> None:
        self.registry = registry
        self.settings = settings or DriftSettings()
        self._data_settings = data_settings
        self._environ = environ
        self._checker = checker
        self._pusher = pusher
        self._on_report = on_report
        self._reports: dict[str, DriftReport] = {}
        self._failures: dict[str, CheckFailure] = {}
        self._stop = asyncio.Event()

    def models(self) -> list[str]:
        """The configured models, else every built-in model with a serving version."""
        from retrain.data.contracts import BUILTIN_MODELS

        if self.settings.models is not None:
            return list(self.settings.models)
        found = []
        for model in self.registry.models():
            if model in BUILTIN_MODELS and "serving" in self.registry.aliases(model):
                found.append(model)
        return found

    def check(self, model: str) -> DriftReport:
        """One model's check, now (blocking); the gauges and the Pushgateway are updated."""
        try:
            report = self._checker(
                self.registry,
                model,
                hours=self.settings.hours,
                source=self.settings.data_source,
                settings=self._data_settings,
                thresholds=self.settings.thresholds_for(model),
                environ=self._environ,
            )
        except RetrainError as err:
            self._failures[model] = CheckFailure(model, datetime.now(UTC), str(err))
            log.warning("drift check of %s failed: %s", model, err)
            raise
        self._failures.pop(model, None)
        self._reports[model] = report
        if self.settings.pushgateway:
            self._pusher(self.settings.pushgateway, report)
        if self._on_report is not None:
            self._on_report(report)
        log.info("drift of %s v%s: score %.2f%s", model, report.version, report.score,
                 " (drifted)" if report.drifted else "")  # fmt: skip
        return report

    async def run_once(self) -> list[DriftReport]:
        """Check every model in turn (in a worker thread); failures are recorded, not raised."""
        done: list[DriftReport] = []
        for model in self.models():
            try:
                done.append(await asyncio.to_thread(self.check, model))
            except RetrainError:
                continue
        return done

    async def run(self, next_after: Callable[[datetime], datetime], clock: MonitorClock) -> None:
        """Check at every time `next_after` gives (e.g. a cron schedule's), until `stop()`."""
        while not self._stop.is_set():
            delay = (next_after(clock.now()) - clock.now()).total_seconds()
            sleeper = asyncio.ensure_future(clock.sleep(max(0.0, delay)))
            stopper = asyncio.ensure_future(self._stop.wait())
            await asyncio.wait({sleeper, stopper}, return_when=asyncio.FIRST_COMPLETED)
            for task in (sleeper, stopper):
                task.cancel()
            if self._stop.is_set():
                return
            await self.run_once()

    def stop(self) -> None:
        self._stop.set()

    def reports(self) -> dict[str, DriftReport]:
        return dict(self._reports)

    def failures(self) -> dict[str, CheckFailure]:
        return dict(self._failures)

    def metrics_lines(self) -> list[str]:
        """Prometheus text exposition lines (HELP/TYPE included) of the latest reports and check status."""
        lines = exposition_lines(self._reports[m] for m in sorted(self._reports))
        status = sorted(set(self._reports) | set(self._failures))
        if status:
            lines += [
                "# HELP retrain_model_drift_check_up 1: the model's last drift check worked; 0: it failed.",
                "# TYPE retrain_model_drift_check_up gauge",
            ]
            lines += [
                f'retrain_model_drift_check_up{{model="{m}"}} {0.0 if m in self._failures else 1.0}'
                for m in status
            ]
        return lines
