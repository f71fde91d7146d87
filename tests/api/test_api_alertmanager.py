"""POST /hooks/alertmanager: firing drift alerts retrain their model, once per episode."""

from __future__ import annotations

import asyncio
from pathlib import Path

from fixtures.service_helpers import AM_TOKEN, ANOMALY, FORECAST, alert, alert_payload, platform


def test_a_firing_drift_alert_retrains_its_model_once_per_episode(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            answer = await p.alert(alert_payload(alert(ANOMALY)))
            assert answer.status_code == 202, answer.text
            body = answer.json()
            assert body["status"] == "started"
            assert body["run"].startswith(f"{ANOMALY}-drift-alert-")
            await p.settle()
            record = p.store.get_run(body["run"])
            assert record.labels["retrain.dev/trigger"] == "drift-alert"
            assert record.labels["retrain.dev/alert"] == "ModelDrift"
            assert record.state == "Succeeded"

            # Alertmanager's repeat_interval re-sends the same alert: same fingerprint and startsAt.
            repeat = await p.alert(alert_payload(alert(ANOMALY)))
            assert repeat.status_code == 200
            assert "already handled" in repeat.json()["reason"]
            # A new episode of drift (a new startsAt) retrains again.
            later = await p.alert(alert_payload(alert(ANOMALY, starts="2026-01-02T00:00:00Z")))
            assert later.status_code == 202, later.text
            assert len(p.runs(model=ANOMALY)) == 2

    asyncio.run(go())


def test_resolved_other_names_and_unknown_models_are_ignored(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            resolved = await p.alert(alert_payload(alert(ANOMALY, status="resolved"), status="resolved"))
            other = await p.alert(alert_payload(alert(ANOMALY, name="HighCPU")))
            unknown = await p.alert(alert_payload(alert("no-such-model")))
            unlabelled = alert(ANOMALY)
            del unlabelled["labels"]["model"]
            no_model = await p.alert(alert_payload(unlabelled))
            empty = await p.alert(alert_payload())
            for answer, words in (
                (resolved, "resolved"),
                (other, "'HighCPU' is not one of ModelDrift"),
                (unknown, "does not train"),
                (no_model, "no 'model' label"),
                (empty, "no alerts"),
            ):
                assert answer.status_code == 200, answer.text
                assert answer.json()["status"] == "ignored"
                assert words in answer.json()["reason"]
            assert p.runs() == []

    asyncio.run(go())


def test_one_payload_with_several_alerts(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            second = {**alert(ANOMALY), "fingerprint": "other"}  # another series of the same model
            answer = await p.alert(
                alert_payload(alert(ANOMALY), second, alert(FORECAST), alert(FORECAST, status="resolved"))
            )
            assert answer.status_code == 202, answer.text
            assert [r["status"] for r in answer.json()["runs"]] == ["started", "started"]
            assert sorted(r.labels["retrain.dev/model"] for r in p.runs()) == [ANOMALY, FORECAST]

    asyncio.run(go())


def test_configured_names_label_and_policy(tmp_path: Path) -> None:
    config = """
hooks:
  alertmanager:
    alertnames: [FeatureDrift]
    model_label: service
    concurrency_policy: Forbid
"""

    async def go() -> None:
        async with platform(tmp_path, config) as p:
            fired = alert(ANOMALY, name="FeatureDrift")
            fired["labels"]["service"] = FORECAST
            p.hold(FORECAST)
            first = await p.alert(alert_payload(fired))
            assert first.status_code == 202, first.text
            assert p.runs()[0].labels["retrain.dev/model"] == FORECAST
            # Forbid (from the configuration, over the pipeline's Queue): refused while one runs.
            refused = await p.alert(alert_payload({**fired, "startsAt": "2026-02-01T00:00:00Z"}))
            assert refused.status_code == 409, refused.text
            assert "Forbid" in refused.json()["reason"]
            p.release(FORECAST)
            await p.settle()
            # The refused episode was not recorded as handled: the next notification retrains.
            retried = await p.alert(alert_payload({**fired, "startsAt": "2026-02-01T00:00:00Z"}))
            assert retried.status_code == 202, retried.text

    asyncio.run(go())


def test_malformed_payloads_and_credentials(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            for payload, words in (
                ({"version": "3", "alerts": []}, "version '3'"),
                ({"alerts": []}, "version None"),
                ({"version": "4"}, "alerts"),
                ({"version": "4", "alerts": [{"status": "firing"}]}, "startsAt"),
                ({"version": "4", "alerts": [{**alert(ANOMALY), "status": "pending"}]}, "firing"),
                ({"version": "4", "alerts": [{**alert(ANOMALY), "labels": {"a": 1}}]}, "labels"),
                ([1, 2], "JSON object"),
            ):
                answer = await p.alert(payload)
                assert answer.status_code == 400, (payload, answer.text)
                assert words in answer.json()["reason"], answer.json()
            no_token = await p.alert(alert_payload(alert(ANOMALY)), token=None)
            wrong = await p.alert(alert_payload(alert(ANOMALY)), token="nope")
            assert no_token.status_code == 401
            assert wrong.status_code == 403
            assert AM_TOKEN not in wrong.text
            assert "nope" not in wrong.text
            assert no_token.headers["www-authenticate"].startswith("Bearer")
            assert p.runs() == []

    asyncio.run(go())


def test_without_a_token_the_receiver_is_open(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, env={}) as p:
            answer = await p.alert(alert_payload(alert(ANOMALY)), token=None)
            assert answer.status_code == 202, answer.text

    asyncio.run(go())
