"""`retrain schedules list`: the training schedules, their next fire times and what the last fire did.

A thin adapter over `retrain.triggers.schedule_list`.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

import typer

from retrain.cli.common import Output
from retrain.cli.exits import exits

app = typer.Typer(
    rich_markup_mode=None, no_args_is_help=True, help="Training schedules (cron) of `retrain serve`."
)


def _local(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M %Z")  # already in the schedule's own zone


@app.command("list")
def list_command(
    config: Annotated[
        Path | None,
        typer.Option(
            "--config", envvar="RETRAIN_CONFIG", help="retrain.yaml (default: the built-in schedules)."
        ),
    ] = None,
    count: Annotated[int, typer.Option("--count", "-n", min=1, max=20, help="Next fire times to show.")] = 1,
    home: Annotated[
        Path | None,
        typer.Option(
            "--home",
            help="Data directory (scheduler state). Default: server.home of --config, else $RETRAIN_HOME.",
        ),
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """List the schedules with their next fire times, in each schedule's own time zone."""
    with exits():
        from retrain.triggers.schedule_list import ScheduleListRequest, list_schedules

        listed = list_schedules(ScheduleListRequest(config=config, home=home, count=count))
    rows: list[dict[str, Any]] = [
        {
            "name": s.name,
            "model": s.model,
            "pipeline": s.pipeline,
            "training_hours": s.training_hours,
            "cron": s.cron,
            "time_zone": s.time_zone,
            "concurrency_policy": s.policy,
            "starting_deadline_seconds": s.starting_deadline_s,
            "suspend": s.suspend,
            "next": [_local(t) for t in s.next],
            "next_utc": [t.astimezone(UTC).isoformat() for t in s.next],
            "last": s.last,
        }
        for s in listed.schedules
    ]
    if output is Output.json:
        print(json.dumps(rows, indent=2))
        return
    from retrain.cli.common import print_table

    if not rows:
        print("no schedules (the config's `schedules:` section is empty)")
        return
    print_table(
        ("NAME", "MODEL", "PIPELINE", "HOURS", "CRON", "TIME ZONE", "POLICY", "NEXT", "LAST"),
        [
            (
                r["name"],
                r["model"],
                r["pipeline"],
                r["training_hours"],
                r["cron"],
                r["time_zone"],
                r["concurrency_policy"],
                "suspended" if r["suspend"] else ", ".join(r["next"]),
                "-" if r["last"] is None else f"{r['last']['outcome']} {r['last']['run'] or ''}".strip(),
            )
            for r in rows
        ],
    )


def register(parent: typer.Typer) -> None:
    parent.add_typer(app, name="schedules", help="Training schedules (cron): list next fire times.")
