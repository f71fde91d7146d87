"""`retrain serve`: the platform service: inference endpoints, the HTTP API, the webhooks and the scheduler.

It composes the two independent layers: `retrain.triggers.service` (launcher, webhooks, scheduler, life
cycle) and `retrain.api` (the HTTP app over it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from retrain.cli.exits import exits

if TYPE_CHECKING:
    from collections.abc import Mapping

    from retrain.api import Credentials
    from retrain.engine.prepare import Catalog
    from retrain.serving.app import ServingApp
    from retrain.triggers.config import RetrainConfig
    from retrain.triggers.service import Service


def build_service(
    config: RetrainConfig,
    *,
    registry: Path | None = None,
    home: Path | None = None,
    sandbox: str = "auto",
) -> tuple[Service, ServingApp]:
    """The service and its whole ASGI app (also what the tests run)."""
    from retrain.api import create_api

    service = open_service(config, registry=registry, home=home, sandbox=sandbox)
    api = create_api(service, credentials=credentials_of(config), limiter=service.limiter)
    return service, service.asgi(api)


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
    """The scheduler, drift monitor and notifier that `schedules:`, `drift:` and `notifications:` describe
    (`retrain.triggers.wiring`)."""
    from retrain.triggers import wiring

    scheduler = wiring.service_scheduler(
        service.config, service.launch, service.serving_url, store=service.store
    )
    drift = wiring.service_drift_monitor(service.config, service.registry_root, environ=env)
    notifier, on_finished = wiring.service_notifier(service.config, service.store, environ=env)
    service.attach(
        scheduler=scheduler,
        drift=(drift[0], drift[1].next_after) if drift is not None else None,
        notifier=notifier,
        on_finished=on_finished,
    )


def open_service(
    config: RetrainConfig,
    *,
    registry: Path | None = None,
    home: Path | None = None,
    sandbox: str = "auto",
    env: Mapping[str, str] | None = None,
    parts: bool = True,
) -> Service:
    """A Service over the run store and registry the configuration (or the flags, or the env) names, with
    its scheduler, drift monitor and notifier unless `parts` is False."""
    from retrain.catalog import builtin_catalog
    from retrain.engine.engine import Engine
    from retrain.engine.sandbox import detect_sandbox
    from retrain.runs.home import default_home
    from retrain.runs.store import RunStore
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
    engine = Engine(
        RunStore(home.expanduser()),
        catalog=catalog_of(config, builtin_catalog()),
        sandbox=detect_sandbox(prefer=sandbox),  # type: ignore[arg-type]
    )
    service = Service(config, engine, registry.expanduser().resolve())
    if parts:
        attach_parts(service, environ)
    return service


def credentials_of(config: RetrainConfig) -> Credentials:
    from retrain.api import Credentials

    def secret(value: Any) -> str | None:
        return value.get_secret_value() if value is not None else None

    return Credentials(
        api_token=secret(config.api.token),
        github_secret=secret(config.hooks.github.secret),
        alertmanager_token=secret(config.hooks.alertmanager.token),
    )


def serve_forever(service: Service, app: ServingApp, *, host: str, port: int, access_log: bool) -> None:
    """uvicorn in the foreground until SIGTERM/SIGINT. The first signal drains the service while the server
    still answers (runs get the grace period; receivers answer 503), then stops the server; a second
    SIGINT/SIGTERM cancels the active runs at once. uvicorn's own signal handling is replaced, since it would
    close the server first and leave the pipelines' deploy and verify steps without an endpoint."""
    import asyncio
    import contextlib
    import logging
    import signal

    import uvicorn

    log = logging.getLogger("retrain.serve")

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # ours are installed on the loop, below
            yield

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=access_log,
        log_level=service.config.server.log_level,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        async def graceful() -> None:
            try:
                await service.drain()
            finally:
                server.should_exit = True

        def on_signal(sig: signal.Signals) -> None:
            if not tasks and service.accepting:
                grace = service.config.server.shutdown_grace_s
                log.warning("%s: stopping; runs get %gs to finish (again: cancel them now)", sig.name, grace)
                task = loop.create_task(graceful())
            else:
                log.warning("%s again: cancelling the active runs now", sig.name)
                task = loop.create_task(service.launcher.cancel_all())
            tasks.add(task)
            task.add_done_callback(lambda _: None)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await server.serve()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            await service.drain()  # the server stopped for another reason: still no run left Running

    with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
        runner.run(main())


def _banner(service: Service, host: str, port: int) -> str:
    cfg = service.config
    creds = credentials_of(cfg)
    state = {True: "on", False: "closed (no token)"}
    lines = [
        f"retrain service on http://{host}:{port}",
        f"  registry: {service.registry_root}",
        f"  runs: {service.store.home}",
        f"  API /api/v1: reads open, writes {state[bool(creds.api_token)]}",
        f"  /hooks/github: {'on' if creds.github_secret else 'closed (no secret)'}"
        f" (branches {', '.join(cfg.hooks.github.branches)})",
        f"  /hooks/alertmanager: {'bearer token' if creds.alertmanager_token else 'open (no token)'}"
        f" (alerts {', '.join(cfg.hooks.alertmanager.alertnames)})",
        f"  schedules: {len(getattr(service.scheduler, 'schedules', []))}",
        f"  drift checks: {'on' if service.drift is not None else 'off'}",
    ]
    return "\n".join(lines)


def register(app: typer.Typer) -> None:
    """Add the `serve` command to `app`."""

    @app.command("serve")
    def serve(
        config: Annotated[
            Path | None,
            typer.Option(
                "--config", "-c", help="retrain.yaml. Default: $RETRAIN_CONFIG, else built-in defaults."
            ),
        ] = None,
        registry: Annotated[
            Path | None,
            typer.Option(
                "--registry",
                help="Registry root. Default: server.registry, $RETRAIN_REGISTRY, else <home>/registry.",
                show_default=False,
            ),
        ] = None,
        home: Annotated[
            Path | None,
            typer.Option("--home", help="Run store. Default: server.home, $RETRAIN_HOME, else XDG data."),
        ] = None,
        host: Annotated[
            str | None,
            typer.Option(
                "--host", help="Address to listen on; default 127.0.0.1 (0.0.0.0 exposes it to the network)."
            ),
        ] = None,
        port: Annotated[int | None, typer.Option("--port", help="TCP port; default 8080.")] = None,
        poll: Annotated[
            float | None,
            typer.Option("--poll-interval", help="Seconds between checks of the registry's serving aliases."),
        ] = None,
        max_body_mb: Annotated[
            float | None, typer.Option("--max-body-mb", help="Largest inference request body (413 beyond).")
        ] = None,
        grace: Annotated[
            float | None,
            typer.Option("--grace", help="Seconds running pipelines may finish on SIGTERM (default 30)."),
        ] = None,
        sandbox: Annotated[str, typer.Option("--sandbox", help="auto, bwrap or host.")] = "auto",
        log_level: Annotated[
            str | None, typer.Option("--log-level", help="debug, info, warning or error.")
        ] = None,
        access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    ) -> None:
        """Run the platform: KServe V1/V2 inference, the API (/api/v1), webhooks (/hooks) and schedules.

        Endpoints: GET /v1/models, POST /v1/models/NAME:predict, GET /v2/health/ready, GET /metrics,
        POST /api/v1/runs, GET /api/v1/runs, GET /api/v1/models, GET /api/v1/openapi.json,
        POST /hooks/github, POST /hooks/alertmanager. SIGTERM or Ctrl-C stops it gracefully.
        """
        import logging

        from retrain.triggers.config import config_path, load_config

        with exits():
            cfg = load_config(config_path(config, os.environ), os.environ)
            flags = {
                "host": host,
                "port": port,
                "poll_interval_s": poll,
                "max_body_mb": max_body_mb,
                "shutdown_grace_s": grace,
                "log_level": log_level.lower() if log_level else None,
            }
            server = cfg.server.model_validate(
                {**cfg.server.model_dump(), **{k: v for k, v in flags.items() if v is not None}}
            )
            cfg = cfg.model_copy(update={"server": server})
            if not logging.getLogger().handlers:
                logging.basicConfig(
                    level=server.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
                )
            service, asgi = build_service(cfg, registry=registry, home=home, sandbox=sandbox)
            try:
                logging.getLogger("retrain.serve").info("%s", _banner(service, server.host, server.port))
                serve_forever(service, asgi, host=server.host, port=server.port, access_log=access_log)
            finally:
                service.close()
