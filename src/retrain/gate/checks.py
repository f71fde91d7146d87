"""The gate's checks as pure functions: what was observed in, a CheckResult with a reason out.

The I/O (hashing the file, asking the probe process, running the server) happens in `retrain.gate.gate`;
each function here judges what came back, so every reason can be tested without a model.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from retrain.data.contracts import ANOMALY_DETECTOR, FeatureContract
from retrain.gate.results import CheckResult
from retrain.registry import VersionInfo

ANOMALY_LABELS = frozenset({-1.0, 1.0})


def artefact(info: VersionInfo, found: tuple[str, int] | None, min_bytes: int) -> CheckResult:
    """Check 1: the file exists, is the registered bytes (digest and size), and is not trivially small."""
    expected = {"sha256": info.sha256, "size": info.size}
    if found is None:
        return CheckResult.fail(
            "artefact",
            f"the artefact {info.artefact} is missing",
            threshold=expected,
            hint="register the model again; a version's files must never be removed by hand",
        )
    sha256, size = found
    value = {"sha256": sha256, "size": size}
    if size < info.size:
        return CheckResult.fail(
            "artefact",
            f"the artefact is truncated: {size} bytes, {info.size} were registered (digest mismatch)",
            value=value,
            threshold=expected,
        )
    if (sha256, size) != (info.sha256, info.size):
        return CheckResult.fail(
            "artefact",
            f"digest mismatch: the artefact's sha256 is {sha256} ({size} bytes), "
            f"{info.sha256} ({info.size} bytes) was registered; it changed after registration",
            value=value,
            threshold=expected,
        )
    if size < min_bytes:
        return CheckResult.fail(
            "artefact",
            f"the artefact is only {size} bytes (minimum {min_bytes}): too small to be a trained model",
            value=value,
            threshold={**expected, "min_bytes": min_bytes},
        )
    return CheckResult.ok(
        "artefact", f"{size} bytes, sha256 matches the registered digest", value=value, threshold=expected
    )


def load(answer: Mapping[str, Any] | None, died: str | None, timeout_s: float) -> CheckResult:
    """Check 2: the probe process unpickled it within the timeout, and it has a callable predict()."""
    threshold = {"timeout_s": timeout_s}
    if died is not None:
        return CheckResult.fail("load", died, threshold=threshold)
    assert answer is not None
    if not answer.get("ok"):
        return CheckResult.fail(
            "load",
            f"cannot unpickle the artefact: {answer.get('error')}",
            threshold=threshold,
            traceback=answer.get("traceback"),
        )
    kind = str(answer.get("type"))
    value = {"type": kind, "seconds": round(float(answer.get("seconds") or 0.0), 4)}
    if not answer.get("has_predict"):
        return CheckResult.fail(
            "load",
            f"not a model: the artefact is a {kind}, which has no callable predict()",
            value=value,
            threshold=threshold,
        )
    return CheckResult.ok(
        "load", f"loaded a {kind} in {value['seconds']:.2f} s", value=value, threshold=threshold
    )


def contract_problem(stored: FeatureContract | None, expected: FeatureContract | None) -> str | None:
    """Why the stored contract cannot be used (missing, or not the consumer's contract of a built-in)."""
    if stored is None:
        return "the version has no feature contract in its metadata; register it with its contract"
    if expected is None:
        return None
    mine, theirs = stored.to_json(), expected.to_json()
    if mine != theirs:
        differs = sorted(k for k in mine if mine[k] != theirs[k])  # type: ignore[literal-required]
        return (
            f"the stored feature contract differs from {expected.model}'s consumer contract in "
            f"{', '.join(differs)} (stored width {stored.width}, expected {expected.width})"
        )
    return None


def contract(
    stored: FeatureContract,
    n_features_in: int | None,
    exact: Mapping[str, Any],
    narrower: Mapping[str, Any],
    wider: Mapping[str, Any],
) -> CheckResult:
    """Check 3: predict takes rows of exactly the contract's width and refuses width-1 and width+1."""
    width = stored.width
    threshold = {"width": width, "feature_names": list(stored.feature_names[:5])}
    value: dict[str, Any] = {"n_features_in": n_features_in}
    if n_features_in is not None and n_features_in != width:
        return CheckResult.fail(
            "contract",
            f"the model was fitted on {n_features_in} features but its contract has {width}",
            value=value,
            threshold=threshold,
        )
    if not exact.get("ok"):
        return CheckResult.fail(
            "contract",
            f"predict() fails on 2 rows of the contract's width {width}: {exact.get('error')}",
            value=value,
            threshold=threshold,
        )
    accepted = [w for w, answer in ((width - 1, narrower), (width + 1, wider)) if answer.get("ok")]
    value["accepts"] = [width, *accepted]
    if accepted:
        return CheckResult.fail(
            "contract",
            f"predict() accepts rows of {' and '.join(map(str, accepted))} features; a model of width "
            f"{width} must refuse any other width, or a consumer's mistake goes unnoticed",
            value=value,
            threshold=threshold,
        )
    return CheckResult.ok(
        "contract",
        f"takes exactly {width} features and refuses {width - 1} and {width + 1}",
        value=value,
        threshold=threshold,
    )


def predictions(values: np.ndarray, rows: int, stored: FeatureContract, model: str) -> CheckResult:
    """Check 4: one answer per held-out row, of the contract's output width, finite, and not constant."""
    targets = stored.target_width
    shape = list(values.shape)
    expected = [rows, targets] if targets > 1 else [rows]
    threshold: dict[str, Any] = {"shape": expected, "finite": True, "constant": False}
    value: dict[str, Any] = {"shape": shape}
    if shape != expected and not (targets == 1 and shape == [rows, 1]):
        return CheckResult.fail(
            "predictions",
            f"predict() returned shape {tuple(shape)} for {rows} held-out rows, expected {tuple(expected)}",
            value=value,
            threshold=threshold,
        )
    matrix = values.reshape(rows, -1)
    bad = ~np.isfinite(matrix)
    value["non_finite"] = int(bad.sum())
    if bad.any():
        first = int(np.flatnonzero(bad.any(axis=1))[0])
        kinds = sorted({"NaN" if np.isnan(v) else "inf" for v in matrix[bad][:1000]})
        return CheckResult.fail(
            "predictions",
            f"{value['non_finite']} non-finite predictions ({'/'.join(kinds)}) on {rows} held-out rows, "
            f"the first in row {first}",
            value=value,
            threshold=threshold,
        )
    constant = [i for i in range(matrix.shape[1]) if np.ptp(matrix[:, i]) == 0]
    value["distinct"] = len(np.unique(matrix, axis=0))
    if rows > 1 and constant:
        names = [stored.target_names[i] if i < len(stored.target_names) else f"output {i}" for i in constant]
        return CheckResult.fail(
            "predictions",
            f"constant predictions: {', '.join(names)} is {matrix[0, constant[0]]:g} for all {rows} held-out "
            "rows; the model does not respond to its inputs",
            value=value,
            threshold=threshold,
        )
    if model == ANOMALY_DETECTOR:
        labels = set(np.unique(matrix).tolist())
        value["labels"] = sorted(labels)
        if not labels <= ANOMALY_LABELS:
            return CheckResult.fail(
                "predictions",
                f"predict() answered {sorted(labels)[:5]}; the consumer expects 1 (normal) or -1 (anomaly)",
                value=value,
                threshold={**threshold, "labels": [-1, 1]},
            )
        value["flagged_rate"] = round(float((matrix == -1).mean()), 6)
    return CheckResult.ok(
        "predictions",
        f"{rows} held-out rows: shape {tuple(shape)}, all finite, {value['distinct']} distinct answers",
        value=value,
        threshold=threshold,
    )


def infra(report: Mapping[str, Any] | None, died: str | None, timeout_s: float) -> CheckResult:
    """Check 6: the real server loaded the candidate and answered a V1 and a V2 request as that version."""
    threshold = {"protocols": ["v1", "v2"], "timeout_s": timeout_s}
    if died is not None or report is None:
        return CheckResult.fail("infra", died or "no infra validation report", threshold=threshold)
    queries = [
        {k: q.get(k) for k in ("protocol", "status", "model_version", "seconds")}
        for q in report.get("queries", [])
    ]
    value = {
        "loaded": report.get("loaded"),
        "engine": report.get("engine"),
        "load_seconds": report.get("load_seconds"),
        "queries": queries,
    }
    if report.get("ok"):
        return CheckResult.ok(
            "infra",
            f"served by the real server ({report.get('engine')}); V1 and V2 answered as version "
            f"{report.get('version')}",
            value=value,
            threshold=threshold,
        )
    problems = list(report.get("problems") or []) or [str(report.get("load_error") or "not OK")]
    return CheckResult.fail("infra", "; ".join(problems), value=value, threshold=threshold)
