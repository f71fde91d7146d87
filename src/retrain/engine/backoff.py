"""Retry backoff, which Tekton lacks (tektoncd/pipeline#1209).

Configured without new spec fields, so the YAML stays valid for a real cluster: the annotation
`retrain.dev/retry-backoff: "initial=10s,factor=2,max=5m"` on the Pipeline (all tasks) or on the run, and
`retrain.dev/retry-backoff.<pipeline-task>` for one task. Without it retries start at once, as in Tekton.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from retrain.errors import InvalidInput, Location
from retrain.tekton.durations import parse_duration

ANNOTATION = "retrain.dev/retry-backoff"


@dataclass(frozen=True)
class Backoff:
    initial_s: float = 0.0
    factor: float = 2.0
    max_s: float = 300.0

    def delay(self, retry: int) -> float:
        """Seconds to wait before retry number `retry` (1 for the first retry)."""
        if self.initial_s <= 0 or retry < 1:
            return 0.0
        return min(self.max_s, self.initial_s * self.factor ** (retry - 1))


NO_BACKOFF = Backoff()


def parse_backoff(text: str, *, field: str = ANNOTATION) -> Backoff:
    values: dict[str, str] = {}
    for part in filter(None, (p.strip() for p in text.split(","))):
        key, sep, value = part.partition("=")
        if not sep or key.strip() not in {"initial", "factor", "max"}:
            raise InvalidInput(
                f"cannot read {part!r} in retry backoff {text!r}",
                location=Location(field=field),
                hint='write it as "initial=10s,factor=2,max=5m" (keys: initial, factor, max)',
            )
        values[key.strip()] = value.strip()
    try:
        factor = float(values.get("factor", "2"))
    except ValueError:
        raise InvalidInput(
            f"factor {values['factor']!r} is not a number",
            location=Location(field=field),
            hint="e.g. factor=2",
        ) from None
    if factor < 1:
        raise InvalidInput(
            f"factor {factor} is below 1", location=Location(field=field), hint="use 1 or more"
        )
    initial = parse_duration(values.get("initial", "0s"), field=f"{field}.initial").total_seconds()
    maximum = parse_duration(values.get("max", "5m"), field=f"{field}.max").total_seconds()
    return Backoff(initial_s=initial, factor=factor, max_s=max(maximum, initial))


def backoff_for(task: str, annotations: Mapping[str, str]) -> Backoff:
    text = annotations.get(f"{ANNOTATION}.{task}") or annotations.get(ANNOTATION)
    return parse_backoff(text) if text else NO_BACKOFF
