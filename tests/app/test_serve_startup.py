"""`retrain serve` says at start-up which schedules and drift checks it runs and which receivers are open
without a token, and the receivers then behave exactly as it said (a real process on 127.0.0.1)."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from fixtures.serve_process import Served, retrain_serve
from fixtures.service_helpers import AM_TOKEN, ANOMALY, SECRET, TOKEN, alert, alert_payload
from retrain.app.endpoints import Endpoint

OPEN_WARNING = "WARNING: {} is OPEN without a token"
ALERTS = "POST /hooks/alertmanager"
LOAD = "POST /v2/repository/models/NAME/load"


def url_of(served: Served) -> str:
    assert isinstance(served.found.endpoint, Endpoint)
    return served.found.endpoint.url


def posts(url: str, headers: dict[str, str] | None = None) -> dict[str, int]:
    """The status of each receiver for a request without (or with `headers`) credentials."""
    resolved = alert_payload(alert(ANOMALY, status="resolved"), status="resolved")
    answers = {
        ALERTS: httpx.post(f"{url}/hooks/alertmanager", json=resolved, headers=headers, timeout=10),
        "POST /hooks/github": httpx.post(
            f"{url}/hooks/github",
            json={"zen": "hi"},
            headers={"X-GitHub-Event": "ping", "X-GitHub-Delivery": "d-1", **(headers or {})},
            timeout=10,
        ),
        "POST /api/v1/runs": httpx.post(
            f"{url}/api/v1/runs", json={"model": ANOMALY}, headers=headers, timeout=10
        ),
        LOAD: httpx.post(f"{url}/v2/repository/models/{ANOMALY}/load", headers=headers, timeout=10),
    }
    return {name: answer.status_code for name, answer in answers.items()}


def test_without_config_or_tokens_it_names_the_schedules_the_drift_checks_and_the_open_receivers(
    tmp_path: Path,
) -> None:
    with retrain_serve(tmp_path) as served:
        statuses = posts(url_of(served))
        out = served.output()
    lines = out.splitlines()
    assert "retrain serve: configuration (none: built-in defaults)" in lines
    assert "schedules: 2" in lines
    weekly = next(line for line in lines if line.startswith("  anomaly-detector-weekly: "))
    assert "anomaly-detector (model-training-pipeline) cron '0 2 * * 0' UTC, next " in weekly
    found = re.search(r"next (\d{4}-\d\d-\d\d \d\d:\d\d) UTC$", weekly)
    assert found is not None, weekly
    fire = datetime.strptime(found.group(1), "%Y-%m-%d %H:%M").replace(tzinfo=UTC)
    assert (fire.weekday(), fire.hour, fire.minute) == (6, 2, 0)  # Sunday 02:00, within the coming week
    assert timedelta(0) < fire - datetime.now(UTC) <= timedelta(days=7)
    assert any(line.startswith("  predictive-analytics-weekly: predictive-analytics ") for line in lines)
    assert any(line.startswith("drift checks: every 1h (cron '0 * * * *' UTC), next ") for line in lines)

    warnings = [line for line in lines if line.startswith("WARNING:")]
    assert [w.split(" is OPEN")[0] for w in warnings] == [f"WARNING: {LOAD}", f"WARNING: {ALERTS}"]
    assert "Set RETRAIN_ALERTMANAGER_TOKEN or hooks.alertmanager.token." in warnings[1]
    listening = next(i for i, line in enumerate(lines) if line.startswith("retrain serve: listening on "))
    assert max(lines.index(w) for w in warnings) < listening  # said before it accepts anything

    # What it said is what happens: the open receivers answer anyone, the closed ones refuse (403).
    assert statuses[ALERTS] == 200
    assert statuses[LOAD] not in (401, 403)
    assert statuses["POST /hooks/github"] == 403
    assert statuses["POST /api/v1/runs"] == 403


def test_with_every_token_set_nothing_is_open_and_no_secret_is_printed(tmp_path: Path) -> None:
    env = {
        "RETRAIN_API_TOKEN": TOKEN,
        "RETRAIN_GITHUB_WEBHOOK_SECRET": SECRET,
        "RETRAIN_ALERTMANAGER_TOKEN": AM_TOKEN,
    }
    with retrain_serve(tmp_path, env) as served:
        statuses = posts(url_of(served))
        wrong = posts(url_of(served), {"Authorization": "Bearer not-the-token"})
        out = served.output()
    assert "WARNING" not in out
    for line in (
        f"  {ALERTS}: Alertmanager bearer token set",
        f"  {LOAD}: API token set",
        "  POST /hooks/github: GitHub HMAC secret set",
        "  POST /api/v1/... (start and cancel runs): API token set",
    ):
        assert line in out.splitlines()
    for secret in (TOKEN, SECRET, AM_TOKEN):
        assert secret not in out
    assert statuses == {ALERTS: 401, "POST /hooks/github": 401, "POST /api/v1/runs": 401, LOAD: 401}
    assert wrong[ALERTS] in (401, 403) and wrong[LOAD] in (401, 403)


def test_a_config_without_schedules_or_drift_checks_says_so(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "schedules:\n"
        "  - {name: nightly, model: predictive-analytics, cron: '30 1 * * *', time_zone: Europe/Paris,"
        " suspend: true}\n"
        "drift: {enabled: false}\n"
    )
    with retrain_serve(tmp_path, args=("--config", str(config))) as served:
        out = served.output()
    lines = out.splitlines()
    assert f"retrain serve: configuration {config}" in lines
    assert "schedules: 1" in lines
    nightly = "  nightly: predictive-analytics (model-training-pipeline-gpu) cron '30 1 * * *' Europe/Paris"
    assert f"{nightly}, suspended" in lines
    assert "drift checks: off" in lines


def test_a_server_bound_beyond_loopback_warns_about_the_network_and_is_recorded_at_a_reachable_url() -> None:
    from retrain.app.endpoints import client_url
    from retrain.app.serve import Secrets, describe
    from retrain.cli.serve import describe_lines

    def lines(host: str, secrets: Secrets) -> list[str]:
        d = describe(
            config=None, host=host, registry=Path("/r"), home=Path("/h"), schedules=(), drift=None,
            secrets=secrets, now=datetime(2026, 1, 1, tzinfo=UTC),
        )  # fmt: skip
        return [line for line in describe_lines(d) if line.startswith("WARNING")]

    none = Secrets(api_token=False, github_secret=False, alertmanager_token=False)
    assert all("anyone on the network may use it" in w for w in lines("0.0.0.0", none))
    assert all("anyone on this machine may use it" in w for w in lines("127.0.0.1", none))
    assert len(lines("10.1.2.3", none)) == 2
    assert lines("0.0.0.0", Secrets(api_token=True, github_secret=False, alertmanager_token=True)) == []
    assert "schedules: none" in describe_lines(
        describe(
            config=None, host="::1", registry=Path("/r"), home=Path("/h"), schedules=(), drift=None,
            secrets=none, now=datetime(2026, 1, 1, tzinfo=UTC),
        )
    )  # fmt: skip
    assert client_url("0.0.0.0", 8080) == "http://127.0.0.1:8080"
    assert client_url("::", 8080) == "http://[::1]:8080"
    assert client_url("fd00::5", 81) == "http://[fd00::5]:81"
    assert client_url("10.1.2.3", 81) == "http://10.1.2.3:81"
