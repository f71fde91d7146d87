"""Run-completion notifications: a CloudEvent (or a Slack-style `{"text": ...}`) POSTed to each target.

`Notifier.notify(completion)` returns at once: every delivery is a background task on the running event
loop, retried with exponential backoff on connection errors, 429 and 5xx (a `Retry-After` of up to the
backoff's maximum is honoured), and given up on any other 4xx. The pipeline never waits for a receiver;
`drain()` waits for pending deliveries (shutdown, tests).

CloudEvents 1.0, structured content mode (`Content-Type: application/cloudevents+json`): `specversion`,
`id` (the same on every retry, so receivers can drop duplicates), `source`, `type`
(`dev.retrain.pipelinerun.successful.v1` / `.failed.v1` / `.cancelled.v1`, after Tekton's
`dev.tekton.event.pipelinerun.*.v1`), `subject` (the run), `time`, `datacontenttype` and `data` with the
run, model, version, reason and more.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from retrain.triggers.notify_config import EventKind, NotifyTarget

log = logging.getLogger(__name__)

EVENT_TYPE = "dev.retrain.pipelinerun.{kind}.v1"
CONTENT_TYPE = "application/cloudevents+json; charset=utf-8"
_ICONS = {"successful": ":white_check_mark:", "failed": ":x:", "cancelled": ":no_entry_sign:"}


@dataclass(frozen=True)
class RunCompletion:
    run: str
    kind: EventKind  # successful | failed | cancelled
    model: str | None = None
    version: str | None = None  # the version the run registered, when it got that far
    reason: str = ""  # Tekton's reason: Succeeded, Completed, Failed, Cancelled, ...
    message: str = ""
    pipeline: str | None = None
    trigger: str | None = None
    finished_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    summary: str = ""  # what holds now (which version serves, read back), for training runs


def completion_from_run(
    name: str, state: str, *, reason: str | None, labels: Mapping[str, str], status: Mapping[str, Any],
    pipeline: str | None = None, finished_at: datetime | None = None, summary: str = "",
) -> RunCompletion:  # fmt: skip
    """A completion from what the run store records (`RunRecord`'s fields)."""
    kind: EventKind = (
        "successful" if state == "Succeeded" else "cancelled" if state == "Cancelled" else "failed"
    )
    results = {r.get("name"): r.get("value") for r in status.get("results", []) if isinstance(r, Mapping)}
    conditions = [c for c in status.get("conditions", []) if isinstance(c, Mapping)]
    version = results.get("model-version")
    return RunCompletion(
        run=name,
        kind=kind,
        model=labels.get("retrain.dev/model"),
        version=None if version in (None, "") else str(version),
        reason=reason or "",
        message=str(conditions[0].get("message", "")) if conditions else "",
        pipeline=pipeline or labels.get("tekton.dev/pipeline"),
        trigger=labels.get("retrain.dev/trigger"),
        finished_at=finished_at or datetime.now(UTC),
        summary=summary,
    )


def cloudevent(completion: RunCompletion, *, source: str, event_id: str) -> dict[str, Any]:
    return {
        "specversion": "1.0",
        "id": event_id,
        "source": source,
        "type": EVENT_TYPE.format(kind=completion.kind),
        "subject": completion.run,
        "time": completion.finished_at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
        "datacontenttype": "application/json",
        "data": {
            "run": completion.run,
            "model": completion.model,
            "version": completion.version,
            "reason": completion.reason,
            "message": completion.message,
            "pipeline": completion.pipeline,
            "trigger": completion.trigger,
            "summary": completion.summary,
        },
    }


def slack_message(completion: RunCompletion) -> dict[str, str]:
    verb = {"successful": "succeeded", "failed": "failed", "cancelled": "was cancelled"}[completion.kind]
    parts = [f"{_ICONS[completion.kind]} retrain run `{completion.run}` {verb}"]
    if completion.model:
        parts.append(
            f"model *{completion.model}*" + (f" version {completion.version}" if completion.version else "")
        )
    if completion.reason:
        parts.append(f"reason: {completion.reason}")
    text = ", ".join(parts)
    if completion.message:
        text += f"\n> {completion.message}"
    if completion.summary:
        text += f"\n> {completion.summary}"
    return {"text": text}


@dataclass(frozen=True)
class Delivery:
    url: str
    event_id: str
    outcome: Literal["delivered", "failed"]
    attempts: int
    status: int | None
    error: str = ""


Sleep = Callable[[float], Awaitable[None]]


class Notifier:
    def __init__(
        self,
        targets: list[NotifyTarget],
        *,
        source: str = "/retrain",
        transport: Any = None,
        sleep: Sleep = asyncio.sleep,
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
        on_delivery: Callable[[Delivery], None] | None = None,
    ) -> None:
        self.targets = list(targets)
        self.source = source
        self._transport = transport
        self._sleep = sleep
        self._new_id = new_id
        self._on_delivery = on_delivery
        self._tasks: set[asyncio.Task[Delivery]] = set()
        self.deliveries: list[Delivery] = []

    def notify(self, completion: RunCompletion) -> list[asyncio.Task[Delivery]]:
        """Start one background delivery per interested target and return at once (call from the loop)."""
        started = []
        event_id = self._new_id()
        for target in self.targets:
            if not target.wants(completion.kind):
                continue
            body = (
                slack_message(completion)
                if target.format == "slack"
                else cloudevent(completion, source=self.source, event_id=event_id)
            )
            task = asyncio.get_running_loop().create_task(self._guarded(target, body, event_id))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
            started.append(task)
        return started

    @property
    def pending(self) -> int:
        return len(self._tasks)

    async def drain(self, timeout_s: float | None = None) -> None:
        """Wait for the pending deliveries (at most `timeout_s`; the rest are cancelled)."""
        if not self._tasks:
            return
        _, late = await asyncio.wait(set(self._tasks), timeout=timeout_s)
        for task in late:
            task.cancel()

    async def _guarded(self, target: NotifyTarget, body: Mapping[str, Any], event_id: str) -> Delivery:
        try:
            return await self.deliver(target, body, event_id)
        except Exception as err:  # a background task must end with a result, never an unseen exception
            log.exception("notification %s to %s failed", event_id, target.url)
            return self._done(
                Delivery(target.url, event_id, "failed", 0, None, f"{type(err).__name__}: {err}")
            )

    async def deliver(self, target: NotifyTarget, body: Mapping[str, Any], event_id: str) -> Delivery:
        import httpx

        headers = {"Content-Type": "application/json" if target.format == "slack" else CONTENT_TYPE}
        headers.update(target.headers)
        status: int | None = None
        error = ""
        attempt = 0
        async with httpx.AsyncClient(timeout=target.timeout_s, transport=self._transport) as client:
            for attempt in range(1, target.attempts + 1):
                wait = target.backoff.delay(attempt)
                try:
                    answer = await client.post(target.url, json=dict(body), headers=headers)
                except httpx.HTTPError as err:
                    status, error = None, f"{type(err).__name__}: {err}"
                else:
                    status = answer.status_code
                    if status < 300:
                        return self._done(Delivery(target.url, event_id, "delivered", attempt, status))
                    error = f"HTTP {status}: {answer.text.strip()[:200]}"
                    if status != 429 and status < 500:
                        break  # the receiver refused this event: sending it again would not help
                    wait = max(
                        wait, min(_retry_after(answer.headers.get("Retry-After")), target.backoff.max_s)
                    )
                if attempt < target.attempts:
                    await self._sleep(wait)
        log.warning(
            "notification %s to %s failed after %d attempt(s): %s", event_id, target.url, attempt, error
        )
        return self._done(Delivery(target.url, event_id, "failed", attempt, status, error))

    def _done(self, delivery: Delivery) -> Delivery:
        self.deliveries.append(delivery)
        if self._on_delivery is not None:
            self._on_delivery(delivery)
        return delivery


def _retry_after(value: str | None) -> float:
    try:
        return max(0.0, float(value)) if value else 0.0
    except ValueError:
        return 0.0
