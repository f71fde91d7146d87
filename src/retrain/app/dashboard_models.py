"""What the dashboard's Models pages show: each model's versions, verdicts, checks, metrics and lineage.

Read from the registry (versions, aliases, the audit log) and the gate reports kept beside each model
(`retrain.app.reports`). A version's verdict comes from its kept gate report (every check with its outcome
and reason); a version gated before reports were kept shows the rejection reasons of the audit log, or
`unchecked` when nothing says. Nothing here formats HTML: the page modules do.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

Verdict = Literal["blessed", "rejected", "unchecked"]


@dataclass(frozen=True)
class CheckRow:
    name: str
    outcome: str  # passed | failed | skipped
    reason: str
    value: Any
    threshold: Any
    blocking: bool


@dataclass(frozen=True)
class GateView:
    verdict: Verdict
    reasons: tuple[str, ...]
    checks: tuple[CheckRow, ...]  # empty when no report was kept
    checked_at: str | None
    source: str  # "gate report", "audit log" or "none"
    metrics: Mapping[str, float]  # the gate's measured candidate metrics on held-out rows


@dataclass(frozen=True)
class LineageView:
    run: str | None
    trainer: str
    data_source: str | None  # effective
    training_hours: float | None
    window_start: str | None
    window_end: str | None
    notebook: str | None
    git_commit: str | None
    sha256: str
    executed_notebook_sha256: str | None


@dataclass(frozen=True)
class VersionView:
    version: int
    created_at: str
    aliases: tuple[str, ...]
    gate: GateView
    training_metrics: Mapping[str, float]  # what the notebook reported (numbers only)
    lineage: LineageView


@dataclass(frozen=True)
class ThresholdView:
    metric: str
    direction: str
    min: float | None
    max: float | None


@dataclass(frozen=True)
class ModelView:
    model: str
    serving: int | None
    previous: int | None
    versions: tuple[VersionView, ...]  # newest first
    thresholds: tuple[ThresholdView, ...]
    thresholds_origin: str

    @property
    def metric_names(self) -> tuple[str, ...]:
        """Every gate metric a version was measured on, thresholds' metrics first."""
        names = [t.metric for t in self.thresholds]
        for v in reversed(self.versions):
            names += [m for m in v.gate.metrics if m not in names]
        return tuple(names)


@dataclass(frozen=True)
class ModelRow:
    model: str
    versions: int
    serving: int | None
    previous: int | None
    latest: int | None
    latest_verdict: Verdict
    last_registered: str | None


@dataclass(frozen=True)
class ModelsOverview:
    registry: Path
    models: tuple[ModelRow, ...]


def _numbers(values: Any) -> dict[str, float]:
    if not isinstance(values, Mapping):
        return {}
    return {
        str(k): float(v)
        for k, v in values.items()
        if isinstance(v, int | float) and not isinstance(v, bool) and math.isfinite(v)
    }


def _gate_view(report: Mapping[str, Any] | None, rejected: tuple[str, ...] | None) -> GateView:
    if report is not None:
        checks = tuple(
            CheckRow(
                str(c.get("name", "")),
                str(c.get("outcome", "")),
                str(c.get("reason", "")),
                c.get("value"),
                c.get("threshold"),
                bool(c.get("blocking", True)),
            )
            for c in report.get("checks") or []
            if isinstance(c, Mapping)
        )
        verdict: Verdict = "rejected" if report.get("verdict") == "rejected" else "blessed"
        metrics = (report.get("metrics") or {}).get("candidate")
        return GateView(
            verdict,
            tuple(str(r) for r in report.get("reasons") or []),
            checks,
            report.get("started_at"),
            "gate report",
            _numbers(metrics),
        )
    if rejected is not None:
        return GateView("rejected", rejected, (), None, "audit log", {})
    return GateView("unchecked", (), (), None, "none", {})


def _lineage(meta: Mapping[str, Any], sha256: str) -> LineageView:
    window = meta.get("training_window") or {}
    executed = meta.get("executed_notebook")
    return LineageView(
        run=meta.get("run"),
        trainer=str(meta.get("trainer", "")),
        data_source=meta.get("data_source_effective"),
        training_hours=window.get("hours"),
        window_start=window.get("start"),
        window_end=window.get("end"),
        notebook=meta.get("notebook_path"),
        git_commit=meta.get("git_commit"),
        sha256=sha256,
        executed_notebook_sha256=executed.get("sha256") if isinstance(executed, Mapping) else None,
    )


def _thresholds(model: str, reports: list[Mapping[str, Any]]) -> tuple[tuple[ThresholdView, ...], str]:
    """The thresholds of the newest kept report (what the gate really applied), else the defaults."""
    for report in reports:
        section = report.get("thresholds")
        if isinstance(section, Mapping) and isinstance(section.get("metrics"), list):
            rows = tuple(
                ThresholdView(str(m["metric"]), str(m.get("direction", "")), m.get("min"), m.get("max"))
                for m in section["metrics"]
                if isinstance(m, Mapping) and "metric" in m
            )
            return rows, str(section.get("origin", "gate report"))
    from retrain.gate.thresholds import default_gate

    gate = default_gate(model)
    return (
        tuple(ThresholdView(t.metric, t.direction, t.min, t.max) for t in gate.metrics),
        gate.origin,
    )


def model_view(model: str, registry: Path | None = None) -> ModelView:
    """One model (NotFound with "did you mean" for an unknown one, as the registry says it)."""
    from retrain.app.reports import load_gate_report
    from retrain.registry import Registry, default_root

    reg = Registry(registry if registry is not None else default_root())
    versions = reg.versions(model)  # NotFound for an unknown model
    aliases = reg.aliases(model)
    rejected: dict[int, tuple[str, ...]] = {}
    for event in reg.history(model):
        if event.event == "rejected" and event.version is not None:
            rejected[event.version] = event.reasons or (event.reason,)
    views: list[VersionView] = []
    reports: list[Mapping[str, Any]] = []
    for info in reversed(versions):
        report = load_gate_report(reg.root, model, info.version)
        if report is not None:
            reports.append(report)
        views.append(
            VersionView(
                version=info.version,
                created_at=info.created_at,
                aliases=tuple(sorted(a for a, n in aliases.items() if n == info.version)),
                gate=_gate_view(report, rejected.get(info.version)),
                training_metrics=_numbers(info.metadata.get("metrics")),
                lineage=_lineage(info.metadata, info.sha256),
            )
        )
    thresholds, origin = _thresholds(model, reports)
    return ModelView(model, aliases.get("serving"), aliases.get("previous"), tuple(views), thresholds, origin)


def models_overview(registry: Path | None = None) -> ModelsOverview:
    """Every model with its serving version and the verdict of its newest version."""
    from retrain.app.reports import load_gate_report
    from retrain.registry import Registry, default_root

    reg = Registry(registry if registry is not None else default_root())
    rows = []
    for model in reg.models():
        versions = reg.versions(model)
        aliases = reg.aliases(model)
        latest = versions[-1] if versions else None
        verdict: Verdict = "unchecked"
        if latest is not None:
            rejected = next(
                (e.reasons or (e.reason,) for e in reg.history(model)
                 if e.event == "rejected" and e.version == latest.version),
                None,
            )  # fmt: skip
            verdict = _gate_view(load_gate_report(reg.root, model, latest.version), rejected).verdict
        rows.append(
            ModelRow(
                model,
                len(versions),
                aliases.get("serving"),
                aliases.get("previous"),
                latest.version if latest else None,
                verdict,
                latest.created_at if latest else None,
            )
        )
    return ModelsOverview(reg.root, tuple(rows))
