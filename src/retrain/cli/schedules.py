"""`retrain schedules list`: the training schedules, their next fire times and what the last fire did."""

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


def _local(moment: datetime | None, zone: Any) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M %Z")


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
        Path | None, typer.Option("--home", envvar="RETRAIN_HOME", help="Data directory (scheduler state).")
    ] = None,
    output: Annotated[Output, typer.Option("--output", "-o", help="text or json.")] = Output.text,
) -> None:
    """List the schedules with their next fire times, in each schedule's own time zone."""
    with exits():
        from retrain.runs.home import default_home
        from retrain.triggers.schedule_state import JsonStateFile, default_state_path
        from retrain.triggers.schedules_config import load_schedules

        schedules = load_schedules(config)
        state = JsonStateFile(default_state_path(home or default_home())).load()["schedules"]
        now = datetime.now(UTC)
        rows: list[dict[str, Any]] = []
        for schedule in schedules:
            upcoming: list[datetime] = []
            moment = now
            for _ in range(0 if schedule.suspend else count):
                moment = schedule.cron.next_after(moment)
                upcoming.append(moment)
            entry = state.get(schedule.name)
            last = entry["history"][-1] if entry and entry["history"] else None
            rows.append(
                {
                    "name": schedule.name,
                    "model": schedule.request.model,
                    "pipeline": schedule.request.pipeline,
                    "training_hours": schedule.request.training_hours,
                    "cron": schedule.cron.expression,
                    "time_zone": schedule.cron.time_zone,
                    "concurrency_policy": schedule.policy,
                    "starting_deadline_seconds": schedule.starting_deadline_s,
                    "suspend": schedule.suspend,
                    "next": [_local(t, schedule.cron.zone) for t in upcoming],
                    "next_utc": [t.isoformat() for t in upcoming],
                    "last": last,
                }
            )
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
