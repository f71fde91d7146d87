"""The runs list: newest first, filtered by state, model, pipeline and label, paged by keyset (`?before=RUN`)
so that page 1000 costs what page 1 costs, whatever the store holds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from retrain.api.web.html import duration, empty_state, esc, href, state_badge, table, when
from retrain.api.web.layout import Page
from retrain.app.runs import ListRunsRequest, RunSummary, list_runs
from retrain.errors import InvalidInput, Location
from retrain.runs.records import RUN_STATES

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext

PAGE_SIZE = 50
FILTERS = ("state", "model", "pipeline", "label")
HEADERS = ("Name", "Pipeline", "Model", "Trigger", "State", "Reason", "Started", "Duration")


def _filters(ctx: PageContext) -> dict[str, str]:
    known = {*FILTERS, "before"}
    for key, _ in ctx.request.query:
        if key not in known:
            raise InvalidInput(f"unknown filter {key!r}", location=Location(field=f"query.{key}"),
                               hint=f"filters: {', '.join(FILTERS)}")  # fmt: skip
    return {k: (ctx.request.param(k) or "").strip() for k in known}


async def runs_page(ctx: PageContext, args: list[str]) -> Page:
    given = _filters(ctx)
    labels: dict[str, str] = {}
    if given["label"]:
        key, sep, value = given["label"].partition("=")
        if not sep or not key:
            raise InvalidInput(f"label filter {given['label']!r} must be KEY=VALUE",
                               location=Location(field="query.label"))  # fmt: skip
        labels[key] = value
    req = ListRunsRequest(
        model=given["model"] or None,
        state=given["state"] or None,
        pipeline=given["pipeline"] or None,
        labels=labels,
        last=PAGE_SIZE + 1,  # one more than shown: whether there is a next page
        before=given["before"] or None,
    )
    found = list_runs(ctx.backend.store, req).runs
    shown, more = found[:PAGE_SIZE], len(found) > PAGE_SIZE
    body = "<h1>Runs</h1>" + _filter_form(given)
    if not shown:
        body += _empty(given)
    else:
        body += table(HEADERS, (_row(r) for r in shown), cls="runs")
        body += _pager(given, shown[-1].name if more else None)
    return Page("Runs", body, nav="runs")


def _row(r: RunSummary) -> list[str]:
    return [
        f'<a href="{href("runs", r.name)}">{esc(r.name)}</a>',
        esc(r.pipeline or "-"),
        esc(r.model or "-"),
        esc(r.trigger or "-"),
        state_badge(r.state),
        esc(r.reason or "-"),
        when(r.started_at or r.created_at),
        duration(r.duration_s),
    ]


def _filter_form(given: dict[str, str]) -> str:
    options = "".join(
        f'<option value="{esc(s)}"{" selected" if s == given["state"] else ""}>{esc(s)}</option>'
        for s in sorted(RUN_STATES)
    )

    def text(name: str, placeholder: str) -> str:
        return (f'<label>{name.capitalize()} <input name="{name}" value="{esc(given[name])}" '
                f'placeholder="{esc(placeholder)}"></label>')  # fmt: skip

    return (
        '<form class="filters" method="get" action="/runs">'
        f'<label>State <select name="state"><option value="">any</option>{options}</select></label>'
        + text("model", "anomaly-detector")
        + text("pipeline", "model-training-pipeline")
        + text("label", "key=value")
        + '<button type="submit">Filter</button> <a href="/runs">clear</a></form>'
    )


def _pager(given: dict[str, str], next_before: str | None) -> str:
    query = {k: given[k] for k in FILTERS}
    links = []
    if given["before"]:
        links.append(f'<a href="{href("runs", query=query)}">« newest</a>')
    if next_before is not None:
        links.append(
            f'<a rel="next" href="{href("runs", query={**query, "before": next_before})}">older »</a>'
        )
    return f'<nav class="pager">{" ".join(links)}</nav>' if links else ""


def _empty(given: dict[str, str]) -> str:
    if any(given[k] for k in (*FILTERS, "before")):
        return empty_state("No runs match", 'Change the filters or <a href="/runs">clear them</a>.')
    return empty_state(
        "No runs yet",
        "Start one: <code>retrain trigger anomaly-detector</code>, a schedule, a webhook, or "
        '<a href="/triggers">the manual run form</a>. Runs appear here as they start.',
    )
