"""A run's page: what it is, why it failed, its graph, params, results, tasks with their steps' exit codes,
and its step logs (streamed by SSE from the run store's log files while it runs); plus the JSON the page
polls to recolour the graph live."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from retrain.api.web.graph import pipeline_svg
from retrain.api.web.html import duration, esc, href, pairs, state_badge, table, when
from retrain.api.web.layout import Json, Page
from retrain.app.failures import last_tries
from retrain.app.run_tasks import task_views
from retrain.app.runs import LogsRequest, RunDescription, TaskView, describe_record, log_sources_of
from retrain.runs.logs import follow

if TYPE_CHECKING:
    from retrain.api.web.routes import PageContext, Stream
    from retrain.runs.records import RunRecord, TaskRunRecord
    from retrain.runs.store import RunStore

STREAM_LIMIT_S = 3600.0  # a log stream ends after an hour even if the run does not; the page says so
_PRECEDENCE = ("Failed", "Running", "Cancelled", "Pending", "Succeeded")


def task_states(tasks: Sequence[TaskView]) -> dict[str, str]:
    """One state per pipeline task (a matrix task's rows: the most telling of them)."""
    states: dict[str, str] = {}
    for t in tasks:
        old = states.get(t.name)
        if old is None or (
            t.state in _PRECEDENCE
            and (old not in _PRECEDENCE or _PRECEDENCE.index(t.state) < _PRECEDENCE.index(old))
        ):
            states[t.name] = t.state  # fmt: skip
    return states


def describe(store: RunStore, name: str) -> tuple[RunDescription, RunRecord, list[TaskRunRecord]]:
    """`retrain.app.runs.describe_run`'s description, plus the record (its pipeline spec draws the graph) and
    the task runs' last tries (their steps' exit codes), each read once: the page must cost no more than
    twice the JSON for the same data (bench/dashboard.py)."""
    record = store.get_run(name)
    tries = last_tries(store, name)
    return describe_record(store, record, tries), record, tries


async def run_page(ctx: PageContext, args: list[str]) -> Page:
    d, record, tries = describe(ctx.backend.store, args[0])
    spec: Mapping[str, Any] = record.status.get("pipelineSpec") or {}
    finished = d.state in ("Succeeded", "Failed", "Cancelled")
    body = [
        f'<section class="run" id="run" data-run="{esc(d.name)}" data-state="{esc(d.state)}" '
        f'data-finished="{"true" if finished else "false"}" data-live="{href("runs", d.name, "live.json")}">',
        f'<h1>{esc(d.name)} <span id="run-state">{state_badge(d.state)}</span></h1>',
        _summary(d),
        _actions(d, finished),
        _failure(d),
        '<h2>Graph</h2><div class="graph-wrap" id="graph">',
        pipeline_svg(spec, task_states(d.tasks)),
        "</div>",
        '<div class="two"><div><h2>Params</h2>',
        pairs(d.params),
        "</div>",
        "<div><h2>Results</h2>",
        pairs(d.results),
        "</div></div>",
        "<h2>Tasks</h2>",
        _tasks(d.tasks, tries),
        _logs(d),
        "</section>",
    ]
    return Page(d.name, "".join(body), nav="runs")


def _summary(d: RunDescription) -> str:
    rows = [
        ("Pipeline", esc(d.pipeline or "-")), ("Model", esc(d.model or "-")),
        ("Trigger", esc(d.trigger or "-")),
        ("Reason", esc(d.reason or "-")), ("Started", when(d.started_at or d.created_at)),
        ("Duration", duration(d.duration_s)),
    ]  # fmt: skip
    if d.rerun_of:
        rows.append(("Re-run of", f'<a href="{href("runs", d.rerun_of)}">{esc(d.rerun_of)}</a>'))
    inner = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    extra = f'<p class="message">{esc(d.message)}</p>' if d.message else ""
    outcome = f'<p class="outcome"><strong>Summary:</strong> {esc(d.outcome)}</p>' if d.outcome else ""
    return f'<dl class="summary">{inner}</dl>{extra}{outcome}'


def _actions(d: RunDescription, finished: bool) -> str:
    buttons = []
    if not finished:
        buttons.append(f'<button data-action="cancel" data-run="{esc(d.name)}">Cancel</button>')
    if d.state == "Failed":
        buttons.append(f'<button data-action="rerun" data-run="{esc(d.name)}">Re-run from failed</button>')
    if not buttons:
        return ""
    return ('<div class="actions">' + "".join(buttons) + '<span class="muted"> actions need the API token: '
            '<a href="/login">log in</a></span></div>')  # fmt: skip


def _failure(d: RunDescription) -> str:
    f = d.failure
    if f is None:
        return ""
    where = " › ".join(esc(x) for x in (f.task, f.step) if x) or "before any step ran"
    tail = "\n".join(f.log_tail)
    return (
        f'<section class="failure" id="failure"><h2>Why it failed</h2>'
        f'<p><strong>Failed at:</strong> <span class="where">{where}</span> — {esc(f.reason)}</p>'
        f'<p class="message">{esc(f.message)}</p>'
        + (f'<h3>Last log lines</h3><pre class="tail">{esc(tail)}</pre>' if tail else "")
        + f'<p class="muted">In a terminal: <code>{esc(f.log_command)}</code></p></section>'
    )


def _steps(tr: TaskRunRecord | None) -> str:
    if tr is None:
        return "-"
    items = []
    for step in tr.status.get("steps") or []:
        if not isinstance(step, dict):
            continue
        done = step.get("terminated") or {}
        code = done.get("exitCode")
        shown = ("running" if step.get("running") else "waiting") if code is None else f"exit {code}"
        cls = "ok" if code == 0 else ("bad" if code is not None else "")
        items.append(f'<li class="{cls}"><code>{esc(step.get("name"))}</code> {esc(shown)}</li>')
    return f'<ul class="steps">{"".join(items)}</ul>' if items else "-"


def _tasks(tasks: Sequence[TaskView], tries: Sequence[TaskRunRecord]) -> str:
    by_taskrun = {tr.name: tr for tr in tries}
    rows = [
        [
            esc(t.name) + (' <span class="muted">(finally)</span>' if t.is_finally else ""),
            state_badge(t.state),
            esc(t.reason or "-"),
            when(t.started_at),
            duration(t.duration_s),
            str(t.retries),
            _steps(by_taskrun.get(t.taskrun or "")),
        ]
        for t in tasks
    ]
    headers = ("Task", "State", "Reason", "Started", "Duration", "Retries", "Steps")
    return table(headers, rows, cls="tasks") if rows else '<p class="muted">No tasks yet.</p>'


def _logs(d: RunDescription) -> str:
    return (
        f'<h2>Logs</h2><div class="logbar"><input id="log-filter" type="search" placeholder="filter lines" '
        f'aria-label="filter log lines"> <span id="log-status" class="muted">loading…</span></div>'
        f'<pre class="log" id="log" data-src="{href("runs", d.name, "logs")}"></pre>'
        f'<noscript><p class="muted">The logs stream with JavaScript; without it: '
        f"<code>retrain runs logs {esc(d.name)}</code></p></noscript>"
    )


async def run_live(ctx: PageContext, args: list[str]) -> Json:
    store = ctx.backend.store
    record = store.get_run(args[0])
    return Json({
        "name": record.name, "state": record.state, "reason": record.reason, "finished": record.finished,
        "tasks": task_states(task_views(record, last_tries(store, record.name))),
    })  # fmt: skip


async def run_logs(ctx: PageContext, args: list[str]) -> Stream:
    """Server-sent events: one `data:` per log line (`[task/step] line`), then an `end` event."""
    from retrain.api.web.routes import Stream

    store, name = ctx.backend.store, args[0]
    store.get_run(name)  # NotFound before the stream starts: the 404 page

    async def events() -> AsyncIterator[bytes]:
        queue: asyncio.Queue[str | None] = asyncio.Queue()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + STREAM_LIMIT_S

        def done() -> bool:
            return store.get_run(name).finished or loop.time() > deadline

        async def pump() -> None:
            try:
                sources = lambda: log_sources_of(store, LogsRequest(run=name), strict=False)  # noqa: E731
                await follow(sources, done, queue.put_nowait, poll_s=0.25)
            finally:
                queue.put_nowait(None)

        task = asyncio.create_task(pump())
        try:
            yield b"retry: 2000\n\n"
            while (line := await queue.get()) is not None:
                yield b"data: " + orjson.dumps(line) + b"\n\n"
            await task  # re-raises what went wrong in the pump
            yield b"event: end\ndata: " + orjson.dumps(store.get_run(name).state) + b"\n\n"
        finally:
            task.cancel()

    return Stream(events())
