"""`retrain serve`'s composition: the service (`retrain.triggers.service`), its scheduler, drift checks and
notifier (`retrain.triggers.wiring`), the HTTP API over it (`retrain.api`), and what it runs at start-up.

`describe_service` is the start-up description: which schedules (cron, next fire time) and drift checks
(cron, interval, next check) run, and which receivers answer without a credential. The CLI prints it;
nothing here formats. Running the server is `retrain.app.serve_loop`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.api import Credentials
    from retrain.engine.prepare import Catalog
    from retrain.serving.app import ServingApp
    from retrain.triggers.config import RetrainConfig
    from retrain.triggers.service import Service


# -- composition -------------------------------------------------------------------------------------------


def build_service(
    config: RetrainConfig,
    *,
    registry: Path | None = None,
    home: Path | None = None,
    sandbox: str = "auto",
    env: Mapping[str, str] | None = None,
    on_note: Callable[[str], None] | None = None,
) -> tuple[Service, ServingApp]:
    """The service and its whole ASGI app (inference, then the API and the hooks)."""
    from retrain.api import create_api

    service = open_service(config, registry=registry, home=home, sandbox=sandbox, env=env, on_note=on_note)
    api = create_api(service, credentials=credentials_of(config), limiter=service.limiter)
    return service, service.asgi(api)


def open_service(
    config: RetrainConfig,
    *,
    registry: Path | None = None,
    home: Path | None = None,
    sandbox: str = "auto",
    env: Mapping[str, str] | None = None,
    parts: bool = True,
    on_note: Callable[[str], None] | None = None,
) -> Service:
    """A Service over the run store and registry that the flags, else the configuration, else the
    environment name; with its scheduler, drift monitor and notifier unless `parts` is False."""
    from retrain.app.engine import build_engine
    from retrain.catalog import builtin_catalog
    from retrain.runs.home import default_home
    from retrain.triggers.service import Service

    environ = os.environ if env is None else env
    base = config.base_dir
    server = config.server
    home = home or (base / server.home if server.home else default_home(environ))
    if registry is None and server.registry is not None:
        registry = base / server.registry
    elif registry is None:  # as `retrain.registry.default_root`, but under this service's home
        explicit = environ.get("RETRAIN_REGISTRY")
        registry = Path(explicit) if explicit else home / "registry"
    engine = build_engine(
        home.expanduser(), sandbox, on_note=on_note, catalog=catalog_of(config, builtin_catalog())
    )
    service = Service(config, engine, registry.expanduser().resolve())
    if parts:
        attach_parts(service, environ)
    return service


def catalog_of(config: RetrainConfig, catalog: Catalog) -> Catalog:
    """The built-in catalog plus the configuration's `catalog:` files (a Pipeline of the same name wins)."""
    from retrain.errors import InvalidInputs
    from retrain.tekton.loader import load_files
    from retrain.tekton.model import Pipeline, Task
    from retrain.tekton.validation import validate_object

    if not config.catalog:
        return catalog
    loaded = load_files([config.base_dir / path for path in config.catalog])
    problems = [p for doc in loaded.documents for p in validate_object(doc.obj, where=doc.source)]
    if problems:
        raise problems[0] if len(problems) == 1 else InvalidInputs(problems)
    for doc in loaded.documents:
        if isinstance(doc.obj, Task | Pipeline):
            catalog.add(doc.obj)
    return catalog


def attach_parts(service: Service, env: Mapping[str, str]) -> None:
    """The scheduler, drift monitor and notifier that `schedules:`, `drift:` and `notifications:` describe.
    The scheduler reads the service's serving URL when it fires: with `--port 0` it is known only once
    the server listens."""
    from retrain.triggers import wiring

    scheduler = wiring.service_scheduler(
        service.config, service.launch, lambda: service.serving_url, store=service.store
    )
    drift = wiring.service_drift_monitor(service.config, service.registry_root, environ=env)
    notifier, on_finished = wiring.service_notifier(service.config, service.store, environ=env)
    service.attach(
        scheduler=scheduler,
        drift=(drift[0], drift[1].next_after) if drift is not None else None,
        notifier=notifier,
        on_finished=on_finished,
    )


def credentials_of(config: RetrainConfig) -> Credentials:
    from retrain.api import Credentials

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return Credentials(
        api_token=secret(config.api.token),
        github_secret=secret(config.hooks.github.secret),
        alertmanager_token=secret(config.hooks.alertmanager.token),
    )


# -- the start-up description ------------------------------------------------------------------------------


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


def describe_service(service: Service, *, now: datetime | None = None) -> StartupDescription:
    """What `service` runs and who may start things, from the parts actually attached to it."""
    from retrain.drift import DriftMonitor
    from retrain.triggers.scheduler import Scheduler

    moment = now or datetime.now(UTC)
    schedules: tuple[ScheduleInfo, ...] = ()
    if isinstance(service.scheduler, Scheduler):
        schedules = tuple(
            ScheduleInfo(
                s.name,
                s.request.model,
                s.request.pipeline,
                s.cron.expression,
                s.cron.time_zone,
                None if s.suspend else s.cron.next_after(moment).astimezone(s.cron.zone),
            )
            for s in service.scheduler.schedules
        )
    drift: DriftInfo | None = None
    monitor, next_after = service.drift if service.drift is not None else (None, None)
    if isinstance(monitor, DriftMonitor) and next_after is not None:
        settings = monitor.settings
        first = next_after(moment)
        from zoneinfo import ZoneInfo

        drift = DriftInfo(
            settings.schedule,
            settings.time_zone,
            first.astimezone(ZoneInfo(settings.time_zone)),
            next_after(first) - first,
            settings.models,
            settings.data_source,
            settings.hours,
        )
    return StartupDescription(
        config=service.config.source,
        host=service.config.server.host,
        registry=service.registry_root,
        home=service.store.home,
        schedules=schedules,
        drift=drift,
        receivers=receivers_of(service.config),
    )


def receivers_of(config: RetrainConfig) -> tuple[ReceiverInfo, ...]:
    """The endpoints that start or change something, and whether each needs a credential now."""
    creds = credentials_of(config)
    api, github, alerts = bool(creds.api_token), bool(creds.github_secret), bool(creds.alertmanager_token)
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
