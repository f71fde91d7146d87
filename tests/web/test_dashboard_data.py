"""The dashboard's view models: models with verdicts and checks, drift history, webhook answers."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.insight_reports import drift_report, gate_report
from fixtures.registry_helpers import make_artefact, meta
from fixtures.service_helpers import ANOMALY, alert, alert_payload, platform, push
from retrain.api.app import hook_answer
from retrain.app import hook_answers, reports
from retrain.app.dashboard_drift import drift_overview, model_drift
from retrain.app.dashboard_models import model_view, models_overview
from retrain.errors import NotFound
from retrain.registry import Registry
from retrain.triggers.launcher import HookResult, Launch

MODEL = "anomaly-detector"


@pytest.fixture
def registry(tmp_path: Path) -> Registry:
    reg = Registry(tmp_path / "registry")
    for seed in range(3):
        reg.register(MODEL, make_artefact(tmp_path / "work", seed), meta(metrics={"f1": 0.9, "note": "x"}))
    return reg


def test_each_version_shows_its_verdict_checks_metrics_and_lineage(registry: Registry) -> None:
    root = registry.root
    reports.save_gate_report(root, MODEL, 1, gate_report(1, "blessed", 0.8))
    reports.save_gate_report(root, MODEL, 3, gate_report(3, "rejected", 0.2, reasons=["quality.f1: too low"]))
    registry.reject(MODEL, 2, reasons=["load: it does not load"])  # gated before reports were kept
    registry.promote(MODEL, 1)

    view = model_view(MODEL, root)
    assert [v.version for v in view.versions] == [3, 2, 1]
    v3, v2, v1 = view.versions
    assert (v3.gate.verdict, v3.gate.source, v3.gate.reasons) == (
        "rejected",
        "gate report",
        ("quality.f1: too low",),
    )
    assert [(c.name, c.outcome) for c in v3.gate.checks] == [("load", "passed"), ("quality.f1", "failed")]
    assert v3.gate.metrics == {"f1": 0.2}  # numbers only
    assert (v2.gate.verdict, v2.gate.source, v2.gate.reasons) == (
        "rejected",
        "audit log",
        ("load: it does not load",),
    )
    assert (v1.gate.verdict, v1.aliases, view.serving) == ("blessed", ("serving",), 1)
    assert v1.training_metrics == {"f1": 0.9}
    assert v1.lineage.run == "run-1" and v1.lineage.training_hours == 24.0
    assert v1.lineage.sha256 == registry.get(MODEL, 1).sha256
    # The thresholds the gate applied (the newest kept report's), not the defaults.
    assert [(t.metric, t.min) for t in view.thresholds] == [("f1", 0.5)]
    assert view.thresholds_origin == "t.yaml: models.anomaly-detector"
    assert view.metric_names == ("f1",)

    (row,) = models_overview(root).models
    assert (row.model, row.versions, row.serving, row.latest, row.latest_verdict) == (
        MODEL,
        3,
        1,
        3,
        "rejected",
    )


def test_unchecked_versions_fall_back_to_the_default_thresholds(registry: Registry) -> None:
    view = model_view(MODEL, registry.root)
    assert {v.gate.verdict for v in view.versions} == {"unchecked"}
    assert "f1" in [t.metric for t in view.thresholds] and view.thresholds_origin == "built-in defaults"


def test_an_unknown_model_is_not_found_and_an_empty_registry_lists_nothing(tmp_path: Path) -> None:
    with pytest.raises(NotFound):
        model_view("nope", tmp_path / "registry")
    assert models_overview(tmp_path / "registry").models == ()
    assert drift_overview(tmp_path / "registry", None).models == ()


def test_a_damaged_gate_report_is_skipped_not_fatal(registry: Registry) -> None:
    path = reports.gate_report_path(registry.root, MODEL, 1)
    path.parent.mkdir(parents=True)
    path.write_text("{not json")
    assert model_view(MODEL, registry.root).versions[-1].gate.verdict == "unchecked"


def test_drift_history_is_kept_in_order_bounded_and_the_latest_check_is_detailed(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(reports, "DRIFT_KEEP", 3)
    start = datetime(2026, 1, 1, tzinfo=UTC)
    for i, score in enumerate([0.1, 0.2, 0.0, 0.5]):
        when = start + timedelta(hours=i)
        reports.save_drift_report(registry.root, MODEL, when, drift_report(when, score))
    found = model_drift(MODEL, registry.root, None)
    assert [p.score for p in found.history] == [0.2, 0.0, 0.5]  # the oldest went, oldest first
    assert found.latest is not None and found.latest.drifted and found.latest.share == 0.3
    assert [f.feature for f in found.latest.features] == ["mem", "cpu"]  # largest PSI first
    assert found.latest.features[0].psi_limit == 0.3


@pytest.mark.parametrize(
    "outcomes", [(), ("started",), ("queued",), ("refused",), ("refused", "queued"), ("ignored",)]
)
def test_the_recorded_status_is_the_one_the_api_answers(outcomes: tuple[str, ...]) -> None:
    result = HookResult(tuple(Launch(o, None, "why") for o in outcomes), "reason")  # type: ignore[arg-type]
    assert hook_answers.answer_status(outcomes) == hook_answer(result)[0]


def test_the_answer_log_stays_bounded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hook_answers, "MAX_BYTES", 2000)
    monkeypatch.setattr(hook_answers, "KEEP", 5)
    for i in range(40):
        hook_answers.record_answer(tmp_path, "github", f"push {i}", status=202, reason="r" * 50)
    assert (tmp_path / hook_answers.FILE).stat().st_size <= 2000 + 400
    newest = hook_answers.recent_answers(tmp_path, limit=3)
    assert [a["event"] for a in newest] == ["push 39", "push 38", "push 37"]


def test_every_webhook_answer_is_recorded_with_its_status(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            started = await p.alert(alert_payload(alert(ANOMALY)))
            repeat = await p.alert(alert_payload(alert(ANOMALY)))
            bad = await p.alert({"version": "3", "alerts": []})
            pushed = await p.github(push("README.md"))
            await p.settle()
            answers = hook_answers.recent_answers(p.store.home)
            got = [(a["receiver"], a["status"]) for a in reversed(answers)]
            sent = [started, repeat, bad, pushed]
            assert [r.status_code for r in sent] == [202, 200, 400, 200]
            assert got == [
                ("alertmanager", 202),
                ("alertmanager", 200),
                ("alertmanager", 400),
                ("github", 200),
            ]
            first = answers[-1]
            assert first["runs"][0]["run"] == started.json()["run"]
            assert "ModelDrift" in first["event"]
            assert "version" in answers[-3]["reason"]

    asyncio.run(go())


def test_the_file_layout_is_json(tmp_path: Path) -> None:
    when = datetime(2026, 1, 1, 12, 0, 0, 123456, tzinfo=UTC)
    path = reports.save_drift_report(tmp_path, MODEL, when, {"score": 0.1})
    assert path == tmp_path / MODEL / "drift" / "20260101T120000.123456Z.json"
    assert json.loads(path.read_text()) == {"score": 0.1}
    assert not [p for p in path.parent.iterdir() if p.name.startswith(".tmp")]
