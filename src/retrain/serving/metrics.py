"""Prometheus metrics of the inference server, in the text exposition format, with KServe's metric names.

KServe's Python server exports `request_preprocess_seconds`, `request_predict_seconds` and
`request_postprocess_seconds` histograms labelled `model_name`; dashboards built for it work here. The
buckets start at 50 µs because a single-row request here takes well under a millisecond. A tiny in-house
histogram (a bisect and two additions) costs less per request than a client library with locks; the event
loop is the only writer, and a scrape reads plain integers.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

BUCKETS: tuple[float, ...] = (
    0.00005,
    0.0001,
    0.00025,
    0.0005,
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
)

STAGES = ("preprocess", "predict", "postprocess")


@dataclass
class Histogram:
    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        self.counts[bisect.bisect_left(BUCKETS, seconds)] += 1
        self.total += seconds

    def lines(self, name: str, labels: str) -> Iterable[str]:
        running = 0
        for bound, count in zip(BUCKETS, self.counts, strict=False):
            running += count
            yield f'{name}_bucket{{{labels},le="{bound}"}} {running}'
        running += self.counts[-1]
        yield f'{name}_bucket{{{labels},le="+Inf"}} {running}'
        yield f"{name}_sum{{{labels}}} {self.total}"
        yield f"{name}_count{{{labels}}} {running}"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class Metrics:
    """Per-model stage latencies and request counts; `render` adds whatever gauges the caller supplies."""

    def __init__(self) -> None:
        self._stages: dict[tuple[str, str], Histogram] = {}
        self._requests: dict[tuple[str, str, int], int] = {}

    def stage(self, model: str, stage: str, seconds: float) -> None:
        key = (model, stage)
        histogram = self._stages.get(key)
        if histogram is None:
            histogram = self._stages[key] = Histogram()
        histogram.observe(seconds)

    def request(self, model: str, endpoint: str, status: int) -> None:
        key = (model, endpoint, status)
        self._requests[key] = self._requests.get(key, 0) + 1

    def render(self, gauges: Callable[[], Iterable[str]] | None = None) -> bytes:
        out: list[str] = []
        for stage in STAGES:
            name = f"request_{stage}_seconds"
            out.append(f"# HELP {name} {stage} latency of inference requests (KServe's name)")
            out.append(f"# TYPE {name} histogram")
            for (model, which), histogram in sorted(self._stages.items()):
                if which == stage:
                    out.extend(histogram.lines(name, f'model_name="{_label(model)}"'))
        out.append("# HELP retrain_serving_requests_total requests answered, by model, endpoint and status")
        out.append("# TYPE retrain_serving_requests_total counter")
        for (model, endpoint, status), count in sorted(self._requests.items()):
            labels = f'model_name="{_label(model)}",endpoint="{endpoint}",code="{status}"'
            out.append(f"retrain_serving_requests_total{{{labels}}} {count}")
        if gauges is not None:
            out.extend(gauges())
        return ("\n".join(out) + "\n").encode()
