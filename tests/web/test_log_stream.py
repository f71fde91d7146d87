"""The log stream (server-sent events) of a run that is still running: lines arrive as they are written,
and the follower stops as soon as the client goes away, not when the run ends."""

from __future__ import annotations

import asyncio
from collections.abc import MutableMapping
from pathlib import Path
from typing import Any, cast

from retrain.api.http import Request
from retrain.api.protocol import Backend
from retrain.api.web import WebApp
from retrain.runs.records import TaskRunRecord
from retrain.runs.store import RunStore

MANIFEST = {"apiVersion": "tekton.dev/v1", "kind": "PipelineRun", "metadata": {}, "spec": {}}


class _Backend:
    def __init__(self, store: RunStore) -> None:
        self.store = store


def test_lines_stream_while_running_and_the_stream_stops_when_the_client_leaves(tmp_path: Path) -> None:
    store = RunStore(tmp_path / "home")
    store.create_run(name="live", kind="PipelineRun", manifest=MANIFEST, state="Running")
    store.upsert_taskrun(
        TaskRunRecord(
            name="live-work",
            run_name="live",
            pipeline_task="work",
            retry=0,
            state="Running",
            reason=None,
            started_at=None,
            completed_at=None,
            status={},
            results={},
        )
    )
    log = store.step_log_path("live", "live-work", "step")
    log.write_text("first line\n")
    web = WebApp(cast(Backend, _Backend(store)))
    sent: list[MutableMapping[str, Any]] = []
    leave = asyncio.Event()

    async def receive() -> dict[str, Any]:
        await leave.wait()
        return {"type": "http.disconnect"}

    async def send(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    def body() -> bytes:
        return b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")

    async def until(what: bytes) -> None:
        for _ in range(600):  # 60 s at most: a loaded machine
            if what in body():
                return
            await asyncio.sleep(0.1)
        raise AssertionError(f"{what!r} never arrived; got {body()!r}")

    async def go() -> None:
        scope = {"type": "http", "method": "GET", "path": "/runs/live/logs", "query_string": b"",
                 "headers": [], "client": ("127.0.0.1", 1)}  # fmt: skip
        serving = asyncio.create_task(web(Request.from_scope(scope, receive), send))
        await until(b'data: "[work/step] first line"')
        with log.open("a") as f:
            f.write("second line\n")
        await until(b'data: "[work/step] second line"')
        assert not serving.done()  # the run still runs: the stream stays open
        leave.set()
        await asyncio.wait_for(serving, timeout=30)

    asyncio.run(go())
    assert sent[0]["status"] == 200
    assert (b"content-type", b"text/event-stream") in sent[0]["headers"]
    assert b"event: end" not in body()  # it stopped because the client left, not because the run ended
    assert store.get_run("live").state == "Running"
