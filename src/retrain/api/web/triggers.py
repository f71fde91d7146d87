"""The Triggers page: the schedules the service runs (next fire time, concurrency policy, what the last fire
did), the recent webhook deliveries and alerts with the answer each got, and a form that starts a manual
run through `POST /api/v1/runs` with the bearer token (`static/insights.js`)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import TYPE_CHECKING, cast

from retrain.api.web.html import empty_state, esc, href, table, when
from retrain.api.web.layout import Page
from retrain.api.web.models import ASSETS, TOKEN_NOTE, at
from retrain.app.dashboard_triggers import AnswerRow, FireRow, SchedulerView, TriggersView, triggers_view

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext

HOURS = ("", "24", "168", "720")
SOURCES = ("", "synthetic", "prometheus", "hybrid")


def _scheduler(backend: object) -> SchedulerView | None:
    """The service's scheduler (`retrain.triggers.scheduler.Scheduler`) when it runs one."""
    found = getattr(backend, "scheduler", None)
    if found is None or not hasattr(found, "schedules") or not hasattr(found, "history"):
        return None
    return cast("SchedulerView", found)


async def triggers_page(ctx: PageContext, args: list[str]) -> Page:
    view = await asyncio.to_thread(
        triggers_view,
        _scheduler(ctx.backend),
        ctx.backend.store.home,
        ctx.backend.registry_root,
        now=datetime.now(UTC),
    )
    body = ASSETS + "<h1>Triggers</h1>" + _form(view) + _schedules(view) + _answers(view)
    return Page("Triggers", body, nav="triggers")


def _select(name: str, label: str, options: tuple[str, ...], blank: str) -> str:
    opts = "".join(f'<option value="{esc(o)}">{esc(o or blank)}</option>' for o in options)
    return f'<label>{esc(label)} <select name="{esc(name)}" id="run-{esc(name)}">{opts}</select></label>'


def _form(view: TriggersView) -> str:
    return (
        '<h2>Start a run</h2><form id="run-form" class="filters" method="post" action="/api/v1/runs">'
        + _select("model", "Model", view.models, "")
        + _select("training_hours", "Training hours", HOURS, "the model's default")
        + _select("data_source", "Data source", SOURCES, "the model's default")
        + f'<button type="submit">Start run</button> {TOKEN_NOTE}</form>'
    )


def _schedules(view: TriggersView) -> str:
    head = "<h2>Schedules</h2>"
    if not view.scheduling:
        return head + empty_state(
            "No schedules run",
            "This service runs no schedule: add a <code>schedules:</code> section to retrain.yaml (or leave "
            "it out for the two weekly defaults) and restart <code>retrain serve</code>.",
        )
    rows = (
        [
            esc(s.name), esc(s.model), esc(s.pipeline), esc(s.training_hours),
            f"<code>{esc(s.cron)}</code> {esc(s.time_zone)}", esc(s.policy),
            "suspended" if s.suspend else when(s.next_fire),
            _last(s.last) if s.last else "never fired",
        ]
        for s in view.schedules
    )  # fmt: skip
    headers = ("Name", "Model", "Pipeline", "Hours", "Cron", "Policy", "Next fire", "Last fire")
    return head + table(headers, rows, cls="schedules")


def _last(fire: FireRow) -> str:
    link = f' <a href="{href("runs", fire.run)}">{esc(fire.run)}</a>' if fire.run else ""
    why = f'<br><span class="muted">{esc(fire.reason)}</span>'
    return f"{at(fire.scheduled_for)}: <strong>{esc(fire.outcome)}</strong>{link}{why}"


def _answers(view: TriggersView) -> str:
    head = "<h2>Webhook deliveries and alerts</h2>"
    if not view.answers:
        return head + empty_state(
            "No deliveries yet",
            "GitHub pushes (<code>POST /hooks/github</code>) and Alertmanager alerts "
            "(<code>POST /hooks/alertmanager</code>) appear here with the answer each got.",
        )
    headers = ("Received", "Receiver", "What", "Answer", "Reason", "Runs")
    return head + table(headers, (_answer(a) for a in view.answers), cls="answers")


def _answer(a: AnswerRow) -> list[str]:
    runs = "<br>".join(
        (f'<a href="{href("runs", r.run)}">{esc(r.run)}</a> ' if r.run else "") + esc(r.status)
        for r in a.runs
    )
    kind = "ok" if a.status < 300 else "refused"
    return [
        at(a.at),
        esc(a.receiver),
        esc(a.event),
        f'<span class="http http-{kind}">{a.status}</span>',
        esc(a.reason),
        runs or "-",
    ]
