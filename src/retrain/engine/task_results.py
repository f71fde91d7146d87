"""A TaskRun try's results: read from /tekton/results, checked against their declared types and sizes."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING

from retrain.engine.result_limits import result_size_error
from retrain.runs.status import TaskRunResult
from retrain.tekton.model import ParamValue, TaskSpec

if TYPE_CHECKING:
    from retrain.engine.attempt import Attempt


def collect_results(attempt: Attempt) -> tuple[dict[str, ParamValue], str | None]:
    """Read declared results; returns (results, error message or None)."""
    results: dict[str, ParamValue] = {}
    raw_results: dict[str, bytes] = {}
    for declared in attempt.req.spec.results:
        path = attempt.dirs["/tekton/results"] / declared.name
        if not path.is_file():
            continue
        raw = path.read_bytes()
        raw_results[declared.name] = raw
        text = raw.decode("utf-8", errors="replace")
        kind = declared.effective_type
        if kind == "string":
            results[declared.name] = text
            continue
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            return results, f'result "{declared.name}" is declared as {kind} but is not valid JSON: {exc}'
        ok = (kind == "array" and isinstance(value, list)) or (kind == "object" and isinstance(value, dict))
        if not ok:
            return (
                results,
                f'result "{declared.name}" is declared as {kind} but holds {type(value).__name__}',
            )
        results[declared.name] = (
            [str(v) for v in value] if isinstance(value, list) else {str(k): str(v) for k, v in value.items()}
        )
    return results, result_size_error(attempt.env.flags, attempt.req.name, raw_results)


def result_list(spec: TaskSpec, results: Mapping[str, ParamValue]) -> tuple[TaskRunResult, ...]:
    types = {r.name: r.effective_type for r in spec.results}
    return tuple(TaskRunResult(k, types.get(k, "string"), v) for k, v in results.items())
