"""A newcomer's first training of each built-in model, for 24, 168 and 720 h windows: the gate's verdict.

    .venv/bin/python bench/first_training.py [--seeds 1] [--windows 24 168 720] [--models ...]

Each row is what `retrain train MODEL --hours W --data-source synthetic` followed by `retrain check` does
on an empty registry: the built-in notebook trains on the last W hours of synthetic data (seed 42, then
43, ... with --seeds), the version is registered as a candidate, and the gate judges it with the default
thresholds (no baseline: value thresholds only). Printed: the verdict, the key metrics measured by the gate
on the held-out rows, the number of those rows, and the checks that failed. Windows end now, so a rerun on
another day sees other weekdays.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from retrain.data.contracts import ANOMALY_DETECTOR, BUILTIN_MODELS
from retrain.gate import check_version
from retrain.registry import Registry
from retrain.training.train import TrainRequest, train

KEY_METRICS = {
    ANOMALY_DETECTOR: ("f1", "roc_auc", "flagged_rate"),
    "predictive-analytics": ("r2", "skill"),
}


def first_training(model: str, hours: float, seed: int, root: Path) -> tuple[str, str, int, str, float]:
    registry = Registry(root / f"{model}-{hours:g}-{seed}")
    started = time.perf_counter()
    outcome = train(TrainRequest(model, hours=hours, seed=seed), registry)
    report = check_version(registry, model, outcome.version.version)
    candidate = report.metrics.get("candidate") or {}
    shown = ", ".join(
        f"{name} {candidate[name]:.3f}" if isinstance(candidate.get(name), float) else f"{name} -"
        for name in KEY_METRICS[model]
    )
    failed = "; ".join(c.name for c in report.checks if c.failed) or "-"
    rows = int((report.holdout or {}).get("rows") or 0)
    return report.verdict, shown, rows, failed, time.perf_counter() - started


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n", 1)[0])
    parser.add_argument("--seeds", type=int, default=1)
    parser.add_argument("--windows", type=float, nargs="+", default=[24.0, 168.0, 720.0])
    parser.add_argument("--models", nargs="+", default=list(BUILTIN_MODELS), choices=BUILTIN_MODELS)
    args = parser.parse_args(argv)
    header = f"{'model':<22}{'window':>7} {'seed':>5}  {'verdict':<9} {'held-out':>8}  {'metrics':<44} failed"
    print(header)
    print("-" * len(header))
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        for model in args.models:
            for hours in args.windows:
                for seed in range(42, 42 + args.seeds):
                    verdict, shown, rows, failed, _ = first_training(model, hours, seed, Path(tmp))
                    print(
                        f"{model:<22}{hours:>6g}h {seed:>5}  {verdict:<9} {rows:>8}  {shown:<44} {failed}",
                        flush=True,
                    )


if __name__ == "__main__":
    main()
