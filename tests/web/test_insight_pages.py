"""The Models, Drift and Triggers pages as HTML (served by the API app): empty states, the data they show,
the 404 page for an unknown model. The browser tests (test_models_pages.py) drive the buttons."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

from fixtures.insight_reports import drift_report, gate_report
from fixtures.registry_helpers import make_artefact, meta
from fixtures.service_helpers import ANOMALY, alert, alert_payload, platform
from retrain.app import reports
from retrain.registry import Registry
from retrain.triggers.wiring import service_scheduler

MODEL = "anomaly-detector"


def test_every_page_says_what_to_do_first_when_there_is_nothing(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            models = await p.client.get("/models")
            assert models.status_code == 200 and "No models yet" in models.text
            assert "retrain trigger anomaly-detector" in models.text
            drift = await p.client.get("/drift")
            assert drift.status_code == 200 and "No models yet" in drift.text
            triggers = await p.client.get("/triggers")
            assert triggers.status_code == 200
            assert "No deliveries yet" in triggers.text
            assert 'id="run-form"' in triggers.text and f'<option value="{ANOMALY}">' in triggers.text
            unknown = await p.client.get("/models/nope")
            assert unknown.status_code == 404 and "Back to the runs" in unknown.text
            assert "Traceback" not in unknown.text

    asyncio.run(go())


def test_the_pages_show_verdicts_reasons_charts_drift_and_webhook_answers(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            reg = Registry(p.registry)
            for seed in range(2):
                reg.register(MODEL, make_artefact(tmp_path / "work", seed), meta())
            reports.save_gate_report(reg.root, MODEL, 1, gate_report(1, "blessed", 0.8))
            reasons = ["quality.f1: f1 0.2 is below 0.5 <b>"]
            reports.save_gate_report(reg.root, MODEL, 2, gate_report(2, "rejected", 0.2, reasons=reasons))
            reg.promote(MODEL, 1)
            start = datetime(2026, 1, 1, tzinfo=UTC)
            for i, score in enumerate([0.1, 0.4]):
                when = start + timedelta(hours=i)
                reports.save_drift_report(reg.root, MODEL, when, drift_report(when, score))
            answered = await p.alert(alert_payload(alert(ANOMALY)))
            assert answered.status_code == 202
            await p.settle()

            listing = await p.client.get("/models")
            assert 'href="/models/anomaly-detector"' in listing.text and "verdict-rejected" in listing.text
            page = await p.client.get(f"/models/{MODEL}")
            assert page.status_code == 200, page.text
            text = page.text
            assert "quality.f1: f1 0.2 is below 0.5 &lt;b&gt;" in text  # the reason, escaped
            assert text.count('class="chart"') == 1 and "min 0.5" in text  # f1 with its threshold
            assert 'data-model-action="promote" data-model="anomaly-detector" data-version="2"' in text
            assert 'data-version="1"' not in text  # version 1 serves: no promote button
            assert "no previous version to roll back to" in text

            drift = await p.client.get("/drift")
            assert "PSI per feature" in drift.text and "alert at 0.3" in drift.text
            assert "Runs started by drift alerts" in drift.text and answered.json()["run"] in drift.text
            triggers = await p.client.get("/triggers")
            assert "ModelDrift" in triggers.text and 'class="http http-ok">202<' in triggers.text
            assert "No schedules run" in triggers.text  # this service was given no scheduler

            # The scheduler `retrain serve` attaches (not started here: the page only reads it).
            scheduler = service_scheduler(p.service.config, p.service.launch, "http://x", store=p.store)
            assert scheduler is not None
            p.service.attach(scheduler=scheduler)
            triggers = await p.client.get("/triggers")
            names = [s.name for s in scheduler.schedules]
            assert names and all(f'<td data-label="Name">{n}</td>' in triggers.text for n in names)
            assert "never fired" in triggers.text and "Forbid" in triggers.text

    asyncio.run(go())
