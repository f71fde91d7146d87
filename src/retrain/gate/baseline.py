"""The baseline of the quality gate: which version to compare with, and its metrics on the same rows.

TFX Evaluator semantics: the baseline is the version that serves now. No serving version, or the candidate
itself serving (the health-check pipeline), leaves only the value thresholds (a "rubber stamp"), and the
report says so. A baseline that cannot be loaded or evaluated (damaged, removed, another feature contract)
is logged and treated the same way: the candidate still has to pass every value threshold, and a serving
model that cannot even be measured is no reason to keep a good candidate out.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from retrain.errors import NotFound
from retrain.gate.probe import Probe, ProbeDied
from retrain.registry import IntegrityError, Registry, VersionInfo

log = logging.getLogger(__name__)

RUBBER_STAMP = "only value thresholds apply (rubber stamp)"


@dataclass
class Baseline:
    version: int | None
    mode: str  # "serving", "version", "rubber-stamp", "self", "none", "unavailable"
    note: str
    info: VersionInfo | None = None
    metrics: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        return {"version": self.version, "mode": self.mode, "note": self.note}

    def unavailable(self, why: str) -> None:
        log.warning("baseline version %s cannot be evaluated: %s", self.version, why)
        self.note = f"the baseline version {self.version} could not be evaluated ({why}); {RUBBER_STAMP}"
        self.mode = "unavailable"
        self.info = None
        self.metrics = None


def choose(registry: Registry, candidate: VersionInfo, wanted: str | int) -> Baseline:
    """The baseline for `candidate`: `wanted` is "serving", "none" or a version number."""
    if wanted == "none":
        return Baseline(None, "none", f"no baseline was asked for; {RUBBER_STAMP}")
    if wanted == "serving":
        number = registry.aliases(candidate.model).get("serving")
        if number is None:
            return Baseline(
                None, "rubber-stamp", f"no version of {candidate.model} serves yet; {RUBBER_STAMP}"
            )
        mode, note = "serving", f"the serving version {number}, measured on the same held-out rows"
    else:
        number = int(wanted)
        mode, note = "version", f"version {number}, measured on the same held-out rows"
    if number == candidate.version:
        return Baseline(None, "self", f"the candidate is the baseline ({mode} version); {RUBBER_STAMP}")
    baseline = Baseline(number, mode, note)
    try:
        baseline.info = registry.get(candidate.model, number)
    except (NotFound, IntegrityError) as err:
        baseline.unavailable(str(err))
        return baseline
    if baseline.info.metadata.get("feature_contract") != candidate.metadata.get("feature_contract"):
        baseline.unavailable(
            "its feature contract differs from the candidate's, so the metrics do not compare"
        )
    return baseline


def evaluate(
    baseline: Baseline,
    request: Mapping[str, Any],
    *,
    scratch: Path,
    environ: Mapping[str, str] | None,
    load_timeout_s: float,
    request_timeout_s: float,
) -> None:
    """Measure the baseline on the candidate's held-out rows in its own probe process."""
    info = baseline.info
    if info is None:
        return
    artefact = {"path": str(info.artefact), "sha256": info.sha256, "size": info.size}
    try:
        with Probe("baseline", scratch, environ=environ) as probe:
            loaded = probe.call("load", load_timeout_s, "loading the baseline", **artefact)
            if not loaded.get("ok"):
                baseline.unavailable(f"it does not load: {loaded.get('error')}")
                return
            answer = probe.call("evaluate", request_timeout_s, "evaluating the baseline", **request)
    except ProbeDied as died:
        baseline.unavailable(died.message)
        return
    if not answer.get("ok"):
        baseline.unavailable(f"its evaluation failed: {answer.get('error')}")
        return
    baseline.metrics = answer["metrics"]
