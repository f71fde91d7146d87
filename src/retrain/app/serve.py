"""What `retrain serve` runs, said at start-up: schedules (cron, next fire time), drift checks (cron,
interval, next check) and the receivers that start or change something, with whether each needs a
credential now. A frozen value; `retrain.cli.serve` prints it, nothing here formats.

The application layer sits below `retrain.triggers` and `retrain.api`, so this module does not see the
service: `retrain.triggers.compose.startup_description` collects the parts the service actually runs and
calls `describe`. Running the server is `retrain.app.serve_loop`; the endpoint record `retrain.app.endpoints`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Protocol
from zoneinfo import ZoneInfo

from retrain.app.requests import TrainingRequest


class CronLike(Protocol):
    """`retrain.triggers.cron.CronSchedule`."""

    @property
    def expression(self) -> str: ...

    @property
    def time_zone(self) -> str: ...

    @property
    def zone(self) -> ZoneInfo: ...

    def next_after(self, moment: datetime) -> datetime: ...


class ScheduleLike(Protocol):
    """`retrain.triggers.scheduler.Schedule`."""

    @property
    def name(self) -> str: ...

    @property
    def cron(self) -> CronLike: ...

    @property
    def request(self) -> TrainingRequest: ...

    @property
    def suspend(self) -> bool: ...


@dataclass(frozen=True)
class DriftPlan:
    """The drift checks the service runs: `retrain.drift.DriftSettings` and the next check after a time."""

    cron: str
    time_zone: str
    next_after: Callable[[datetime], datetime]
    models: tuple[str, ...] | None
    data_source: str
    hours: float


@dataclass(frozen=True)
class Secrets:
    """Which credentials are set (never their values)."""

    api_token: bool
    github_secret: bool
    alertmanager_token: bool


@dataclass(frozen=True)
class ScheduleInfo:
    name: str
    model: str
    pipeline: str
    cron: str
    time_zone: str
    next_fire: datetime | None  # in the schedule's own time zone; None while suspended


@dataclass(frozen=True)
class DriftInfo:
    cron: str
    time_zone: str
    next_check: datetime  # in the checks' time zone
    interval: timedelta  # between the next two checks
    models: tuple[str, ...] | None  # None: every built-in model with a serving version, at each check
    data_source: str
    hours: float


@dataclass(frozen=True)
class ReceiverInfo:
    """An endpoint that starts or changes something, and what guards it."""

    endpoint: str
    guard: str  # the credential that guards it
    setting: str  # where that credential is set
    configured: bool  # the credential is set
    open: bool  # it answers anyone who reaches the port, without a credential
    without: str  # what it does while the credential is not set


@dataclass(frozen=True)
class StartupDescription:
    config: Path | None  # None: the built-in defaults
    host: str
    registry: Path
    home: Path
    schedules: tuple[ScheduleInfo, ...]
    drift: DriftInfo | None  # None: drift checks are off
    receivers: tuple[ReceiverInfo, ...]

    @property
    def open_receivers(self) -> tuple[ReceiverInfo, ...]:
        return tuple(r for r in self.receivers if r.open)

    @property
    def exposed(self) -> bool:
        """Listening beyond this machine (anything but a loopback address)."""
        return self.host not in ("127.0.0.1", "::1", "localhost") and not self.host.startswith("127.")


def describe(
    *,
    config: Path | None,
    host: str,
    registry: Path,
    home: Path,
    schedules: Sequence[ScheduleLike],
    drift: DriftPlan | None,
    secrets: Secrets,
    now: datetime,
) -> StartupDescription:
    """The description of a service running `schedules` and `drift`, guarded by `secrets`, at `now`."""
    infos = tuple(
        ScheduleInfo(
            s.name,
            s.request.model,
            s.request.pipeline,
            s.cron.expression,
            s.cron.time_zone,
            None if s.suspend else s.cron.next_after(now).astimezone(s.cron.zone),
        )
        for s in schedules
    )
    checks: DriftInfo | None = None
    if drift is not None:
        first = drift.next_after(now)
        checks = DriftInfo(
            drift.cron,
            drift.time_zone,
            first.astimezone(ZoneInfo(drift.time_zone)),
            drift.next_after(first) - first,
            drift.models,
            drift.data_source,
            drift.hours,
        )
    return StartupDescription(config, host, registry, home, infos, checks, receivers_of(secrets))


def receivers_of(secrets: Secrets) -> tuple[ReceiverInfo, ...]:
    """The endpoints that start or change something, and whether each needs a credential now."""
    api, github, alerts = secrets.api_token, secrets.github_secret, secrets.alertmanager_token
    return (
        ReceiverInfo(
            "POST /api/v1/... (start and cancel runs)", "API token", "RETRAIN_API_TOKEN or api.token",
            api, False, "refused: answers 403",
        ),
        ReceiverInfo(
            "POST /v2/repository/models/NAME/load", "API token", "RETRAIN_API_TOKEN or api.token",
            api, not api, "open: anyone may make the server reload a model from the registry",
        ),
        ReceiverInfo(
            "POST /hooks/github", "GitHub HMAC secret",
            "RETRAIN_GITHUB_WEBHOOK_SECRET or hooks.github.secret", github, False, "refused: answers 403",
        ),
        ReceiverInfo(
            "POST /hooks/alertmanager", "Alertmanager bearer token",
            "RETRAIN_ALERTMANAGER_TOKEN or hooks.alertmanager.token", alerts, not alerts,
            "open: anyone may start training with a firing alert",
        ),
    )  # fmt: skip
