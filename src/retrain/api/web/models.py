"""The Models pages: every model with what serves and how its newest version was judged; one model's
versions with their verdicts, every check's outcome and reason, metric charts with the gate's thresholds,
lineage, and Promote/Rollback buttons (they call `POST /api/v1/models/{model}/promote|rollback` with the
bearer token, from `static/insights.js`)."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import TYPE_CHECKING, Any

from retrain.api.web.charts import Point, Rule, line_chart
from retrain.api.web.html import empty_state, esc, href, pairs, table, when
from retrain.api.web.layout import Page
from retrain.app.dashboard_models import ModelView, VersionView, model_view, models_overview

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext

ASSETS = (
    '<link rel="stylesheet" href="/static/insights.css"><script src="/static/insights.js" defer></script>'
)
TOKEN_NOTE = '<span class="muted">actions need the API token: <a href="/login">log in</a></span>'  # noqa: S105


def at(text: str | None) -> str:
    """An ISO time as the layout shows times; the raw text when it is not one."""
    if not text:
        return "-"
    try:
        return when(datetime.fromisoformat(text))
    except ValueError:
        return esc(text)


def verdict_badge(verdict: str) -> str:
    return f'<span class="verdict verdict-{esc(verdict)}">{esc(verdict)}</span>'


async def models_page(ctx: PageContext, args: list[str]) -> Page:
    overview = await asyncio.to_thread(models_overview, ctx.backend.registry_root)
    body = "<h1>Models</h1>"
    if not overview.models:
        body += empty_state(
            "No models yet",
            "Train one: <code>retrain trigger anomaly-detector</code>, or start a run from "
            '<a href="/triggers">Triggers</a>. Each trained version appears here with the gate\'s verdict.',
        )
        return Page("Models", body, nav="models")
    rows = (
        [
            f'<a href="{href("models", m.model)}">{esc(m.model)}</a>',
            esc(m.versions),
            esc(m.serving if m.serving is not None else "none"),
            esc(m.previous if m.previous is not None else "-"),
            esc(m.latest if m.latest is not None else "-"),
            verdict_badge(m.latest_verdict),
            at(m.last_registered),
        ]
        for m in overview.models
    )
    headers = ("Model", "Versions", "Serving", "Previous", "Newest", "Newest verdict", "Registered")
    body += table(headers, rows, cls="models")
    body += f'<p class="muted">Registry: <code>{esc(overview.registry)}</code></p>'
    return Page("Models", body, nav="models")


async def model_page(ctx: PageContext, args: list[str]) -> Page:
    view = await asyncio.to_thread(model_view, args[0], ctx.backend.registry_root)  # NotFound: the 404 page
    body = ASSETS + f"<h1>{esc(view.model)}</h1>"
    body += pairs([
        ("serving", str(view.serving) if view.serving is not None else "none"),
        ("previous", str(view.previous) if view.previous is not None else "none"),
        ("gate thresholds", view.thresholds_origin),
    ])  # fmt: skip
    body += _actions(view)
    if not view.versions:
        body += empty_state("No versions yet", f"Train one: <code>retrain trigger {esc(view.model)}</code>.")
        return Page(view.model, body, nav="models")
    body += '<h2>Quality across versions</h2><div class="charts">' + _charts(view) + "</div>"
    body += "<h2>Versions</h2>" + table(
        ("Version", "Aliases", "Registered", "Verdict", "Why", "Held-out metrics", "Run", ""),
        (_row(view, v) for v in view.versions),
        cls="versions",
    )
    body += "".join(_details(v, open_=i == 0) for i, v in enumerate(view.versions))
    return Page(view.model, body, nav="models")


def _actions(view: ModelView) -> str:
    if view.previous is None:
        return '<div class="actions"><span class="muted">no previous version to roll back to</span></div>'
    button = (
        f'<button data-model-action="rollback" data-model="{esc(view.model)}">'
        f"Roll back to version {esc(view.previous)}</button>"
    )
    return f'<div class="actions">{button}{TOKEN_NOTE}</div>'


def _metric_text(metrics: Any) -> str:
    return ", ".join(f"{esc(k)} {v:.3g}" for k, v in metrics.items()) or "-"


def _row(view: ModelView, v: VersionView) -> list[str]:
    why = "<br>".join(esc(r) for r in v.gate.reasons) or (
        "-" if v.gate.verdict != "unchecked" else "not gated"
    )
    promote = ""
    if view.serving != v.version:
        label = "Promote anyway" if v.gate.verdict == "rejected" else "Promote"
        promote = (
            f'<button data-model-action="promote" data-model="{esc(view.model)}" '
            f'data-version="{v.version}">{label}</button>'
        )
    run = f'<a href="{href("runs", v.lineage.run)}">{esc(v.lineage.run)}</a>' if v.lineage.run else "-"
    return [
        f'<a href="#v{v.version}">{v.version}</a>',
        esc(", ".join(v.aliases) or "-"),
        at(v.created_at),
        verdict_badge(v.gate.verdict),
        f'<span class="reasons">{why}</span>' if v.gate.reasons else why,
        _metric_text(v.gate.metrics),
        run,
        promote,
    ]


def _charts(view: ModelView) -> str:
    ordered = list(reversed(view.versions))  # oldest first, left to right
    charts = []
    for metric in view.metric_names:
        rules = []
        for t in view.thresholds:
            if t.metric == metric:
                rules += [Rule("min", t.min)] if t.min is not None else []
                rules += [Rule("max", t.max)] if t.max is not None else []
        points = [Point(f"v{v.version}", v.gate.metrics.get(metric)) for v in ordered]
        charts.append(line_chart(f"{metric} (held-out, per version)", points, rules,
                                 empty="no gate report with this metric yet"))  # fmt: skip
    if not charts:
        return '<p class="muted">No metrics yet: the gate measures them when it checks a version.</p>'
    return "".join(charts)


def _details(v: VersionView, *, open_: bool) -> str:
    lineage = v.lineage
    window = f"{lineage.training_hours:g} h" if lineage.training_hours is not None else "-"
    if lineage.window_start or lineage.window_end:
        window += f" ({lineage.window_start or '?'} .. {lineage.window_end or '?'})"
    facts = pairs([
        ("run", lineage.run or "-"), ("trainer", lineage.trainer),
        ("data source", lineage.data_source or "-"),
        ("training window", window), ("notebook", lineage.notebook or "-"),
        ("git commit", lineage.git_commit or "-"), ("artefact sha256", lineage.sha256),
        ("executed notebook sha256", lineage.executed_notebook_sha256 or "-"),
        ("training metrics", ", ".join(f"{k} {x:.4g}" for k, x in v.training_metrics.items()) or "-"),
    ])  # fmt: skip
    if v.gate.checks:
        checks = table(
            ("Check", "Outcome", "Value", "Threshold", "Reason"),
            (
                [esc(c.name) + ("" if c.blocking else ' <span class="muted">(non-blocking)</span>'),
                 f'<span class="outcome outcome-{esc(c.outcome)}">{esc(c.outcome)}</span>',
                 esc(_short(c.value)), esc(_short(c.threshold)), esc(c.reason)]
                for c in v.gate.checks
            ),
            cls="checks",
        )  # fmt: skip
        checks = f'<p class="muted">Gate report of {at(v.gate.checked_at)}</p>' + checks
    elif v.gate.source == "audit log":
        checks = '<p class="muted">Only the rejection reasons were recorded (no gate report kept).</p>'
    else:
        checks = '<p class="muted">Not gated yet: <code>retrain check</code> judges a version.</p>'
    summary = f"Version {v.version} · {verdict_badge(v.gate.verdict)}"
    return (
        f'<details class="version" id="v{v.version}"{" open" if open_ else ""}><summary>{summary}</summary>'
        f'<div class="two"><div><h3>Checks</h3>{checks}</div><div><h3>Lineage</h3>{facts}</div></div>'
        "</details>"
    )


def _short(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_short(x)}" for k, x in value.items() if x is not None) or "-"
    text = str(value)
    return text if len(text) <= 80 else text[:77] + "..."
