"""The `schedules:` section of retrain.yaml and `retrain schedules list`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from retrain.cli import schedules as schedules_cli
from retrain.cli.exits import EXIT_INVALID
from retrain.errors import InvalidInput, InvalidInputs
from retrain.triggers.schedules_config import SchedulesSection, load_schedules, parse_schedules, to_schedules


def test_defaults_reproduce_the_platforms_weekly_jobs() -> None:
    ad, pa = load_schedules(None)
    assert (ad.name, ad.cron.expression, ad.cron.time_zone, ad.policy) == (
        "anomaly-detector-weekly", "0 2 * * 0", "UTC", "Forbid",
    )  # fmt: skip
    assert (ad.request.model, ad.request.training_hours, ad.request.pipeline) == (
        "anomaly-detector", "168", "model-training-pipeline",
    )  # fmt: skip
    assert (pa.cron.expression, pa.request.training_hours, pa.request.pipeline) == (
        "0 3 * * 0", "720", "model-training-pipeline-gpu",
    )  # fmt: skip
    assert ad.starting_deadline_s == 6 * 3600 and not ad.suspend
    assert parse_schedules([]) == []  # an empty section: no schedules at all


def test_a_custom_section(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "schedules:\n"
        "  - name: nightly-anomaly\n"
        "    model: anomaly-detector\n"
        "    cron: '@daily'\n"
        "    time_zone: Europe/Berlin\n"
        "    training_hours: 24\n"
        "    data_source: synthetic\n"
        "    concurrency_policy: Replace\n"
        "    starting_deadline_seconds: null\n"
    )
    (schedule,) = load_schedules(config)
    assert schedule.cron.time_zone == "Europe/Berlin" and schedule.cron.fields == "0 0 * * *"
    assert schedule.request.training_hours == "24" and schedule.request.data_source == "synthetic"
    assert schedule.policy == "Replace" and schedule.starting_deadline_s is None
    overridden = to_schedules(SchedulesSection(), request_overrides={"serving_url": "http://127.0.0.1:9000"})
    assert {s.request.serving_url for s in overridden} == {"http://127.0.0.1:9000"}


@pytest.mark.parametrize(
    ("body", "where", "message"),
    [
        ("  - {name: a, model: anomaly-detector, cron: '0 2 * *'}\n", ":2: schedules[0].cron",
         "has 4 fields"),
        ("  - name: a\n    model: anomaly-detector\n    cron: '0 2 * * 0'\n    time_zone: Europe/Berln\n",
         ":5: schedules[0].time_zone", "did you mean \"Europe/Berlin\""),
        ("  - name: a\n    model: anomaly-detectr\n    cron: '0 2 * * 0'\n",
         ":3: schedules[0].model", "did you mean \"anomaly-detector\""),
        ("  - name: a\n    model: anomaly-detector\n    cron: '0 2 * * 0'\n    concurency_policy: Allow\n",
         ":5: schedules.0.concurency_policy", "Extra inputs are not permitted"),
        ("  - name: a\n    model: anomaly-detector\n    cron: '0 2 * * 0'\n    concurrency_policy: Queue\n",
         ":5: schedules.0.concurrency_policy", "'Allow', 'Forbid' or 'Replace'"),
        ("  - name: Bad_Name\n    model: anomaly-detector\n    cron: '0 2 * * 0'\n", ":2: schedules.0.name",
         "pattern"),
    ],
)  # fmt: skip
def test_mistakes_name_the_file_line_and_field(tmp_path: Path, body: str, where: str, message: str) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text("schedules:\n" + body)
    with pytest.raises(InvalidInput) as err:
        load_schedules(config)
    assert f"{config}{where}" in str(err.value)
    assert message in str(err.value)


def test_duplicate_names_are_refused(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "schedules:\n  - {name: a, model: anomaly-detector, cron: '@weekly'}\n"
        "  - {name: a, model: predictive-analytics, cron: '@weekly'}\n"
    )
    with pytest.raises((InvalidInput, InvalidInputs), match="names must be unique"):
        load_schedules(config)


def _app() -> typer.Typer:
    app = typer.Typer()

    @app.callback()
    def _root() -> None:
        """Only `schedules`, as the lead wires it into `retrain`."""

    schedules_cli.register(app)
    return app


def test_schedules_list_shows_next_fire_times_in_each_zone(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "schedules:\n"
        "  - {name: berlin, model: anomaly-detector, cron: '0 2 * * 0', time_zone: Europe/Berlin}\n"
        "  - {name: paused, model: predictive-analytics, cron: '@weekly', suspend: true}\n"
    )
    env = {"RETRAIN_HOME": str(tmp_path / "home")}
    result = CliRunner().invoke(_app(), ["schedules", "list", "--config", str(config), "-n", "2"], env=env)
    assert result.exit_code == 0, result.output
    assert "berlin" in result.stdout and "Europe/Berlin" in result.stdout and "suspended" in result.stdout
    assert " 02:00 CE" in result.stdout  # 02:00 local, CET or CEST
    as_json = CliRunner().invoke(
        _app(), ["schedules", "list", "--config", str(config), "-o", "json", "-n", "2"], env=env
    )
    rows = json.loads(as_json.stdout)
    assert (
        rows[0]["name"] == "berlin"
        and len(rows[0]["next"]) == 2
        and rows[0]["next"][0].endswith(("CET", "CEST"))
    )
    assert rows[1]["next"] == [] and rows[1]["last"] is None
    assert rows[0]["concurrency_policy"] == "Forbid"

    defaults = CliRunner().invoke(_app(), ["schedules", "list"], env=env)
    assert "anomaly-detector-weekly" in defaults.stdout and "0 3 * * 0" in defaults.stdout

    config.write_text("schedules:\n  - {name: x, model: anomaly-detector, cron: '@fortnightly'}\n")
    bad = CliRunner().invoke(_app(), ["schedules", "list", "--config", str(config)], env=env)
    assert bad.exit_code == EXIT_INVALID and "unknown cron macro" in bad.stderr
