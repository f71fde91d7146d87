"""`retrain schedules list` (over `retrain.triggers.schedule_list`) reads the state that `retrain serve`
keeps, in the home the service uses: `--home`, else the configuration's `server.home`, else $RETRAIN_HOME."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import typer
from typer.testing import CliRunner

from retrain.cli import schedules as schedules_cli
from retrain.triggers.schedule_list import ScheduleListRequest, list_schedules
from retrain.triggers.schedule_state import JsonStateFile, StateJSON, default_state_path

NOW = datetime(2026, 3, 4, 12, 0, tzinfo=UTC)  # a Wednesday


def fired(home: Path, run: str) -> None:
    state: StateJSON = {
        "schema": 1,
        "schedules": {
            "nightly": {
                "cron": "30 1 * * * (Europe/Paris)",
                "last_scheduled": "2026-03-04T00:30:00+00:00",
                "last_run": run,
                "history": [
                    {
                        "scheduled_for": "2026-03-04T00:30:00+00:00",
                        "at": "2026-03-04T00:30:01+00:00",
                        "outcome": "started",
                        "run": run,
                        "reason": "",
                    }
                ],
            }
        },
    }
    JsonStateFile(default_state_path(home)).save(state)


def test_the_state_comes_from_the_services_home_and_fire_times_from_each_zone(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "server: {home: service-home}\n"
        "schedules:\n"
        "  - {name: nightly, model: predictive-analytics, cron: '30 1 * * *', time_zone: Europe/Paris}\n"
    )
    fired(tmp_path / "service-home", "nightly-run-1")
    fired(tmp_path / "elsewhere", "elsewhere-run")

    listed = list_schedules(ScheduleListRequest(config=config, count=2, now=NOW), env={})
    assert listed.state == default_state_path(tmp_path / "service-home")
    (nightly,) = listed.schedules
    assert [t.isoformat() for t in nightly.next] == ["2026-03-05T01:30:00+01:00", "2026-03-06T01:30:00+01:00"]
    assert nightly.last is not None and nightly.last["run"] == "nightly-run-1"
    assert (nightly.pipeline, nightly.policy, nightly.suspend) == (
        "model-training-pipeline-gpu",
        "Forbid",
        False,
    )

    flag = list_schedules(ScheduleListRequest(config=config, home=tmp_path / "elsewhere", now=NOW), env={})
    assert flag.schedules[0].last is not None and flag.schedules[0].last["run"] == "elsewhere-run"

    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only `schedules`."""

    schedules_cli.register(app)
    env = {"RETRAIN_HOME": str(tmp_path / "elsewhere")}
    result = CliRunner().invoke(app, ["schedules", "list", "--config", str(config), "-o", "json"], env=env)
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert (
        row["last"]["run"] == "nightly-run-1"
    )  # server.home of the file wins over $RETRAIN_HOME, as in serve
    assert row["next"][0].endswith(("CET", "CEST"))
    assert row["next_utc"][0].endswith("+00:00")
    text = CliRunner().invoke(app, ["schedules", "list", "--config", str(config)], env=env)
    assert "started nightly-run-1" in text.stdout
