"""How big a TaskRun's results may be, by the `results-from` feature flag (Tekton's two extraction methods).

- termination-message (the default): all results travel in the pod's termination message, whose limit is
  4096 bytes in total.
- sidecar-logs: each result is one JSON line `{"name","value","type"}` in the results sidecar's log, and
  each line may hold at most `max-result-size` bytes (internal/sidecarlogresults: ErrSizeExceeded).
"""

from __future__ import annotations

import json
from collections.abc import Mapping

from retrain.engine import reasons
from retrain.engine.feature_flags import FeatureFlags

_SIDECAR_MARK = "results size exceeds configured limit"


def result_size_error(flags: FeatureFlags, taskrun: str, raw: Mapping[str, bytes]) -> str | None:
    """The message Tekton fails the TaskRun with when its results are too large, else None."""
    if flags.results_from == "sidecar-logs":
        for name, value in raw.items():
            line = json.dumps(
                {"name": name, "value": value.decode("utf-8", errors="replace"), "type": "task"},
                separators=(",", ":"),
                ensure_ascii=False,
            ).encode()
            if len(line) > flags.max_result_size:
                return (
                    f'[User error] TaskRun "{taskrun}" failed: result "{name}": {len(line)} bytes '
                    f"{_SIDECAR_MARK} of {flags.max_result_size} bytes"
                )
        return None
    if sum(len(v) for v in raw.values()) > reasons.MAX_RESULT_BYTES:
        return reasons.RESULT_TOO_LARGE_MESSAGE
    return None


def is_size_error(message: str | None) -> bool:
    return message is not None and (message == reasons.RESULT_TOO_LARGE_MESSAGE or _SIDECAR_MARK in message)
