"""Check (gate) one model version: health checks, quality against a baseline, infra validation; then publish.

The use case behind `retrain check`, which the catalog pipelines' health-check task runs: it must keep
writing the Tekton result `verdict` (`blessed`/`rejected`) where it is asked to. A rejection is a verdict,
not an error: the result says so, with the reasons and what to do next; unknown models or versions are
`NotFound` before any work, bad thresholds or options `InvalidInput`, unreachable held-out data a
`TemporaryError`.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from retrain.gate import GateReport

Verdict = Literal["blessed", "rejected"]


@dataclass(frozen=True)
class CheckRequest:
    model: str
    version: int | None  # None: the version in service
    registry: Path | None = None  # None: $RETRAIN_REGISTRY, else the data home's registry
    thresholds: Path | None = None  # a YAML file of per-model thresholds; None: the built-in defaults
    baseline: str | int = "serving"  # "serving", "none" or a version number
    data_source: str | None = None  # held-out rows from synthetic, prometheus or hybrid (None: the gate's)
    load_timeout_s: float | None = None
    load_only: bool = False  # only the load checks (a pipeline with its health checks disabled)
    holdout_end: datetime | None = None  # reproduces an earlier report's held-out rows; None: now
    run: str | None = None  # the pipeline run, recorded with a rejection
    pushgateway: str | None = None  # None: $PUSHGATEWAY_URL, else no push
    report_path: Path | None = None  # write the JSON report here
    results_dir: Path | None = None  # write the Tekton result `verdict` here


@dataclass(frozen=True)
class CheckResult:
    model: str
    version: int
    verdict: Verdict
    reasons: tuple[str, ...]  # why it was rejected (empty when blessed)
    report: GateReport  # every check, the baseline, the held-out rows, the metrics (and the push)
    report_path: Path | None  # where the JSON report was written
    verdict_path: Path | None  # where the Tekton result was written
    next_action: str

    @property
    def blessed(self) -> bool:
        return self.verdict == "blessed"


def check(request: CheckRequest) -> CheckResult:
    """Gate the version, then push the metrics and write the report and the result where asked."""
    from retrain.gate import GateOptions, check_version, default_gate, load_thresholds, publish
    from retrain.gate.thresholds import with_overrides
    from retrain.registry import Registry, default_root

    registry = Registry(request.registry or default_root())
    model = request.model
    if request.version is None:
        number = registry.get(model).version  # NotFound when nothing serves
    else:
        number = request.version
        registry.get(model, number)  # NotFound before any work
    gate = (
        load_thresholds(request.thresholds, model) if request.thresholds is not None else default_gate(model)
    )
    if request.data_source is not None:
        from retrain.data.sources import check_source

        gate = with_overrides(gate, holdout={"source": check_source(request.data_source)})
    gate = with_overrides(gate, load_timeout_s=request.load_timeout_s)
    options = GateOptions(baseline=request.baseline, run=request.run, load_only=request.load_only)
    if request.holdout_end is not None:
        end = request.holdout_end
        options = replace(options, now=lambda: end)
    gated = check_version(registry, model, number, gate, options)
    published = publish(
        gated,
        pushgateway=request.pushgateway,
        report_path=request.report_path,
        results_dir=request.results_dir,
    )
    report = published.report
    _keep(registry.root, model, number, report)
    return CheckResult(
        model=model,
        version=number,
        verdict=report.verdict,
        reasons=tuple(report.reasons),
        report=report,
        report_path=published.report_path,
        verdict_path=published.verdict_path,
        next_action=_next_action(model, number, report.blessed),
    )


def _next_action(model: str, version: int, blessed: bool) -> str:
    if blessed:
        return f"deploy it: retrain deploy {model} --version {version}"
    return (
        f"version {version} stays out of service; fix what the reasons name and train again "
        f"(retrain models show {model} {version})"
    )


def _keep(root: Path, model: str, version: int, report: GateReport) -> None:
    """The report beside the model (`retrain.app.reports`) for the dashboard; a failure is only logged."""
    import logging

    from retrain.app.reports import save_gate_report
    from retrain.gate.results import report_json

    try:
        save_gate_report(root, model, version, dict(report_json(report)))
    except OSError as err:
        logging.getLogger(__name__).warning("the gate report of %s v%d was not kept: %s", model, version, err)
