"""`retrain serve`: the platform service: inference endpoints, the HTTP API, the webhooks and the scheduler.

A thin adapter: `retrain.triggers.compose` builds the service and describes what it runs
(`retrain.app.serve`), this module puts the HTTP API (`retrain.api`) over it (api and triggers are
independent layers, so they meet here), and `retrain.app.serve_loop` runs it and keeps the endpoint record
(`<home>/serve.json`) that other commands discover. It prints the start-up description (plain lines, on
stderr).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from retrain.cli.exits import exits

if TYPE_CHECKING:
    from pydantic import SecretStr

    from retrain.api import Credentials
    from retrain.app.serve import StartupDescription
    from retrain.app.serve_loop import Listening
    from retrain.serving.app import ServingApp
    from retrain.triggers.config import RetrainConfig, ServerConfig
    from retrain.triggers.service import Service


def build_service(
    config: RetrainConfig,
    *,
    registry: Path | None = None,
    home: Path | None = None,
    sandbox: str = "auto",
    on_note: Callable[[str], None] | None = None,
) -> tuple[Service, ServingApp]:
    """The service and its whole ASGI app: inference, then the API and the hooks."""
    from retrain.api import create_api
    from retrain.triggers.compose import open_service

    service = open_service(config, registry=registry, home=home, sandbox=sandbox, on_note=on_note)
    api = create_api(service, credentials=credentials_of(config), limiter=service.limiter)
    return service, service.asgi(api)


def credentials_of(config: RetrainConfig) -> Credentials:
    from retrain.api import Credentials

    def secret(value: SecretStr | None) -> str | None:
        return value.get_secret_value() if value is not None else None

    return Credentials(
        api_token=secret(config.api.token),
        github_secret=secret(config.hooks.github.secret),
        alertmanager_token=secret(config.hooks.alertmanager.token),
    )


def _say(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def _when(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")


def _every(interval: timedelta) -> str:
    seconds = int(interval.total_seconds())
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds % size == 0:
            return f"{seconds // size}{unit}"
    return f"{seconds}s"


def describe_lines(d: StartupDescription) -> list[str]:
    """The start-up description as plain lines; a loud WARNING line for each receiver open to anyone."""
    lines = [
        f"retrain serve: configuration {d.config or '(none: built-in defaults)'}",
        f"  registry: {d.registry}",
        f"  runs: {d.home}",
        f"schedules: {len(d.schedules) or 'none'}",
    ]
    for s in d.schedules:
        fire = "suspended" if s.next_fire is None else f"next {_when(s.next_fire)}"
        lines.append(f"  {s.name}: {s.model} ({s.pipeline}) cron '{s.cron}' {s.time_zone}, {fire}")
    if d.drift is None:
        lines.append("drift checks: off")
    else:
        x = d.drift
        models = ", ".join(x.models) if x.models is not None else "every built-in model that serves"
        lines.append(
            f"drift checks: every {_every(x.interval)} (cron '{x.cron}' {x.time_zone}), next "
            f"{_when(x.next_check)}; models: {models}; last {x.hours:g}h of {x.data_source} data"
        )
    lines.append("receivers:")
    for r in d.receivers:
        state = f"{r.guard} set" if r.configured else f"no {r.guard}: {r.without}"
        lines.append(f"  {r.endpoint}: {state}")
    where = "the network" if d.exposed else "this machine"
    for r in d.open_receivers:
        lines.append(
            f"WARNING: {r.endpoint} is OPEN without a token: anyone on {where} may use it. Set {r.setting}."
        )
    return lines


def _listening(what: Listening) -> None:
    if what.replaced is not None:
        _say(
            f"WARNING: another retrain serve (pid {what.replaced.pid}, {what.replaced.url}) used this home; "
            f"{what.record} now names this one"
        )
    url, pid = what.endpoint.url, what.endpoint.pid
    if what.record is None:
        _say(f"retrain serve: listening on {url} (pid {pid})")
        _say(
            f"WARNING: {what.problem}: other commands will not find this server; "
            f"pass them --serving-url {url}"
        )
        return
    _say(f"retrain serve: listening on {url} (pid {pid}; recorded in {what.record})")


def _serve_models_only(server: ServerConfig, registry: Path | None, access_log: bool) -> None:
    """Inference only, over the registry (--registry, else server.registry, $RETRAIN_REGISTRY, the default).
    The repository endpoints need $RETRAIN_API_TOKEN when it is set."""
    from retrain.registry import default_root
    from retrain.serving.runner import serve

    root = registry or default_root()
    _say(f"retrain serve --models-only: inference for the serving versions in {root}; no API, hooks, "
         "schedules or drift checks")  # fmt: skip
    serve(
        root,
        host=server.host,
        port=server.port,
        poll_interval_s=server.poll_interval_s,
        max_body_bytes=int(server.max_body_mb * 1024 * 1024),
        log_level=server.log_level,
        access_log=access_log,
        read_timeout_s=server.read_timeout_s,
        token=os.environ.get("RETRAIN_API_TOKEN") or None,
    )


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
        port: Annotated[
            int | None,
            typer.Option(
                "--port", min=0, max=65535, help="TCP port; default 8080; 0: any free port (see serve.json)."
            ),
        ] = None,
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
        models_only: Annotated[
            bool,
            typer.Option(
                "--models-only",
                help="Serve inference only (KServe V1/V2, /metrics): no API, webhooks, schedules or drift "
                "checks, nothing recorded. What a KServe predictor container runs.",
            ),
        ] = False,
    ) -> None:
        """Run the platform: KServe V1/V2 inference, the API (/api/v1), webhooks (/hooks) and schedules.

        Endpoints: GET /v1/models, POST /v1/models/NAME:predict, GET /v2/health/ready, GET /metrics,
        POST /api/v1/runs, GET /api/v1/runs, GET /api/v1/models, GET /api/v1/openapi.json,
        POST /hooks/github, POST /hooks/alertmanager. SIGTERM or Ctrl-C stops it gracefully.

        At start-up it says which schedules and drift checks run and which receivers are open without a
        token, and records where it listens in <home>/serve.json: `retrain trigger`, `deploy`, `verify`
        and `rollback` find it there when no --serving-url is given.
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
            if models_only:
                configured = cfg.base_dir / server.registry if server.registry is not None else None
                _serve_models_only(server, registry or configured, access_log)
                return
            from retrain.app.serve_loop import serve_forever
            from retrain.triggers.compose import startup_description

            service, asgi = build_service(cfg, registry=registry, home=home, sandbox=sandbox, on_note=_say)
            try:
                for line in describe_lines(startup_description(service)):
                    _say(line)
                serve_forever(
                    service,
                    asgi,
                    host=server.host,
                    port=server.port,
                    access_log=access_log,
                    log_level=server.log_level,
                    grace_s=server.shutdown_grace_s,
                    serving_url_configured=server.serving_url is not None,
                    on_listening=_listening,
                    on_stopping=_say,
                )
            finally:
                service.close()
