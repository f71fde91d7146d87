"""`check_version`: run the gate's checks on one registered version and reach a verdict.

Order (docs/gate.md): 1 artefact, 2 load, 3 contract, 4 predictions, 5 quality, 6 infra. The model is only
ever unpickled and called inside probe processes (`retrain.gate.probe`), each request under a timeout.
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

from retrain.data.contracts import BUILTIN_MODELS, FeatureContract, builtin_contract
from retrain.errors import InvalidInput, NotFound
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
    now: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    environ: Mapping[str, str] | None = None  # the probes' environment and the data settings (default: os)
    run: str | None = None  # the pipeline run, recorded with a rejection
    record: bool = True  # record a rejection in the registry's audit log


@dataclass
class _Baseline:
    version: int | None
    mode: str  # "serving", "version", "rubber-stamp", "self", "none", "unavailable"
    note: str
    metrics: dict[str, Any] | None = None


def check_version(
    registry: Registry,
    model: str,
    version: int,
    gate: ModelGate | None = None,
    options: GateOptions | None = None,
) -> GateReport:
    """Gate `model` `version`; NotFound for an unknown model or version (nothing is recorded then)."""
    options = options or GateOptions()
    gate = gate or default_gate(model)
    now = options.now()
    started = time.perf_counter()
    results: list[CheckResult] = []
    holdout: Holdout | None = None
    metrics: dict[str, Any] = {"candidate": None, "baseline": None, "training": None}
    baseline = _Baseline(None, "none", "quality was not measured")
    try:
        info: VersionInfo | None = registry.get(model, version)
    except IntegrityError as err:
        info = None
        results.append(CheckResult.fail("artefact", f"the version's metadata is damaged: {err.message}"))
    if info is not None:
        metrics["training"] = dict(info.metadata.get("metrics") or {})
        with tempfile.TemporaryDirectory(prefix=f"retrain-gate-{model}-{version}-") as scratch:
            holdout, baseline = _run(registry, info, gate, options, now, Path(scratch), results, metrics)
    done = {r.stage for r in results}
    failed = next((r for r in results if r.failed), None)
    for stage in STAGES[:-1]:
        if stage not in done:
            why = f"not run: {failed.name} failed" if failed else "not run"
            results.append(CheckResult.skip(stage, why))
    report = GateReport(
        model=model,
        version=version,
        checks=tuple(results),
        baseline={"version": baseline.version, "mode": baseline.mode, "note": baseline.note},
        holdout=None if holdout is None else {**holdout.description, "rows": holdout.rows},
        thresholds=_describe(gate),
        metrics=metrics,
        started_at=now.isoformat(),
        seconds=time.perf_counter() - started,
    )
    if not report.blessed and options.record:
        registry.reject(model, version, reasons=report.reasons, run=options.run)
    return report


def _add(results: list[CheckResult], result: CheckResult, started: float) -> bool:
    """Record `result` with the time since `started`; True when it failed."""
    results.append(replace(result, seconds=time.perf_counter() - started))
    return result.failed


def _run(
    registry: Registry,
    info: VersionInfo,
    gate: ModelGate,
    options: GateOptions,
    now: datetime,
    scratch: Path,
    results: list[CheckResult],
    metrics: dict[str, Any],
) -> tuple[Holdout | None, _Baseline]:
    none = _Baseline(None, "none", "quality was not measured")
    started = time.perf_counter()
    if _add(results, checks.artefact(info, _digest(info.artefact), gate.min_artefact_bytes), started):
        return None, none
    with Probe("candidate", scratch, environ=options.environ) as probe:
        started = time.perf_counter()
        loaded, died = _ask(probe, "load", gate.load_timeout_s, "loading the artefact", **_file(info))
        if _add(results, checks.load(loaded, died, gate.load_timeout_s), started):
            return None, none
        started = time.perf_counter()
        stored, problem = _contract(info)
        if stored is None or problem is not None:
            _add(results, CheckResult.fail("contract", problem or "no feature contract"), started)
            return None, none
        environ = options.environ if options.environ is not None else os.environ
        holdout = build_holdout(info.model, stored, gate.holdout, info.metadata, end=now, environ=environ)
        paths = holdout.save(scratch / "rows")
        started = time.perf_counter()
        width = (loaded or {}).get("n_features_in")
        if _add(results, _contract_check(probe, stored, width, holdout, scratch, gate), started):
            return holdout, none
        started = time.perf_counter()
        if _add(results, _predictions(probe, stored, holdout, paths, scratch, gate, info.model), started):
            return holdout, none
        baseline = _baseline(registry, info, options)
        passed, metrics["candidate"] = _quality(
            probe, holdout, paths, gate, baseline, info, scratch, options, results
        )
        metrics["baseline"] = baseline.metrics
        if passed:
            started = time.perf_counter()
            _add(results, _infra(probe, registry, info, holdout, scratch, gate), started)
        return holdout, baseline


def _digest(path: Path) -> tuple[str, int] | None:
    try:
        return sha256_file(path)
    except FileNotFoundError:
        return None


def _file(info: VersionInfo) -> dict[str, Any]:
    return {"path": str(info.artefact), "sha256": info.sha256, "size": info.size}


def _ask(
    probe: Probe, op: str, timeout_s: float, what: str, /, **fields: Any
) -> tuple[dict[str, Any] | None, str | None]:
    """The probe's answer, or (None, why it died): a timeout or crash is an outcome, not an exception."""
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


def _contract_check(
    probe: Probe, stored: FeatureContract, width: int | None, holdout: Holdout, scratch: Path, gate: ModelGate
) -> CheckResult:
    import numpy as np

    rows = holdout.inputs[:2]
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
            probe, "predict", gate.request_timeout_s, f"predict() on {matrix.shape[1]} features",
            inputs=str(path), output=str(scratch / f"width-{name}-out.npy"),
        )  # fmt: skip
        if died is not None:
            return CheckResult.fail("contract", died, threshold={"width": stored.width})
        answers[name] = answer or {}
    return checks.contract(stored, width, answers["exact"], answers["narrower"], answers["wider"])


def _predictions(
    probe: Probe,
    stored: FeatureContract,
    holdout: Holdout,
    paths: Mapping[str, str],
    scratch: Path,
    gate: ModelGate,
    model: str,
) -> CheckResult:
    import numpy as np

    output = scratch / "predictions.npy"
    answer, died = _ask(
        probe, "predict", gate.request_timeout_s, f"predict() on {holdout.rows} held-out rows",
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
    return checks.predictions(np.load(output, allow_pickle=False), holdout.rows, stored, model)


def _baseline(registry: Registry, info: VersionInfo, options: GateOptions) -> _Baseline:
    rubber = "only value thresholds apply (rubber stamp)"
    if options.baseline == "none":
        return _Baseline(None, "none", f"no baseline was asked for; {rubber}")
    if options.baseline == "serving":
        serving = registry.aliases(info.model).get("serving")
        if serving is None:
            return _Baseline(None, "rubber-stamp", f"no version of {info.model} serves yet; {rubber}")
        if serving == info.version:
            return _Baseline(None, "self", f"the candidate is the serving version; {rubber}")
        return _Baseline(serving, "serving", f"the serving version {serving}, on the same held-out rows")
    number = int(options.baseline)
    if number == info.version:
        return _Baseline(None, "self", f"the baseline is the candidate itself; {rubber}")
    registry.get(info.model, number)  # NotFound: a baseline that does not exist is bad input
    return _Baseline(number, "version", f"version {number}, on the same held-out rows")


def _quality(
    probe: Probe,
    holdout: Holdout,
    paths: Mapping[str, str],
    gate: ModelGate,
    baseline: _Baseline,
    info: VersionInfo,
    scratch: Path,
    options: GateOptions,
    results: list[CheckResult],
) -> tuple[bool, dict[str, Any] | None]:
    if holdout.evaluator is None:
        results.append(CheckResult.skip("quality", "no labelled held-out data for a custom model"))
        return True, None
    request = {"kind": holdout.evaluator, "names": list(holdout.target_names), **paths}
    started = time.perf_counter()
    answer, died = _ask(probe, "evaluate", gate.request_timeout_s, "evaluating the candidate", **request)
    if died is not None or answer is None or not answer.get("ok"):
        why = died or f"evaluation failed: {(answer or {}).get('error')}"
        results.append(replace(CheckResult.fail("quality", why), seconds=time.perf_counter() - started))
        return False, None
    candidate: dict[str, Any] = answer["metrics"]
    if baseline.version is not None:
        _evaluate_baseline(info, baseline, request, gate, scratch, options)
    found = quality(
        gate.metrics,
        candidate,
        baseline.metrics,
        baseline_version=baseline.version,
        no_baseline=baseline.note,
    )
    elapsed = time.perf_counter() - started
    results.extend(found)
    if found:
        results[-len(found)] = replace(results[-len(found)], seconds=elapsed)
    return not any(r.failed for r in found), candidate


def _evaluate_baseline(
    info: VersionInfo,
    baseline: _Baseline,
    request: Mapping[str, Any],
    gate: ModelGate,
    scratch: Path,
    options: GateOptions,
) -> None:
    """Measure the baseline on the same rows; a baseline that cannot be measured leaves value thresholds."""
    assert baseline.version is not None
    other = baseline.info
    assert other is not None
    if other.metadata.get("feature_contract") != info.metadata.get("feature_contract"):
        _unavailable(
            baseline, "its feature contract differs from the candidate's, so the metrics do not compare"
        )
        return
    with Probe("baseline", scratch, environ=options.environ) as probe:
        loaded, died = _ask(probe, "load", gate.load_timeout_s, "loading the baseline", **_file(other))
        if died is not None or loaded is None or not loaded.get("ok"):
            _unavailable(baseline, died or str((loaded or {}).get("error")))
            return
        answer, died = _ask(probe, "evaluate", gate.request_timeout_s, "evaluating the baseline", **request)
    if died is not None or answer is None or not answer.get("ok"):
        _unavailable(baseline, died or str((answer or {}).get("error")))
        return
    baseline.metrics = answer["metrics"]


def _unavailable(baseline: _Baseline, why: str) -> None:
    log.warning("baseline version %s cannot be evaluated: %s", baseline.version, why)
    baseline.note = (
        f"the baseline version {baseline.version} could not be evaluated ({why}); only value thresholds apply"
    )
    baseline.mode = "unavailable"
    baseline.metrics = None


def _infra(
    probe: Probe, registry: Registry, info: VersionInfo, holdout: Holdout, scratch: Path, gate: ModelGate
) -> CheckResult:
    import numpy as np

    path = scratch / "infra-rows.npy"
    np.save(path, holdout.inputs[: gate.holdout.infra_rows], allow_pickle=False)
    answer, died = _ask(
        probe, "infra", gate.infra_timeout_s + 30, "infra validation in the serving code path",
        registry=str(registry.root), model=info.model, version=info.version, inputs=str(path),
        timeout_s=gate.infra_timeout_s,
    )  # fmt: skip
    if died is None and answer is not None and not answer.get("ok"):
        died = f"infra validation failed: {answer.get('error')}"
    return checks.infra((answer or {}).get("report"), died, gate.infra_timeout_s)


def _describe(gate: ModelGate) -> dict[str, Any]:
    return {"origin": gate.origin, **{k: v for k, v in asdict(gate).items() if k not in ("model", "origin")}}
