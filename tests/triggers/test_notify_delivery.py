"""Run-completion notifications against a real local HTTP receiver: shape, retries, filters, no blocking."""

from __future__ import annotations

import asyncio
import dataclasses
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import pytest

from fixtures.alertmanager import Received, Receiver, Script, http_receiver  # noqa: F401
from retrain.errors import InvalidInput
from retrain.triggers.notify import Notifier, RunCompletion, completion_from_run
from retrain.triggers.notify_config import Backoff, NotifyTarget, load_notifications, parse_notifications

Make = Callable[[Script], Receiver]
DONE = RunCompletion(
    run="anomaly-detector-cron-x7k2p", kind="failed", model="anomaly-detector", version="7",
    reason="Failed", message="Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 3",
    pipeline="model-training-pipeline", trigger="cron",
    finished_at=datetime(2026, 1, 4, 2, 9, 30, tzinfo=UTC),
)  # fmt: skip


class FakeSleep:
    def __init__(self) -> None:
        self.slept: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.slept.append(seconds)


def _deliver(notifier: Notifier, completion: RunCompletion = DONE) -> None:
    async def go() -> None:
        notifier.notify(completion)
        await notifier.drain(30)

    asyncio.run(go())


def test_a_cloudevent_in_structured_mode(http_receiver: Make) -> None:  # noqa: F811
    receiver = http_receiver([(202, "")])
    notifier = Notifier(
        [NotifyTarget(receiver.url + "/events")], source="/retrain/test", new_id=lambda: "id-1"
    )
    _deliver(notifier)
    (got,) = receiver.requests
    assert got.path == "/events"
    assert got.headers["content-type"] == "application/cloudevents+json; charset=utf-8"
    assert got.json() == {
        "specversion": "1.0",
        "id": "id-1",
        "source": "/retrain/test",
        "type": "dev.retrain.pipelinerun.failed.v1",
        "subject": "anomaly-detector-cron-x7k2p",
        "time": "2026-01-04T02:09:30Z",
        "datacontenttype": "application/json",
        "data": {
            "run": "anomaly-detector-cron-x7k2p", "model": "anomaly-detector", "version": "7",
            "reason": "Failed",
            "message": "Tasks Completed: 2 (Failed: 1, Cancelled 0), Skipped: 3",
            "pipeline": "model-training-pipeline", "trigger": "cron", "summary": "",
        },
    }  # fmt: skip
    assert [d.outcome for d in notifier.deliveries] == ["delivered"]


def test_slack_text(http_receiver: Make) -> None:  # noqa: F811
    receiver = http_receiver([(200, "ok")])
    _deliver(Notifier([NotifyTarget(receiver.url, format="slack")]))
    body = receiver.requests[0].json()
    assert set(body) == {"text"}
    assert body["text"].startswith(
        ":x: retrain run `anomaly-detector-cron-x7k2p` failed, model *anomaly-detector*"
    )
    assert "reason: Failed" in body["text"] and "\n> Tasks Completed" in body["text"]
    assert receiver.requests[0].headers["content-type"] == "application/json"


def test_retries_with_backoff_keep_the_event_id(http_receiver: Make) -> None:  # noqa: F811
    receiver = http_receiver([(503, "busy"), (500, "oops"), (429, ""), (200, "")])
    sleep = FakeSleep()
    target = NotifyTarget(receiver.url, attempts=5, backoff=Backoff(initial_s=1, factor=2, max_s=3))
    notifier = Notifier([target], sleep=sleep)
    _deliver(notifier)
    assert len(receiver.requests) == 4
    assert sleep.slept == [1, 2, 3]  # exponential, capped at max_s
    assert len({r.json()["id"] for r in receiver.requests}) == 1
    assert notifier.deliveries[0].outcome == "delivered" and notifier.deliveries[0].attempts == 4


def test_retry_after_is_honoured_up_to_the_cap(http_receiver: Make) -> None:  # noqa: F811
    def answer(got: Received) -> tuple[int, str]:
        return (200, "") if len(receiver.requests) > 1 else (429, "")

    receiver = http_receiver(answer)
    sleep = FakeSleep()
    notifier = Notifier([NotifyTarget(receiver.url, backoff=Backoff(initial_s=0.5, max_s=30))], sleep=sleep)
    # The scripted server cannot send Retry-After, so check the policy with a mock transport as well.
    import httpx

    calls: list[int] = []

    def handler(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(429, headers={"Retry-After": "120"}) if len(calls) == 1 else httpx.Response(204)

    mocked = Notifier([NotifyTarget("http://hooks.test/x", backoff=Backoff(initial_s=0.5, max_s=30))],
                      sleep=sleep, transport=httpx.MockTransport(handler))  # fmt: skip
    _deliver(mocked)
    assert sleep.slept == [30]  # Retry-After 120 s, capped at the backoff's maximum
    _deliver(notifier)
    assert notifier.deliveries[0].outcome == "delivered"


def test_a_refusing_or_absent_receiver_is_given_up_on(http_receiver: Make) -> None:  # noqa: F811
    receiver = http_receiver([(400, "bad event")])
    sleep = FakeSleep()
    notifier = Notifier([NotifyTarget(receiver.url, attempts=4)], sleep=sleep)
    _deliver(notifier)
    assert len(receiver.requests) == 1 and sleep.slept == []  # a 4xx is not retried
    assert notifier.deliveries[0].outcome == "failed" and "HTTP 400" in notifier.deliveries[0].error

    nobody = Notifier([NotifyTarget("http://127.0.0.1:9/", attempts=3, timeout_s=2)], sleep=sleep)
    _deliver(nobody)
    assert nobody.deliveries[0].outcome == "failed" and nobody.deliveries[0].attempts == 3
    assert "ConnectError" in nobody.deliveries[0].error


def test_failure_only_targets(http_receiver: Make) -> None:  # noqa: F811
    receiver = http_receiver([(200, "")])
    notifier = Notifier([NotifyTarget(receiver.url, events=frozenset({"failed"}))])
    ok = RunCompletion(run="r1", kind="successful", model="anomaly-detector")
    cancelled = RunCompletion(run="r2", kind="cancelled")

    async def go() -> None:
        assert notifier.notify(ok) == []
        assert notifier.notify(cancelled) == []
        assert len(notifier.notify(DONE)) == 1
        await notifier.drain(30)

    asyncio.run(go())
    assert [r.json()["type"] for r in receiver.requests] == ["dev.retrain.pipelinerun.failed.v1"]


def test_notify_never_blocks_the_caller(http_receiver: Make) -> None:  # noqa: F811
    release = threading.Event()

    def slow(got: Received) -> tuple[int, str]:
        release.wait(10)  # the receiver hangs until the test lets it answer
        return 200, ""

    receiver = http_receiver(slow)
    notifier = Notifier([NotifyTarget(receiver.url, timeout_s=20)])

    async def go() -> float:
        started = time.perf_counter()
        tasks = notifier.notify(DONE)
        spent = time.perf_counter() - started
        assert notifier.pending == 1 and not tasks[0].done()
        await asyncio.sleep(0.05)  # the delivery is in flight while the caller goes on
        assert not tasks[0].done()
        release.set()
        await notifier.drain(30)
        return spent

    assert asyncio.run(go()) < 0.05
    assert notifier.pending == 0 and notifier.deliveries[0].outcome == "delivered"
    assert len(receiver.requests) == 1


def test_completion_from_the_run_store() -> None:
    status = {
        "conditions": [
            {"type": "Succeeded", "status": "True", "reason": "Succeeded", "message": "Tasks Completed: 5"}
        ],
        "results": [{"name": "model-version", "value": "12"}, {"name": "verdict", "value": "blessed"}],
    }
    labels = {"retrain.dev/model": "anomaly-detector", "retrain.dev/trigger": "drift-alert",
              "tekton.dev/pipeline": "model-training-pipeline"}  # fmt: skip
    done = completion_from_run(
        "ad-drift-alert-abc", "Succeeded", reason="Succeeded", labels=labels, status=status
    )
    assert (done.kind, done.model, done.version, done.trigger, done.pipeline) == (
        "successful", "anomaly-detector", "12", "drift-alert", "model-training-pipeline",
    )  # fmt: skip
    assert completion_from_run("x", "Cancelled", reason="Cancelled", labels={}, status={}).kind == "cancelled"
    failed = completion_from_run("x", "Failed", reason="Refused", labels={}, status={"results": []})
    assert failed.kind == "failed" and failed.version is None


def test_the_notifications_section(tmp_path: Path) -> None:
    config = tmp_path / "retrain.yaml"
    config.write_text(
        "notifications:\n"
        "  - url: http://events.local/in\n"
        "    events: [failed]\n"
        "  - url_env: SLACK_URL\n"
        "    format: slack\n"
        "    headers_env: {Authorization: HOOK_TOKEN}\n"
        "    backoff: {initial_seconds: 2, max_seconds: 10}\n"
    )
    env = {"SLACK_URL": "https://hooks.slack.test/T1/B2", "HOOK_TOKEN": "Bearer s3cret"}
    first, second = load_notifications(config, env)
    assert first.events == frozenset({"failed"}) and first.format == "cloudevents" and first.attempts == 4
    assert second.url == "https://hooks.slack.test/T1/B2" and second.headers == {
        "Authorization": "Bearer s3cret"
    }
    assert second.backoff == Backoff(initial_s=2, factor=2, max_s=10)
    with pytest.raises(InvalidInput, match="SLACK_URL") as err:
        load_notifications(config, {"HOOK_TOKEN": "x"})
    assert err.value.location is not None and err.value.location.field == "notifications[1].url_env"
    with pytest.raises(InvalidInput, match="exactly one of url and url_env"):
        parse_notifications([{"format": "slack"}])
    with pytest.raises(InvalidInput, match=r"Input should be 'successful', 'failed' or 'cancelled'"):
        parse_notifications([{"url": "http://x", "events": ["failure"]}])
    assert parse_notifications(None) == []


def test_the_read_back_summary_travels_with_the_event(http_receiver: Make) -> None:  # noqa: F811
    said = "new version 7 was deployed, failed its post-deployment check and was rolled back: ..."
    receiver = http_receiver([(202, ""), (200, "ok")])
    completion = dataclasses.replace(DONE, summary=said)
    _deliver(Notifier([NotifyTarget(receiver.url + "/events")], new_id=lambda: "id-2"), completion)
    _deliver(Notifier([NotifyTarget(receiver.url, format="slack")]), completion)
    event, slack = receiver.requests
    assert event.json()["data"]["summary"] == said
    assert said in slack.json()["text"]
