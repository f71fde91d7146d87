"""The closing words of a training run: what each task did, what holds now, why it failed, what to do next."""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.app.trigger import TrainingSummary


def summary_lines(summary: TrainingSummary) -> list[str]:
    """Plain lines (a log file reads them as well as a terminal)."""
    out = [f"PipelineRun {summary.run}: {summary.run_reason or summary.run_state} - {summary.run_message}"]
    rows = [("TASK", "OUTCOME", "DURATION", "REASON")] + [
        (t.task, t.state, "-" if t.duration_s is None else f"{t.duration_s:.1f}s", t.reason)
        for t in summary.tasks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(4)]
    out += ["  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)).rstrip() for row in rows]
    out.append(summary.headline)
    failure = summary.failure
    if failure is not None:
        where = " ".join(
            part
            for part in (
                f"task {failure.task}" if failure.task else "",
                f"step {failure.step}" if failure.step else "",
            )
            if part
        )
        out.append(f"failed: {where or 'the run'} ({failure.reason}): {failure.message}".rstrip(": "))
        if failure.log_tail:
            out.append(f"  last {len(failure.log_tail)} lines of its log:")
            out += [f"    {line}" for line in failure.log_tail]
        out.append(f"  whole log: {failure.log_command}")
    out.append(f"next: {summary.next_action}")
    return out


def summary_json(summary: TrainingSummary) -> dict[str, Any]:
    data = asdict(summary)
    data["ok"] = summary.ok
    return data


def print_summary(summary: TrainingSummary, *, as_json: bool = False) -> None:
    if as_json:
        print(json.dumps(summary_json(summary), indent=2, default=str))
        return
    print()
    for line in summary_lines(summary):
        print(line)
