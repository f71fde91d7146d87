"""The `notifications:` section of retrain.yaml: where to POST an event when a run ends.

```yaml
notifications:
  - url: https://events.example.com/retrain    # or url_env: NAME (a secret URL, e.g. a Slack webhook)
    format: cloudevents                        # cloudevents (structured JSON) | slack ({"text": ...})
    events: [successful, failed, cancelled]    # only on failure: [failed] (or [failed, cancelled])
    headers: {X-Team: ml}                      # plain headers
    headers_env: {Authorization: NOTIFY_AUTH}  # header values read from environment variables
    timeout_seconds: 5
    attempts: 4                                # tries in all (connection errors, 429 and 5xx are retried)
    backoff: {initial_seconds: 1, factor: 2, max_seconds: 30}
```
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, model_validator

from retrain.drift.yamlsection import Section, read_section, validate
from retrain.errors import InvalidInput, Location

DOCS = "docs/schedules.md#notifications"
EventKind = Literal["successful", "failed", "cancelled"]
EVENT_KINDS: tuple[EventKind, ...] = ("successful", "failed", "cancelled")
_URL = re.compile(r"^https?://[^/\s]+")


class BackoffModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    initial_seconds: float = Field(1.0, ge=0)
    factor: float = Field(2.0, ge=1)
    max_seconds: float = Field(30.0, ge=0)


class TargetModel(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str | None = None
    url_env: str | None = None
    format: Literal["cloudevents", "slack"] = "cloudevents"
    events: list[EventKind] = Field(default_factory=lambda: list(EVENT_KINDS), min_length=1)
    headers: dict[str, str] = Field(default_factory=dict)
    headers_env: dict[str, str] = Field(default_factory=dict)
    timeout_seconds: float = Field(5.0, gt=0, le=300)
    attempts: int = Field(4, ge=1, le=20)
    backoff: BackoffModel = BackoffModel()

    @model_validator(mode="after")
    def _one_url(self) -> TargetModel:
        if (self.url is None) == (self.url_env is None):
            raise ValueError("give exactly one of url and url_env")
        if self.url is not None and not _URL.match(self.url):
            raise ValueError(f"url {self.url!r} is not an http(s) URL")
        return self


class NotificationsSection(RootModel[list[TargetModel]]):
    root: list[TargetModel] = Field(default_factory=list)


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 1.0
    factor: float = 2.0
    max_s: float = 30.0

    def delay(self, failures: int) -> float:
        """Seconds to wait after the `failures`-th failed try (1-based)."""
        return float(min(self.max_s, self.initial_s * self.factor ** (failures - 1)))


@dataclass(frozen=True)
class NotifyTarget:
    url: str
    format: Literal["cloudevents", "slack"] = "cloudevents"
    events: frozenset[str] = frozenset(EVENT_KINDS)
    headers: Mapping[str, str] = field(default_factory=dict)
    timeout_s: float = 5.0
    attempts: int = 4
    backoff: Backoff = field(default_factory=Backoff)

    def wants(self, kind: str) -> bool:
        return kind in self.events


def to_targets(
    section: NotificationsSection, environ: Mapping[str, str] | None = None, *, file: str | None = None
) -> list[NotifyTarget]:
    """Resolve `url_env`/`headers_env` now; a missing variable is an error that names it."""
    env = os.environ if environ is None else environ
    out: list[NotifyTarget] = []
    for i, spec in enumerate(section.root):
        url = spec.url
        if spec.url_env is not None:
            url = env.get(spec.url_env, "").strip()
            if not _URL.match(url):
                raise InvalidInput(
                    f"environment variable {spec.url_env} (the notification URL) is unset or not a URL",
                    location=Location(file=file, field=f"notifications[{i}].url_env"),
                    hint=f"export {spec.url_env}=https://...",
                )
        headers = dict(spec.headers)
        for header, variable in spec.headers_env.items():
            value = env.get(variable, "")
            if not value:
                raise InvalidInput(
                    f"environment variable {variable} (header {header}) is unset or empty",
                    location=Location(file=file, field=f"notifications[{i}].headers_env.{header}"),
                    hint=f"export {variable}=...",
                )
            headers[header] = value
        b = spec.backoff
        out.append(
            NotifyTarget(
                url=url or "",
                format=spec.format,
                events=frozenset(spec.events),
                headers=headers,
                timeout_s=spec.timeout_seconds,
                attempts=spec.attempts,
                backoff=Backoff(b.initial_seconds, b.factor, b.max_seconds),
            )
        )
    return out


def parse_notifications(
    data: object,
    environ: Mapping[str, str] | None = None,
    *,
    file: str = "<notifications>",
    node: object = None,
) -> list[NotifyTarget]:
    if data is None:
        return []
    parsed = validate(NotificationsSection, Section("notifications", data, node, file), docs=DOCS)
    return to_targets(parsed, environ, file=file)


def load_notifications(path: Path | None, environ: Mapping[str, str] | None = None) -> list[NotifyTarget]:
    if path is None:
        return []
    section = read_section(path, "notifications")
    return parse_notifications(section.data, environ, file=section.file, node=section.node)
