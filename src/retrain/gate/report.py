"""The rim of the gate: the JSON report file, the Tekton result `verdict`, a text summary, the push.

`publish` is what `retrain check` does after `check_version`: push (when a Pushgateway URL is given, by
argument or `PUSHGATEWAY_URL`), then write the report and the result. None of it touches the registry:
the report goes where the caller says, never into the version's directory (its files and digest stay
exactly as registered).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from retrain.gate.pushgateway import PushPolicy, push
from retrain.gate.results import CheckResult, GateReport, report_json

VERDICT_RESULT = "verdict"
PUSHGATEWAY_ENV = "PUSHGATEWAY_URL"


@dataclass(frozen=True)
class Publication:
    report: GateReport  # with the non-blocking `push` check added when a push was tried
    report_path: Path | None
    verdict_path: Path | None


def write_report(path: Path, report: GateReport) -> Path:
    """The machine-readable report (JSON), written via a temp file and a rename."""
    path.parent.mkdir(parents=True, exist_ok=True)
    scratch = path.with_name(f".{path.name}.tmp")
    text = json.dumps(report_json(report), indent=2, sort_keys=False, allow_nan=False) + "\n"
    scratch.write_text(text, encoding="utf-8")
    scratch.replace(path)
    return path


def write_verdict(results_dir: Path, report: GateReport) -> Path:
    """The Tekton result `verdict`: `blessed` or `rejected`, with no trailing newline."""
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / VERDICT_RESULT
    path.write_text(report.verdict, encoding="utf-8")
    return path


def publish(
    report: GateReport,
    *,
    pushgateway: str | None = None,
    report_path: Path | None = None,
    results_dir: Path | None = None,
    environ: Mapping[str, str] | None = None,
    now: Callable[[], datetime] = lambda: datetime.now(UTC),
    policy: PushPolicy | None = None,
    sleep: Callable[[float], None] | None = None,
) -> Publication:
    env = os.environ if environ is None else environ
    url = pushgateway or env.get(PUSHGATEWAY_ENV, "").strip() or None
    if url is None:
        report = report.with_checks(
            CheckResult("push", "skipped", reason="no Pushgateway configured", blocking=False)
        )
    else:
        extra: dict[str, Any] = {"policy": policy}
        if sleep is not None:
            extra["sleep"] = sleep
        report = report.with_checks(push(url, report, now(), **extra))
    written = write_report(report_path, report) if report_path is not None else None
    verdict = write_verdict(results_dir, report) if results_dir is not None else None
    return Publication(report, written, verdict)


def summary(report: GateReport) -> str:
    """A few human lines: the verdict, each check's outcome and reason, the baseline."""
    mark = {"passed": "ok  ", "failed": "FAIL", "skipped": "skip"}
    lines = [f"{report.model} version {report.version}: {report.verdict.upper()}"]
    for check in report.checks:
        note = "" if check.blocking else " (does not change the verdict)"
        lines.append(f"  {mark[check.outcome]} {check.name:<28} {check.reason}{note}")
    lines.append(f"  baseline: {report.baseline.get('note')}")
    if report.holdout:
        source = report.holdout.get("data_source_effective")
        lines.append(f"  held-out rows: {report.holdout.get('rows')} ({source})")
    return "\n".join(lines)
