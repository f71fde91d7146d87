"""`retrain serve`: the inference server for every model with a `serving` version in a registry."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from retrain.cli.exits import exits


def register(app: typer.Typer) -> None:
    """Add the `serve` command to `app`."""

    @app.command("serve")
    def serve(
        registry: Annotated[
            Path | None,
            typer.Option(
                "--registry",
                help="Registry root. Default: $RETRAIN_REGISTRY, else <$RETRAIN_HOME or "
                "$XDG_DATA_HOME/retrain or ~/.local/share/retrain>/registry.",
                show_default=False,
            ),
        ] = None,
        host: Annotated[
            str, typer.Option("--host", help="Address to listen on (0.0.0.0 exposes it to the network).")
        ] = "127.0.0.1",
        port: Annotated[int, typer.Option("--port", help="TCP port.")] = 8080,
        poll: Annotated[
            float,
            typer.Option("--poll-interval", help="Seconds between checks of the registry's serving aliases."),
        ] = 0.2,
        max_body_mb: Annotated[
            float, typer.Option("--max-body-mb", help="Largest request body accepted (413 beyond).")
        ] = 16.0,
        log_level: Annotated[
            str, typer.Option("--log-level", help="debug, info, warning or error.")
        ] = "info",
        access_log: Annotated[bool, typer.Option("--access-log", help="Log every request.")] = False,
    ) -> None:
        """Serve models over KServe V1 and Open Inference Protocol V2; follow promotions and rollbacks.

        Endpoints: GET /v1/models, POST /v1/models/NAME:predict, GET /v2/health/ready,
        GET /v2/models/NAME, POST /v2/models/NAME/infer, POST /v2/repository/models/NAME/load, GET /metrics.
        """
        from retrain.registry import default_root
        from retrain.serving.runner import serve as run

        with exits():
            run(
                registry if registry is not None else default_root(),
                host=host,
                port=port,
                poll_interval_s=poll if poll > 0 else None,
                max_body_bytes=int(max_body_mb * 1024 * 1024),
                log_level=log_level.lower(),
                access_log=access_log,
            )
