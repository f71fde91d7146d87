"""The Models, Drift and Triggers pages in a real browser (W1's harness: Debian's chromium via Playwright
against a real `retrain serve`): a rejected version shows its reasons, Promote and Rollback change what the
inference server answers with (V2 metadata `versions`), and actions without the token are refused.

Screenshots go to docs/dashboard/*.png when RETRAIN_DASHBOARD_SCREENSHOTS=1.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from fixtures.insight_reports import drift_report, gate_report
from fixtures.serving_helpers import anomaly_model, register, save
from retrain.app import reports
from retrain.registry import Registry
from web.test_dashboard_browser import TOKEN, Served, _shot, _wait, browser, page, served

pytestmark = [pytest.mark.slow, pytest.mark.timeout(300)]

# Playwright's names: imported only where the harness found chromium (it skips this module otherwise).
from playwright.sync_api import Page, expect  # noqa: E402

__all__ = ["browser", "page", "served"]  # W1's fixtures, used here by name

MODEL = "anomaly-detector"
REJECTED = "quality.f1: f1 0.2 is below the minimum 0.5"


@pytest.fixture
def seeded(tmp_path: Path, request: pytest.FixtureRequest) -> Served:
    """Three versions before `retrain serve` starts: 1 serves, 2 was blessed, 3 was rejected; two drift
    checks kept."""
    reg = Registry(tmp_path / "reg")  # the registry W1's `served` fixture serves
    for seed in range(3):
        register(reg, MODEL, save(anomaly_model(seed), tmp_path / "work" / f"m{seed}.pkl"))
    reports.save_gate_report(reg.root, MODEL, 1, gate_report(1, "blessed", 0.7))
    reports.save_gate_report(reg.root, MODEL, 2, gate_report(2, "blessed", 0.8))
    reports.save_gate_report(reg.root, MODEL, 3, gate_report(3, "rejected", 0.2, reasons=[REJECTED]))
    reg.reject(MODEL, 3, reasons=[REJECTED])
    reg.promote(MODEL, 1)
    start = datetime.now(UTC) - timedelta(hours=3)
    for i, score in enumerate([0.05, 0.1, 0.45]):
        when = start + timedelta(hours=i)
        reports.save_drift_report(reg.root, MODEL, when, drift_report(when, score))
    found: Served = request.getfixturevalue("served")
    return found


def _serving(url: str) -> list[str] | None:
    """What the inference server of `retrain serve` says it answers with (V2 model metadata)."""
    answer = httpx.get(f"{url}/v2/models/{MODEL}", timeout=10)
    versions: list[str] | None = answer.json().get("versions") if answer.status_code == 200 else None
    return versions


def _wait_serving(url: str, version: str) -> None:
    _wait(lambda: _serving(url) == [version], f"the server to answer with version {version}", timeout_s=90)


def _login(page: Page, url: str) -> None:
    page.goto(url + "/login")
    page.locator("#token").fill(TOKEN)
    page.locator("#login-form button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("Token kept for this tab")


def test_reasons_promote_and_rollback_change_what_serves(seeded: Served, page: Page) -> None:
    url = seeded.url
    _wait_serving(url, "1")
    page.goto(url + "/models")
    expect(page.locator("table.models")).to_contain_text(MODEL)
    _shot(page, "models")

    page.locator("table.models a", has_text=MODEL).click()
    expect(page).to_have_url(f"{url}/models/{MODEL}")
    rows = page.locator("table.versions tbody tr")
    expect(rows.nth(0)).to_contain_text("rejected")
    expect(rows.nth(0)).to_contain_text(REJECTED)  # the rejected version says why
    expect(page.locator("#v3 table.checks")).to_contain_text("failed")
    expect(page.locator("svg.chart").first).to_contain_text("min 0.5")  # f1 with the gate's bound
    _shot(page, "model")
    _shot(page, "model-narrow", width=420)

    # Without the token the API refuses, and nothing changes.
    page.locator('button[data-model-action=promote][data-version="2"]').click()
    expect(page.locator("#flash")).to_contain_text("promote refused: 401")
    assert Registry(seeded.home.parent / "reg").aliases(MODEL)["serving"] == 1
    assert _serving(url) == ["1"]

    _login(page, url)
    page.goto(f"{url}/models/{MODEL}")
    page.locator('button[data-model-action=promote][data-version="2"]').click()
    expect(page.locator("#flash")).to_contain_text("promote: promoted")
    _wait_serving(url, "2")
    # The page reloads with the moved aliases: 2 serves, 1 is previous, and Rollback offers 1.
    expect(page.locator("button[data-model-action=rollback]")).to_contain_text("Roll back to version 1")
    page.locator("button[data-model-action=rollback]").click()
    expect(page.locator("#flash")).to_contain_text("rollback: rolled_back")
    _wait_serving(url, "1")


def test_drift_and_triggers_pages_and_a_manual_run_without_the_token(seeded: Served, page: Page) -> None:
    url = seeded.url
    page.goto(url + "/drift")
    section = page.locator(f"#drift-{MODEL}")
    expect(section.locator("svg.chart")).to_have_count(2)  # the score over time, the PSI bars
    expect(section).to_contain_text("alert at 0.3")
    expect(section).to_contain_text("drifted")
    _shot(page, "drift")

    page.goto(url + "/triggers")
    expect(page.locator("table.schedules")).to_contain_text(MODEL)  # the weekly default schedules
    expect(page.locator("table.schedules")).to_contain_text("Forbid")
    _shot(page, "triggers")
    page.locator("#run-model").select_option(MODEL)
    page.locator("#run-form button[type=submit]").click()
    expect(page.locator("#flash")).to_contain_text("start run refused: 401")
    assert httpx.get(url + "/api/v1/runs", timeout=10).json()["runs"] == []


def test_empty_pages_say_what_to_do_first_and_an_unknown_model_is_404(served: Served, page: Page) -> None:
    url = served.url
    page.goto(url + "/models")
    expect(page.locator(".empty")).to_contain_text("No models yet")
    _shot(page, "models-empty")
    page.goto(url + "/drift")
    expect(page.locator(".empty")).to_contain_text("No models yet")
    answer = page.goto(url + "/models/no-such-model")
    assert answer is not None and answer.status == 404
    expect(page.locator(".error-page")).to_contain_text("no-such-model")
