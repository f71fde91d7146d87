"""`check_version`: run the gate's checks on one registered version and reach a verdict.

Order (docs/gate.md): 1 artefact, 2 load, 3 contract, 4 predictions, 5 quality, 6 infra. The model is only
ever unpickled and called inside a probe process (`retrain.gate.probe`), each request under a timeout.
A check that cannot run after an earlier failure is reported as skipped, naming that failure. On a
rejection the reasons are recorded in the registry's audit log (`Registry.reject`); nothing else in the
registry changes, and the version's own files are never written.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np

from retrain.data.contracts import BUILTIN_MODELS, FeatureContract, builtin_contract
from retrain.errors import InvalidInput
from retrain.gate import baseline as baselines
from retrain.gate import checks
from retrain.gate.holdout import Holdout, build_holdout
from retrain.gate.probe import Probe, ProbeDied
from retrain.gate.quality import quality
from retrain.gate.results import STAGES, CheckResult, GateReport
from retrain.gate.thresholds import ModelGate, default_gate
from retrain.registry import IntegrityError, Registry, VersionInfo
from retrain.registry.digest import sha256_file

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class GateOptions:
    """How to run the gate. `baseline`: "serving" (default), "none", or a version number."""

    baseline: str | int = "serving"
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))  # the held-out window ends now
    environ: Mapping[str, str] | None = None  # the probes' environment and the data settings (default: os)
    run: str | None = None  # the pipeline run, recorded with a rejection
    record: bool = True  # record a rejection in the registry's audit log
    # Only the checks that keep a model that cannot load out of service (artefact, load, contract): what a
    # pipeline still runs when its health checks are disabled.
    load_only: bool = False


def check_version(
    registry: Registry,
    model: str,
    version: int,
    gate: ModelGate | None = None,
    options: GateOptions | None = None,
) -> GateReport:
    """Gate `model` `version`. NotFound for an unknown model, version or baseline (nothing is recorded)."""
    options = options or GateOptions()
    gate = gate or default_gate(model)
    if not isinstance(options.baseline, str):
        registry.get(model, options.baseline)  # a baseline that does not exist is bad input: fail first
    now = options.now()
    started = time.perf_counter()
    run = _Run(registry, gate, options, now)
    try:
        info: VersionInfo | None = registry.get(model, version)
    except IntegrityError as err:
        info = None
        run.results.append(CheckResult.fail("artefact", f"the version's metadata is damaged: {err.message}"))
    if info is not None:
        run.metrics["training"] = dict(info.metadata.get("metrics") or {})
        with tempfile.TemporaryDirectory(prefix=f"retrain-gate-{model}-{version}-") as scratch:
            run.run(info, Path(scratch))
    results = run.results
    done = {r.stage for r in results}
    failed = next((r for r in results if r.failed), None)
    for stage in STAGES[:-1]:  # the push is the reporter's (retrain.gate.report)
        if stage not in done:
            why = f"not run: {failed.name} failed" if failed else "not run"
            if not failed and options.load_only:
                why = "not run: health checks are disabled (load checks only)"
            results.append(CheckResult.skip(stage, why))
    holdout = run.holdout
    report = GateReport(
        model=model,
        version=version,
        checks=tuple(results),
        baseline=run.baseline.to_json(),
        holdout=None if holdout is None else {**holdout.description, "rows": holdout.rows},
        thresholds={
            "origin": gate.origin,
            **{k: v for k, v in asdict(gate).items() if k not in ("model", "origin")},
        },
        metrics=run.metrics,
        started_at=now.isoformat(),
        seconds=time.perf_counter() - started,
    )
    if not report.blessed and options.record and info is not None:
        registry.reject(model, version, reasons=report.reasons, run=options.run)
    elif not report.blessed and options.record:
        # The registry cannot record against a version whose metadata it cannot read; the report says why.
        log.warning("%s version %d rejected but not recorded: its metadata is damaged", model, version)
    return report


class _Run:
    """One gate run: the checks in order, each recorded with its duration; stops at the first failure."""

    def __init__(self, registry: Registry, gate: ModelGate, options: GateOptions, now: datetime) -> None:
        self.registry, self.gate, self.options, self.now = registry, gate, options, now
        self.results: list[CheckResult] = []
        self.holdout: Holdout | None = None
        self.baseline = baselines.Baseline(None, "none", "quality was not measured")
        self.metrics: dict[str, Any] = {"candidate": None, "baseline": None, "training": None}
        self._started = 0.0

    def run(self, info: VersionInfo, scratch: Path) -> None:
        gate = self.gate
        self._start()
        if self._add(checks.artefact(info, _digest(info.artefact), gate.min_artefact_bytes)):
            return
        with Probe("candidate", scratch, environ=self.options.environ) as probe:
            self._start()
            artefact = {"path": str(info.artefact), "sha256": info.sha256, "size": info.size}
            loaded, died = _ask(probe, "load", gate.load_timeout_s, "loading the artefact", **artefact)
            if self._add(checks.load(loaded, died, gate.load_timeout_s)):
                return
            self._start()
            stored, problem = _contract(info)
            if stored is None or problem is not None:
                self._add(CheckResult.fail("contract", problem or "no feature contract"))
                return
            environ = self.options.environ if self.options.environ is not None else os.environ
            holdout = build_holdout(
                info.model, stored, gate.holdout, info.metadata, end=self.now, environ=environ
            )
            self.holdout = holdout
            paths = holdout.save(scratch / "rows")
            self._start()
            width = (loaded or {}).get("n_features_in")
            if self._add(self._contract(probe, stored, width, holdout.inputs[:2], scratch)):
                return
            if self.options.load_only:
                return
            self._start()
            if self._add(self._predictions(probe, stored, holdout, paths, scratch)):
                return
            if self._quality(probe, holdout, paths, info, scratch):
                self._start()
                self._add(self._infra(probe, info, holdout.inputs[: gate.holdout.infra_rows], scratch))

    def _start(self) -> None:
        self._started = time.perf_counter()

    def _add(self, result: CheckResult) -> bool:
        """Record `result` with its duration; True when it failed (the run stops)."""
        self.results.append(replace(result, seconds=time.perf_counter() - self._started))
        return result.failed

    def _contract(
        self, probe: Probe, stored: FeatureContract, width: int | None, rows: np.ndarray, scratch: Path
    ) -> CheckResult:
        variants = {
            "exact": rows,
            "narrower": rows[:, :-1],
            "wider": np.hstack([rows, np.zeros((rows.shape[0], 1))]),
        }
        answers: dict[str, dict[str, Any]] = {}
        for name, matrix in variants.items():
            path = scratch / f"width-{name}.npy"
            np.save(path, matrix, allow_pickle=False)
            answer, died = _ask(
                probe, "predict", self.gate.request_timeout_s, f"predict() on {matrix.shape[1]} features",
                inputs=str(path), output=str(scratch / f"width-{name}-out.npy"),
            )  # fmt: skip
            if died is not None:
                return CheckResult.fail("contract", died, threshold={"width": stored.width})
            answers[name] = answer or {}
        return checks.contract(stored, width, answers["exact"], answers["narrower"], answers["wider"])

    def _predictions(
        self, probe: Probe, stored: FeatureContract, holdout: Holdout, paths: Mapping[str, str], scratch: Path
    ) -> CheckResult:
        output = scratch / "predictions.npy"
        answer, died = _ask(
            probe, "predict", self.gate.request_timeout_s, f"predict() on {holdout.rows} held-out rows",
            inputs=paths["inputs"], output=str(output),
        )  # fmt: skip
        if died is not None or answer is None:
            return CheckResult.fail("predictions", died or "no answer")
        if not answer.get("ok"):
            return CheckResult.fail(
                "predictions",
                f"predict() failed on the held-out rows: {answer.get('error')}",
                traceback=answer.get("traceback"),
            )
        return checks.predictions(np.load(output, allow_pickle=False), holdout.rows, stored, self.gate.model)

    def _quality(
        self, probe: Probe, holdout: Holdout, paths: Mapping[str, str], info: VersionInfo, scratch: Path
    ) -> bool:
        """Check 5; True when it passed (or had nothing to measure)."""
        self._start()
        if holdout.evaluator is None:
            self._add(CheckResult.skip("quality", "no labelled held-out data for a custom model"))
            return True
        gate = self.gate
        request = {"kind": holdout.evaluator, "names": list(holdout.target_names), **paths}
        answer, died = _ask(probe, "evaluate", gate.request_timeout_s, "evaluating the candidate", **request)
        if died is not None or answer is None or not answer.get("ok"):
            return not self._add(
                CheckResult.fail("quality", died or f"evaluation failed: {(answer or {}).get('error')}")
            )
        candidate: dict[str, Any] = answer["metrics"]
        self.metrics["candidate"] = candidate
        self.baseline = baselines.choose(self.registry, info, self.options.baseline)
        baselines.evaluate(
            self.baseline,
            request,
            scratch=scratch,
            environ=self.options.environ,
            load_timeout_s=gate.load_timeout_s,
            request_timeout_s=gate.request_timeout_s,
        )
        self.metrics["baseline"] = self.baseline.metrics
        found = quality(
            gate.metrics,
            candidate,
            self.baseline.metrics,
            baseline_version=self.baseline.version,
            no_baseline=self.baseline.note,
        )
        failed = [self._add(result) for result in found]
        return not any(failed)

    def _infra(self, probe: Probe, info: VersionInfo, rows: np.ndarray, scratch: Path) -> CheckResult:
        path = scratch / "infra-rows.npy"
        np.save(path, rows, allow_pickle=False)
        limit = self.gate.infra_timeout_s
        answer, died = _ask(
            probe, "infra", limit + 30, "infra validation in the serving code path",
            registry=str(self.registry.root), model=info.model, version=info.version, inputs=str(path),
            timeout_s=limit,
        )  # fmt: skip
        if died is None and answer is not None and not answer.get("ok"):
            died = f"infra validation failed: {answer.get('error')}"
        return checks.infra((answer or {}).get("report"), died, limit)


def _digest(path: Path) -> tuple[str, int] | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def _ask(
    probe: Probe, op: str, timeout_s: float, what: str, /, **fields: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """The probe's answer, or (None, why it died): a timeout or a crash is an outcome, not an exception."""
    try:
        return probe.call(op, timeout_s, what, **fields), None
    except ProbeDied as died:
        return None, died.message


def _contract(info: VersionInfo) -> tuple[FeatureContract | None, str | None]:
    raw = info.metadata.get("feature_contract")
    try:
        stored = FeatureContract.from_json(raw, where="metadata.feature_contract") if raw else None
    except InvalidInput as err:
        return None, f"the stored feature contract is invalid: {err}"
    expected = None
    if info.model in BUILTIN_MODELS:
        horizon = stored.horizon_minutes if stored and stored.horizon_minutes else 60
        expected = builtin_contract(info.model, horizon_minutes=horizon)
    return stored, checks.contract_problem(stored, expected)
