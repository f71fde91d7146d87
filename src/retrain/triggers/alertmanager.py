"""Alertmanager webhooks (payload version 4): a firing drift alert retrains the model it names.

An alert counts when it is firing, its `alertname` is one of the configured names (default `ModelDrift`)
and its labels name a known model (label `model` by default). Resolved alerts, other alert names and
unknown models are ignored, and the answer says so. Alertmanager re-sends a firing alert every
`repeat_interval` with the same fingerprint and `startsAt`: that pair is claimed in the delivery log, so one
episode of drift retrains once; a new episode (a new `startsAt`) retrains again. When the model's
concurrency policy refuses the run, the claim is released and the next notification may try again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from retrain.errors import InvalidInput, InvalidInputs, Location, RetrainError
from retrain.tekton.loader import SourceMap
from retrain.tekton.problems import validation_problems
from retrain.triggers.answers import alert_names, recorded
from retrain.triggers.config import RetrainConfig, known_models, training_request
from retrain.triggers.dedupe import DeliveryLog
from retrain.triggers.launcher import HookResult, Launch, LaunchFn

PAYLOAD_VERSION = "4"


class Alert(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True, populate_by_name=True)

    status: Literal["firing", "resolved"]
    labels: dict[str, str] = Field(default_factory=dict)
    starts_at: str = Field(alias="startsAt", min_length=1, max_length=64)
    fingerprint: str = Field("", max_length=128)

    def key(self) -> str:
        """Fingerprint and startsAt: one episode of one alert (labels hashed when there is no fingerprint)."""
        fingerprint = (
            self.fingerprint or hashlib.sha256(repr(sorted(self.labels.items())).encode()).hexdigest()
        )
        return f"alertmanager:{fingerprint}:{self.starts_at}"


class Payload(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    version: str
    status: str = ""
    receiver: str = ""
    alerts: list[Alert]


def parse_payload(payload: Any) -> Payload:
    if not isinstance(payload, dict):
        raise InvalidInput("the Alertmanager payload must be a JSON object")
    version = payload.get("version")
    if version != PAYLOAD_VERSION:
        raise InvalidInput(
            f"unsupported Alertmanager payload version {version!r}; this receiver reads version 4",
            location=Location(field="version"),
            hint="point an Alertmanager webhook_config (any release since 0.x sends version 4) here",
        )
    try:
        return Payload.model_validate(payload)
    except ValidationError as exc:
        problems = validation_problems(exc, payload, Payload, SourceMap("alertmanager payload"))
        raise (problems[0] if len(problems) == 1 else InvalidInputs(problems)) from None


class AlertmanagerHook:
    def __init__(
        self,
        config: RetrainConfig,
        launch: LaunchFn,
        deliveries: DeliveryLog,
        *,
        serving_url: Callable[[], str],
    ) -> None:
        self.config = config
        self.settings = config.hooks.alertmanager
        self._launch = launch
        self._deliveries = deliveries
        self._serving_url = serving_url

    async def handle(self, payload: Any) -> HookResult:
        """Handle the notification and record the answer it gets (`retrain.app.hook_answers`)."""
        return await recorded(
            self._deliveries.path.parent, "alertmanager", alert_names(payload), self._handle(payload)
        )

    async def _handle(self, payload: Any) -> HookResult:
        parsed = parse_payload(payload)
        known = set(known_models(self.config))
        wanted: dict[str, list[str]] = {}  # model -> claimed keys
        notes: list[str] = []
        ignored = 0
        for alert in parsed.alerts:
            name = alert.labels.get("alertname", "")
            model = alert.labels.get(self.settings.model_label, "")
            why = self._skip(alert, name, model, known)
            if why is None and not self._deliveries.claim(alert.key()):
                why = f"{name} for {model} (startsAt {alert.starts_at}) was already handled"
            if why is not None:
                ignored += 1
                if len(notes) < 5:
                    notes.append(why)
                continue
            wanted.setdefault(model, []).append(alert.key())
        launches: list[Launch] = []
        pending = {key for keys in wanted.values() for key in keys}  # claimed, not yet acted on
        try:
            for model, keys in wanted.items():
                launch = await self._launch(
                    training_request(
                        self.config,
                        model,
                        "drift-alert",
                        serving_url=self._serving_url(),
                        labels={"retrain.dev/alert": _label(parsed.alerts, model, self.settings.model_label)},
                        policy=self.settings.concurrency_policy,
                    )
                )
                pending.difference_update(keys)
                launches.append(launch)
                for key in keys:
                    if launch.outcome == "refused":
                        self._deliveries.release(key)  # nothing started: the next notification may
                    else:
                        self._deliveries.record(key, f"{launch.outcome} {launch.run}")
                notes.insert(0, f"{model}: {launch.outcome} {launch.run or ''} - {launch.reason}")
        except RetrainError:
            for key in pending:  # not acted on: a later notification may try again
                self._deliveries.release(key)
            raise
        if ignored > 5:
            notes.append(f"{ignored - 5} more alerts ignored")
        if not parsed.alerts:
            notes.append("the payload has no alerts")
        return HookResult(tuple(launches), "; ".join(notes))

    def _skip(self, alert: Alert, name: str, model: str, known: set[str]) -> str | None:
        """Why the alert starts nothing, or None when it should retrain its model."""
        if alert.status != "firing":
            return f"{name or 'alert'} is {alert.status}"
        if name not in self.settings.alertnames:
            return f"alert {name!r} is not one of {', '.join(self.settings.alertnames)}"
        if not model:
            return f"{name} has no {self.settings.model_label!r} label naming a model"
        if model not in known:
            return f"{name} names model {model!r}, which this service does not train"
        return None


def _label(alerts: list[Alert], model: str, model_label: str) -> str:
    """The alert name, for the run's `retrain.dev/alert` label (a valid label value)."""
    name = next((a.labels.get("alertname", "") for a in alerts if a.labels.get(model_label) == model), "")
    cleaned = "".join(c if (c.isascii() and c.isalnum()) or c in "-_." else "-" for c in name)[:63].strip(
        "-_."
    )
    return cleaned or "alert"
