"""The Drift page: per model, the drift score of every kept check over time (with the alert threshold), the
per-feature PSI and KS of the latest check, and the retraining runs that drift alerts started."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from retrain.api.web.charts import Bar, Point, Rule, bar_chart, line_chart
from retrain.api.web.html import duration, empty_state, esc, href, pairs, state_badge, table
from retrain.api.web.layout import Page
from retrain.api.web.models import ASSETS, at
from retrain.app.dashboard_drift import LatestCheck, ModelDrift, drift_overview

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext

FEATURES_SHOWN = 20


async def drift_page(ctx: PageContext, args: list[str]) -> Page:
    overview = await asyncio.to_thread(drift_overview, ctx.backend.registry_root, ctx.backend.store)
    body = ASSETS + "<h1>Drift</h1>"
    if not overview.models:
        body += empty_state(
            "No models yet",
            "Drift is measured against the training data of the version that serves: train and promote a "
            "model first (<code>retrain trigger anomaly-detector</code>), then check it with "
            "<code>retrain drift check anomaly-detector</code> or let <code>retrain serve</code> check it "
            "on the <code>drift:</code> schedule of retrain.yaml.",
        )
        return Page("Drift", body, nav="drift")
    body += "".join(_model(m) for m in overview.models)
    return Page("Drift", body, nav="drift")


def _model(m: ModelDrift) -> str:
    link = f'<a href="{href("models", m.model)}">{esc(m.model)}</a>'
    head = f'<section class="drift" id="drift-{esc(m.model)}"><h2>{link}'
    head += f' <span class="muted">serving {esc(m.serving if m.serving is not None else "none")}</span></h2>'
    if m.latest is None:
        return head + (
            '<p class="muted">No drift check kept yet: run <code>retrain drift check '
            f"{esc(m.model)}</code>, or enable the <code>drift:</code> section of retrain.yaml.</p>"
            + _runs(m)
            + "</section>"
        )
    latest = m.latest
    points = [Point(p.checked_at[5:16].replace("T", " "), p.score) for p in m.history]  # MM-DD HH:MM
    score = line_chart("drift score (share of drifted features) per check", points,
                       [Rule("alert at", latest.share, kind="alert")], floor=0.0)  # fmt: skip
    return (
        head + f'<div class="charts">{score}{_psi(latest)}</div>' + _latest(latest) + _runs(m) + "</section>"
    )


def _psi(latest: LatestCheck) -> str:
    shown = latest.features[:FEATURES_SHOWN]
    more = len(latest.features) - len(shown)
    which = f"top {len(shown)} of {len(latest.features)}" if more else "all"
    title = f"PSI per feature, latest check ({which})"
    bars = [Bar(f.feature, f.psi, flagged=f.drifted) for f in shown]
    return bar_chart(title, bars, Rule("psi", latest.psi, kind="alert"), empty="no features compared")


def _latest(latest: LatestCheck) -> str:
    verdict = "drifted" if latest.drifted else "no drift"
    facts = pairs([
        ("checked", latest.checked_at[:19].replace("T", " ")), ("version", str(latest.version)),
        ("score", f"{latest.score:.2f} ({verdict}; alert at {latest.share:g})"),
        ("rows", f"{latest.live_rows} live vs {latest.reference_rows} reference"),
        ("window", ", ".join(f"{k} {v}" for k, v in latest.window.items()) or "-"),
    ])  # fmt: skip
    notes = "".join(f"<li>{esc(n)}</li>" for n in latest.notes)
    rows = (
        [esc(f.feature), f"{f.psi:.3f}", f"{f.psi_limit:.3f}", esc(f.band), f"{f.ks_statistic:.3f}",
         f"{f.ks_pvalue:.2g}", '<span class="outcome outcome-failed">drifted</span>' if f.drifted else "-"]
        for f in latest.features[:FEATURES_SHOWN]
    )  # fmt: skip
    features = table(
        ("Feature", "PSI", "PSI needed", "Band", "KS D", "KS p", "Drifted"), rows, cls="features"
    )
    return (
        f"<h3>Latest check</h3>{facts}"
        + (f'<ul class="notes">{notes}</ul>' if notes else "")
        + f"<details><summary>PSI and KS of the {min(len(latest.features), FEATURES_SHOWN)} largest "
        f"shifts</summary>{features}</details>"
    )


def _runs(m: ModelDrift) -> str:
    if not m.runs:
        return '<p class="muted">No retraining run was started by a drift alert.</p>'
    rows = (
        [f'<a href="{href("runs", r.name)}">{esc(r.name)}</a>', state_badge(r.state), esc(r.reason or "-"),
         at(r.created_at.isoformat()), duration(r.duration_s)]
        for r in m.runs
    )  # fmt: skip
    return "<h3>Runs started by drift alerts</h3>" + table(
        ("Run", "State", "Reason", "Created", "Duration"), rows, cls="runs"
    )
