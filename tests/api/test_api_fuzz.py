"""Fuzzing every receiver with Hypothesis: whatever arrives, the answer is never a 5xx, always the JSON
`{status, run, reason}` shape, and a run is recorded exactly when the answer names it (202 started or
queued, 409 refused); a malformed request records none."""

from __future__ import annotations

import asyncio
import json
import string
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.service_helpers import (
    ANOMALY,
    SECRET,
    TOKEN,
    Platform,
    alert,
    alert_payload,
    platform,
    push,
)
from retrain.api import github_signature

SETTINGS = settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    database=None,
    derandomize=True,  # the same examples on every run: the coverage assertions below never flake
)
TEXT = st.text(alphabet=string.printable, max_size=30)
SEGMENT = "".join(c for c in string.ascii_letters + string.digits + string.punctuation if c not in "/?#%")
HEADER = st.text(alphabet=string.ascii_letters + string.digits + "-_=.;/ ", max_size=40)
# Mostly JSON, as the receivers read; sometimes another type or none (415).
CONTENT_TYPES = st.sampled_from(
    ["application/json", "application/json", "application/json; charset=utf-8", "text/plain", ""]
)
JSON: st.SearchStrategy[Any] = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def mutated(valid: dict[str, Any]) -> st.SearchStrategy[Any]:
    """A valid payload with one key replaced by anything, removed, or added."""
    keys = st.sampled_from(sorted(valid))
    replace = st.tuples(keys, JSON).map(lambda kv: {**valid, kv[0]: kv[1]})
    remove = keys.map(lambda k: {key: v for key, v in valid.items() if key != k})
    add = st.tuples(TEXT, JSON).map(lambda kv: {**valid, kv[0]: kv[1]})
    return replace | remove | add


def run_with_platform(tmp_path: Path, check: Callable[[Platform, asyncio.AbstractEventLoop], None]) -> None:
    """One service for all examples of a property (its own event loop, driven example by example)."""
    loop = asyncio.new_event_loop()
    try:
        context = platform(tmp_path, "limits:\n  rate_per_s: 100000\n  burst: 100000\n")
        p = loop.run_until_complete(context.__aenter__())
        try:
            check(p, loop)
        finally:
            loop.run_until_complete(context.__aexit__(None, None, None))
    finally:
        loop.close()


def honest(
    p: Platform, loop: asyncio.AbstractEventLoop, send: Callable[[], Awaitable[httpx.Response]]
) -> int:
    before = len(p.store.list_runs())
    answer = loop.run_until_complete(send())
    after = len(p.store.list_runs())
    assert answer.status_code < 500, answer.text
    body = answer.json()
    assert isinstance(body, dict)
    if answer.status_code >= 300 or answer.request.method == "POST":
        assert {"status", "run", "reason"} <= set(body), body
    if answer.status_code in (202, 409) and body["status"] in ("started", "queued", "refused"):
        named = [r for r in body.get("runs", [{"run": body["run"]}]) if r["run"]]
        assert after - before == len(named), body
    else:
        assert after == before, body  # a malformed (or ignored) request records no run
    return answer.status_code


def test_github_receiver(tmp_path: Path) -> None:
    seen: set[int] = set()
    payloads = st.one_of(JSON, mutated(push(f"notebooks/{ANOMALY}.ipynb")))
    events = st.sampled_from(["push", "push", "push", "ping", "issues"]) | HEADER
    deliveries = st.uuids().map(str) | HEADER

    def check(p: Platform, loop: asyncio.AbstractEventLoop) -> None:
        @SETTINGS
        @given(
            payload=payloads,
            event=events,
            delivery=deliveries,
            signed=st.booleans(),
            raw=st.binary(max_size=64),
            content_type=CONTENT_TYPES,
        )
        def one(payload: Any, event: str, delivery: str, signed: bool, raw: bytes, content_type: str) -> None:
            body = json.dumps(payload).encode() if payload is not None else raw
            headers = {"X-GitHub-Event": event, "X-GitHub-Delivery": delivery, "Content-Type": content_type}
            headers["X-Hub-Signature-256"] = github_signature(SECRET if signed else "guess", body)
            seen.add(honest(p, loop, lambda: p.client.post("/hooks/github", content=body, headers=headers)))

        one()
        assert {200, 202, 400, 401, 415} <= seen, seen  # the fuzzing reached every kind of answer

    run_with_platform(tmp_path, check)


def test_alertmanager_receiver(tmp_path: Path) -> None:
    seen: set[int] = set()
    firing = alert(ANOMALY)
    payloads = st.one_of(
        JSON,
        mutated(alert_payload(firing)),
        mutated(firing).map(alert_payload),
        st.binary(max_size=64),
    )

    def check(p: Platform, loop: asyncio.AbstractEventLoop) -> None:
        @SETTINGS
        @given(payload=payloads)
        def one(payload: Any) -> None:
            body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
            headers = {"Authorization": "Bearer am-token-456", "Content-Type": "application/json"}
            seen.add(
                honest(p, loop, lambda: p.client.post("/hooks/alertmanager", content=body, headers=headers))
            )

        one()
        assert {200, 202, 400} <= seen, seen

    run_with_platform(tmp_path, check)


def test_api_writes(tmp_path: Path) -> None:
    seen: set[int] = set()
    valid = {"model": ANOMALY, "training_hours": "24", "data_source": "synthetic", "gpu": False}
    bodies = st.one_of(JSON, mutated(valid), st.binary(max_size=64))

    def check(p: Platform, loop: asyncio.AbstractEventLoop) -> None:
        @SETTINGS
        @given(body=bodies)
        def one(body: Any) -> None:
            raw = body if isinstance(body, bytes) else json.dumps(body).encode()
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
            seen.add(honest(p, loop, lambda: p.client.post("/api/v1/runs", content=raw, headers=headers)))

        one()
        assert {202, 400} <= seen, seen

    run_with_platform(tmp_path, check)


def test_api_routes_methods_and_queries(tmp_path: Path) -> None:
    seen: set[int] = set()
    paths = st.sampled_from(
        ["/api/v1/runs", "/api/v1/runs/x/cancel", "/api/v1/runs/x", "/api/v1/models", "/hooks/x"]
    ) | st.lists(st.text(alphabet=SEGMENT, min_size=1, max_size=12), max_size=4).map(
        lambda parts: "/api/v1/" + "/".join(parts)
    )

    def check(p: Platform, loop: asyncio.AbstractEventLoop) -> None:
        @SETTINGS
        @given(
            body=st.binary(max_size=32),
            path=paths,
            method=st.sampled_from(["GET", "POST", "PUT", "DELETE", "HEAD"]),
            query=st.lists(st.tuples(TEXT, TEXT), max_size=3),
            content_type=CONTENT_TYPES,
        )
        def one(
            body: bytes,
            path: str,
            method: str,
            query: list[tuple[str, str | int | float | bool | None]],
            content_type: str,
        ) -> None:
            if method == "HEAD":
                answer = loop.run_until_complete(p.client.head(path, params=query))
                assert answer.status_code < 500
                return
            headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": content_type}
            seen.add(
                honest(
                    p,
                    loop,
                    lambda: p.client.request(method, path, content=body, headers=headers, params=query),
                )
            )

        one()
        assert {200, 400, 404, 405} <= seen, seen

    run_with_platform(tmp_path, check)
