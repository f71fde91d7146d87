"""A flood: 500 concurrent GitHub deliveries for one model over real HTTP on 127.0.0.1. Under Forbid exactly
one run starts; under Queue one starts and at most the queue limit wait; every request gets an answer."""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from fixtures.service_helpers import ANOMALY, SECRET, make_service, push, served, service_config, wait_until
from retrain.api import github_signature

N = 500
CONFIG = "limits:\n  rate_per_s: 100000\n  burst: 100000\n"


async def post(host: str, port: int, path: str, body: bytes, headers: dict[str, str]) -> tuple[int, Any]:
    """One request on its own connection (HTTP/1.1, Connection: close): 500 of them are truly concurrent,
    with none of a client pool's queueing in between."""
    reader, writer = await asyncio.open_connection(host, port)
    try:
        head = f"POST {path} HTTP/1.1\r\nHost: {host}:{port}\r\nContent-Length: {len(body)}\r\n"
        head += "Connection: close\r\n" + "".join(f"{k}: {v}\r\n" for k, v in headers.items()) + "\r\n"
        writer.write(head.encode() + body)
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    status_line, _, rest = data.partition(b"\r\n")
    return int(status_line.split(b" ")[1]), json.loads(rest.partition(b"\r\n\r\n")[2])


async def deliver_all(host: str, port: int) -> list[tuple[int, Any] | BaseException]:
    body = json.dumps(push(f"notebooks/{ANOMALY}.ipynb")).encode()
    signature = github_signature(SECRET, body)

    async def one() -> tuple[int, Any]:
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": str(uuid.uuid4()),
            "X-Hub-Signature-256": signature,
            "Content-Type": "application/json",
        }
        return await asyncio.wait_for(post(host, port, "/hooks/github", body, headers), timeout=60)

    return await asyncio.gather(*(one() for _ in range(N)), return_exceptions=True)


@pytest.mark.parametrize(("policy", "started", "queued"), [("Forbid", 1, 0), ("Queue", 1, 3)])
def test_flood_of_deliveries_for_one_model(tmp_path: Path, policy: str, started: int, queued: int) -> None:
    config = service_config(tmp_path, CONFIG)
    service = make_service(config, tmp_path / "home", tmp_path / "registry", policy=policy, limit=3)
    hold = tmp_path / "registry" / f"hold-{ANOMALY}"
    hold.touch()  # the first run keeps running through the flood
    try:
        with served(service, config) as server:
            began = time.monotonic()
            answers = asyncio.run(deliver_all(server.host, server.port))
            elapsed = time.monotonic() - began
            lost = [a for a in answers if isinstance(a, BaseException)]
            assert not lost, lost[:3]  # every request got an answer
            responses = [a for a in answers if not isinstance(a, BaseException)]
            codes = Counter(status for status, _ in responses)
            words = Counter(body["status"] for _, body in responses)
            assert codes == Counter({202: started + queued, 409: N - started - queued}), (codes, words)
            assert words == Counter({"started": started, "queued": queued, "refused": N - started - queued})
            assert elapsed < 60

            runs = service.store.list_runs(label={"retrain.dev/model": ANOMALY})
            assert len(runs) == N  # refused runs are recorded too (Failed, reason Refused)
            states = Counter(r.state for r in runs)
            assert states["Running"] == 1
            assert states["Pending"] == queued
            assert sum(1 for r in runs if r.reason == "Refused") == N - started - queued
            hold.unlink()
            wait_until(lambda: not service.launcher.active, timeout_s=60, what="the runs to finish")
            finished = Counter(r.state for r in service.store.list_runs())
            assert finished == Counter({"Succeeded": started + queued, "Failed": N - started - queued})
    finally:
        hold.unlink(missing_ok=True)
        service.close()
