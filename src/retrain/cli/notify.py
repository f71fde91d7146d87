"""`retrain notify`: post the run-completion CloudEvent of a pipeline run (the catalog's `notify-run` Task).

The event is the local service's (`retrain.triggers.notify`: same type, fields and retries), so a receiver
cannot tell a cluster run from a local one. Exit status: 0 every URL took the event, 1 one did not (after
the retries), 2 bad input.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Annotated

import typer

from retrain.cli.exits import EXIT_FAILED, exits


def register(app: typer.Typer) -> None:
    app.command("notify", help="Post a run's completion CloudEvent to URLs (a pipeline's finally task).")(
        notify
    )


def notify(
    run: Annotated[str, typer.Option("--run", help="The PipelineRun's name.")],
    status: Annotated[
        str, typer.Option("--status", help="$(tasks.status): Succeeded, Completed, Failed, None.")
    ],
    urls: Annotated[str, typer.Option("--urls", help="Space- or comma-separated http(s) URLs.")],
    pipeline: Annotated[str, typer.Option("--pipeline", help="The Pipeline's name.")] = "",
    model: Annotated[str, typer.Option("--model", help="The model the run trained or checked.")] = "",
    registry: Annotated[
        Path | None, typer.Option("--registry", help="Registry root, to name the version the run registered.")
    ] = None,
    source: Annotated[str, typer.Option("--source", help="The CloudEvent's source.")] = "/retrain/cluster",
) -> None:
    from retrain.app.notify import RunEndRequest, run_end
    from retrain.triggers.notify import Notifier, RunCompletion
    from retrain.triggers.notify_config import NotifyTarget

    with exits():
        end = run_end(RunEndRequest(run, status, urls, pipeline, model, registry))
    if not end.urls:
        print("no notify URLs: nothing posted")
        return
    completion = RunCompletion(
        run=end.run, kind=end.kind, model=end.model, version=end.version, reason=end.reason,
        pipeline=end.pipeline, trigger="cluster",
    )  # fmt: skip
    notifier = Notifier([NotifyTarget(url) for url in end.urls], source=source)

    async def _send() -> None:
        notifier.notify(completion)
        await notifier.drain()

    asyncio.run(_send())
    for d in notifier.deliveries:
        said = f"HTTP {d.status}" if d.status is not None else "no answer"
        line = f"{d.outcome}: {end.kind} event for {end.run} to {d.url} ({said}, {d.attempts} attempt(s))"
        print(f"{line} {d.error}".rstrip())
    if any(d.outcome != "delivered" for d in notifier.deliveries):
        raise typer.Exit(EXIT_FAILED)
