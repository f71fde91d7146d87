"""The launcher (the seam of webhooks, API and scheduler), the delivery log and the rate limiter."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from fixtures.service_helpers import ANOMALY, FORECAST, platform
from retrain.engine.engine import RunResult
from retrain.errors import InvalidInput, TemporaryError
from retrain.triggers.config import training_request
from retrain.triggers.dedupe import DeliveryLog
from retrain.triggers.limits import Limits, RateLimiter, TokenBucket


def test_outcomes_follow_the_policy(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, limit=1) as p:
            launch = p.service.launch
            req = training_request(p.service.config, ANOMALY, "cron", serving_url="http://s")
            p.hold(ANOMALY)
            first, second, third = [await launch(req) for _ in range(3)]
            assert (first.outcome, second.outcome, third.outcome) == ("started", "queued", "refused")
            assert "queue is full" in third.reason
            assert p.service.launcher.active == [first.run, second.run]
            replace = await launch(
                training_request(p.service.config, ANOMALY, "cron", serving_url="", policy="Replace")
            )
            assert replace.outcome == "queued"
            assert "Replace" in replace.reason
            p.release(ANOMALY)
            await p.settle()
            states: dict[str | None, str] = {r.name: r.state for r in p.runs()}
            assert states[first.run] == "Cancelled"  # replaced
            assert states[replace.run] == "Succeeded"
            other = await launch(training_request(p.service.config, FORECAST, "cron", serving_url=""))
            assert other.outcome == "started"  # the key is the model: another model runs at once

    asyncio.run(go())


def test_graceful_shutdown_cancels_after_the_grace_and_refuses_new_runs(tmp_path: Path) -> None:
    finished: list[RunResult] = []

    async def go() -> None:
        async with platform(tmp_path) as p:
            p.service.launcher.on_finished = finished.append
            req = training_request(p.service.config, ANOMALY, "api", serving_url="")
            p.hold(ANOMALY)
            running = await p.service.launch(req)
            queued = await p.service.launch(req)
            drained = asyncio.create_task(p.service.drain(grace_s=0.3))
            await asyncio.sleep(0)  # the drain has begun: new runs are refused (503)
            with pytest.raises(TemporaryError, match="shutting down"):
                await p.service.launch(req)
            answer = await p.start({"model": ANOMALY})
            assert answer.status_code == 503
            assert answer.headers["retry-after"] == "30"
            await drained
            states: dict[str | None, tuple[str, str | None]] = {r.name: (r.state, r.reason) for r in p.runs()}
            assert states[queued.run] == ("Cancelled", "Cancelled")
            assert states[running.run][0] == "Cancelled"
            assert not p.service.launcher.active

    asyncio.run(go())
    assert sorted(r.reason for r in finished) == ["Cancelled", "Cancelled"]  # on_finished heard both


def test_a_request_is_checked_before_anything_is_recorded(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            req = training_request(p.service.config, "custom-thing", "api", serving_url="")
            with pytest.raises(InvalidInput, match="--notebook-path"):
                await p.service.launch(req)
            assert p.runs() == []

    asyncio.run(go())


def test_delivery_log_claims_once_persists_and_stays_bounded(tmp_path: Path) -> None:
    now = [datetime(2026, 1, 1, tzinfo=UTC)]
    path = tmp_path / "deliveries.db"
    with DeliveryLog(path, capacity=3, clock=lambda: now[0]) as log:
        assert log.claim("a")
        assert not log.claim("a")
        log.record("a", "started run-1")
        assert log.seen("a") == "started run-1"
        assert log.claim("b")
        log.release("b")
        assert log.seen("b") is None
        assert log.claim("b")
    with DeliveryLog(path, capacity=3, clock=lambda: now[0]) as log:  # a restart
        assert not log.claim("a")
        for key in ("c", "d", "e"):
            assert log.claim(key)
        assert log.prune() == 2  # capacity 3: the oldest go
        assert len(log) == 3
        assert log.claim("a")  # forgotten, as the capacity says
        now[0] += timedelta(days=8)
        assert log.prune() == 4  # past the retention (capacity is applied at each prune)
        assert len(log) == 0


def test_token_bucket_and_limiter_on_a_fake_clock() -> None:
    bucket = TokenBucket(rate=2.0, capacity=2, now=0.0)
    assert [bucket.take(0.0), bucket.take(0.0)] == [0.0, 0.0]
    assert bucket.take(0.0) == pytest.approx(0.5)
    assert bucket.take(0.5) == 0.0
    now = [0.0]
    limiter = RateLimiter(Limits(rate_per_s=1, burst=1, max_clients=2), clock=lambda: now[0])
    assert limiter.check("a", "github") is None
    assert limiter.check("a", "github") == pytest.approx(1.0)
    assert limiter.check("a", "alertmanager") is None  # each receiver has its own bucket
    assert limiter.check("b", "github") is None
    assert len(limiter) == 2  # bounded: the least recently used client was dropped
    assert limiter.check("a", "github") is None  # a dropped client starts again with a full bucket
    now[0] += 1.0
    assert limiter.check("b", "github") is None
    assert limiter.body_limit("github") == 5 * 1024 * 1024
    with pytest.raises(InvalidInput, match="rate limit"):
        Limits(rate_per_s=0)
