"""What the HTTP layer needs from the service, as Protocols.

`retrain.api` and `retrain.triggers` are independent layers (import-linter): the API never imports the
launcher or the webhook logic. The service (`retrain.triggers.service.Service`) satisfies `Backend`
structurally, and `retrain serve` hands it to `create_api`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from retrain.runs.store import RunStore


class Outcome(Protocol):
    """What the launcher decided for one run (`retrain.triggers.launcher.Launch`)."""

    @property
    def outcome(self) -> str: ...  # started | queued | refused | ignored

    @property
    def run(self) -> str | None: ...

    @property
    def reason(self) -> str: ...


class HookReply(Protocol):
    """What a webhook receiver did with one event: the runs it launched (maybe none) and why."""

    @property
    def launches(self) -> Sequence[Outcome]: ...

    @property
    def reason(self) -> str: ...


class Limiter(Protocol):
    def check(self, client: str, receiver: str) -> float | None:
        """None to go on, else the seconds to wait (429, Retry-After)."""

    def body_limit(self, receiver: str) -> int:
        """The largest body the receiver reads (413 beyond)."""


class Backend(Protocol):
    @property
    def store(self) -> RunStore: ...

    @property
    def registry_root(self) -> Path: ...

    @property
    def accepting(self) -> bool: ...

    async def start_run(
        self,
        *,
        model: str,
        training_hours: str | None,
        data_source: str | None,
        notebook_path: str | None,
        inference_service: str | None,
        gpu: bool | None,
        health_check: bool | None,
    ) -> Outcome: ...

    async def rerun_run(self, run: str, *, from_failed: bool) -> Outcome: ...

    async def github_event(self, event: str, delivery: str, payload: Any) -> HookReply: ...

    async def alertmanager_event(self, payload: Any) -> HookReply: ...


@dataclass(frozen=True)
class Credentials:
    """The secrets the receivers check; None closes that receiver (403), except Alertmanager's: open."""

    api_token: str | None = None
    github_secret: str | None = None
    alertmanager_token: str | None = None

    def __repr__(self) -> str:  # never print a secret
        def shown(value: str | None) -> str:
            return "set" if value else "unset"

        return (
            f"Credentials(api_token={shown(self.api_token)}, github_secret={shown(self.github_secret)}, "
            f"alertmanager_token={shown(self.alertmanager_token)})"
        )
