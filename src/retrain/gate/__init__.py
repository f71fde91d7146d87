"""retrain.gate: health checks, the quality gate against the serving baseline, infra validation, reporting.

Public surface (light at import time; numpy, scikit-learn and the server load when a check runs):
- `check_version(registry, model, version, gate=None, options=None) -> GateReport`: run checks 1-6 and
  reach the verdict (a rejection is recorded with `Registry.reject`);
- `publish(report, pushgateway=..., report_path=..., results_dir=...)`: push to a Pushgateway, write the
  JSON report and the Tekton result `verdict`;
- `load_thresholds(path, model)` / `default_gate(model)` -> `ModelGate`: what the gate demands of a model.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.gate.gate import GateOptions, check_version
    from retrain.gate.report import Publication, publish, summary
    from retrain.gate.results import CheckResult, GateReport, report_json
    from retrain.gate.thresholds import (
        ChangeThreshold,
        HoldoutConfig,
        MetricThreshold,
        ModelGate,
        default_gate,
        load_thresholds,
    )

__all__ = [
    "ChangeThreshold",
    "CheckResult",
    "GateOptions",
    "GateReport",
    "HoldoutConfig",
    "MetricThreshold",
    "ModelGate",
    "Publication",
    "check_version",
    "default_gate",
    "load_thresholds",
    "publish",
    "report_json",
    "summary",
]

_HOMES = {
    "GateOptions": "gate",
    "check_version": "gate",
    "Publication": "report",
    "publish": "report",
    "summary": "report",
    "CheckResult": "results",
    "GateReport": "results",
    "report_json": "results",
    "ChangeThreshold": "thresholds",
    "HoldoutConfig": "thresholds",
    "MetricThreshold": "thresholds",
    "ModelGate": "thresholds",
    "default_gate": "thresholds",
    "load_thresholds": "thresholds",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module 'retrain.gate' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(f"retrain.gate.{home}"), name)
