"""The dashboard's runs pages over the service's real ASGI app (no browser): keyset paging through every
run exactly once, filters, bad input as pages, the 404 page, static assets, the re-run action's answers."""

from __future__ import annotations

import asyncio
import re
from html import unescape
from pathlib import Path

import pytest

from fixtures.service_helpers import TOKEN, platform
from retrain.runs.records import RunState
from retrain.runs.store import RunStore

PIPELINE_RUN = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {}, "spec": {}}
ROW_LINK = re.compile(r'<td data-label="Name"><a href="/runs/([^"]+)">')
NEXT = re.compile(r'<a rel="next" href="([^"]+)">')


def _add_runs(store: RunStore, count: int) -> list[str]:
    names = []
    for i in range(count):
        name = f"run-{i:03d}"
        state: RunState = "Failed" if i % 3 == 0 else "Succeeded"
        pipeline = "train" if i % 2 == 0 else "check"
        labels = {"team": "a" if i < 10 else "b"}
        store.create_run(name=name, kind="PipelineRun", manifest=PIPELINE_RUN, pipeline=pipeline,
                         labels=labels, state=state)  # fmt: skip
        names.append(name)
    return names[::-1]  # newest first


def test_paging_walks_every_run_once_newest_first(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            expected = _add_runs(p.service.store, 120)
            seen: list[str] = []
            url: str | None = "/runs"
            pages = 0
            while url is not None:
                answer = await p.client.get(url)
                assert answer.status_code == 200, answer.text
                assert answer.headers["content-type"] == "text/html; charset=utf-8"
                rows = ROW_LINK.findall(answer.text)
                assert 0 < len(rows) <= 50
                seen += rows
                found = NEXT.search(answer.text)
                url = unescape(found.group(1)) if found else None
                pages += 1
            assert seen == expected
            assert pages == 3

    asyncio.run(go())


@pytest.mark.parametrize(
    ("query", "wanted"),
    [
        ("state=Failed", lambda i: i % 3 == 0),
        ("pipeline=check", lambda i: i % 2 == 1),
        ("label=team%3Da", lambda i: i < 10),
        ("state=Failed&pipeline=train&label=team%3Da", lambda i: i % 6 == 0 and i < 10),
    ],
)
def test_filters(tmp_path: Path, query: str, wanted: object) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            _add_runs(p.service.store, 30)
            answer = await p.client.get(f"/runs?{query}")
            assert answer.status_code == 200
            assert callable(wanted)
            assert ROW_LINK.findall(answer.text) == [f"run-{i:03d}" for i in range(29, -1, -1) if wanted(i)]

    asyncio.run(go())


def test_bad_input_and_unknown_pages_are_pages_not_tracebacks(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            empty = await p.client.get("/")
            assert empty.status_code == 200 and "No runs yet" in empty.text
            bad = await p.client.get("/runs?state=Bogus")
            assert bad.status_code == 400
            assert "unknown state &#x27;Bogus&#x27;" in bad.text and "use one of Cancelled" in bad.text
            unknown_filter = await p.client.get("/runs?colour=red")
            assert unknown_filter.status_code == 400 and "unknown filter" in unknown_filter.text
            bad_label = await p.client.get("/runs?label=nolabel")
            assert bad_label.status_code == 400 and "KEY=VALUE" in bad_label.text
            for path in ("/runs/no-such-run", "/nothing/here", "/runs/no-such-run/live.json"):
                missing = await p.client.get(path)
                assert missing.status_code == 404, path
                assert (
                    "<h1>Not found</h1>" in missing.text and 'href="/runs">Back to the runs' in missing.text
                )
            assert (await p.client.post("/runs")).status_code == 405
            css = await p.client.get("/static/dashboard.css")
            assert css.status_code == 200 and css.headers["content-type"].startswith("text/css")
            js = await p.client.get("/static/dashboard.js")
            assert js.status_code == 200 and "sessionStorage" in js.text
            for path in ("/static/..%2Fhtml.py", "/static/html.py", "/static/nope.css", "/static/"):
                assert (await p.client.get(path)).status_code == 404, path
            page = await p.client.get("/runs")
            assert "script-src 'self'" in page.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in page.headers["content-security-policy"]

    asyncio.run(go())


def test_rerun_needs_the_token_and_starts_a_new_run_in_the_service(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            started = await p.start({"model": "anomaly-detector"})
            assert started.status_code == 202, started.text
            first = started.json()["run"]
            await p.settle()
            anonymous = await p.client.post(f"/api/v1/runs/{first}/rerun")
            assert anonymous.status_code == 401
            wrong = await p.client.post(f"/api/v1/runs/{first}/rerun", headers={"Authorization": "Bearer no"})
            assert wrong.status_code == 403
            auth = {"Authorization": f"Bearer {TOKEN}"}
            unknown = await p.client.post("/api/v1/runs/nope/rerun", headers=auth)
            assert unknown.status_code == 404
            assert len(p.runs()) == 1  # nothing was started by the refused calls
            again = await p.client.post(
                f"/api/v1/runs/{first}/rerun", headers=auth, json={"from_failed": False}
            )
            assert again.status_code == 202, again.text
            assert again.json()["status"] == "started"
            await p.settle()
            rerun = p.service.store.get_run(again.json()["run"])
            assert rerun.state == "Succeeded"
            assert rerun.manifest["metadata"]["annotations"]["retrain.dev/rerun-of"] == first

    asyncio.run(go())
