"""The service that `retrain serve` runs, composed from retrain.yaml: the engine (`retrain.app.engine`), the
catalog with the configuration's own files, the scheduler, drift monitor and notifier (`wiring`), and what
it runs, described for start-up (`retrain.app.serve.describe`).

The HTTP API is put over it by `retrain.cli.serve` (api and triggers are independent layers).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from retrain.triggers.config import RetrainConfig
from retrain.triggers.service import Service

if TYPE_CHECKING:
    from pydantic import SecretStr

    from retrain.app.serve import StartupDescription
    from retrain.engine.prepare import Catalog


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
    environment name; with its scheduler, drift monitor and notifier unless `parts` is False. `on_note`
    hears about runs a dead service left behind (marked Failed)."""
    from retrain.app.engine import build_engine
    from retrain.catalog import builtin_catalog
    from retrain.runs.home import default_home

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
    from retrain.tekton.model import Pipeline, StepAction, Task
    from retrain.tekton.validation import validate_object

    if not config.catalog:
        return catalog
    loaded = load_files([config.base_dir / path for path in config.catalog])
    problems = [p for doc in loaded.documents for p in validate_object(doc.obj, where=doc.source)]
    if problems:
        raise problems[0] if len(problems) == 1 else InvalidInputs(problems)
    for doc in loaded.documents:
        if isinstance(doc.obj, Task | Pipeline | StepAction):  # StepActions: what steps' refs name
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


def startup_description(service: Service, *, now: datetime | None = None) -> StartupDescription:
    """What `service` runs and who may start things, from the parts actually attached to it."""
    from retrain.app.serve import DriftPlan, Secrets, describe
    from retrain.drift import DriftMonitor
    from retrain.triggers.scheduler import Scheduler

    config = service.config
    plan: DriftPlan | None = None
    monitor, next_after = service.drift if service.drift is not None else (None, None)
    if isinstance(monitor, DriftMonitor) and next_after is not None:
        s = monitor.settings
        plan = DriftPlan(s.schedule, s.time_zone, next_after, s.models, s.data_source, s.hours)
    return describe(
        config=config.source,
        host=config.server.host,
        registry=service.registry_root,
        home=service.store.home,
        schedules=service.scheduler.schedules if isinstance(service.scheduler, Scheduler) else (),
        drift=plan,
        secrets=Secrets(
            api_token=_set(config.api.token),
            github_secret=_set(config.hooks.github.secret),
            alertmanager_token=_set(config.hooks.alertmanager.token),
        ),
        now=now or datetime.now(UTC),
    )


def _set(secret: SecretStr | None) -> bool:
    return secret is not None and bool(secret.get_secret_value())
