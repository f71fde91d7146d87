"""Benchmark of training: data generation, feature building and training time of the anomaly detector on
7 and 30 days of 1-minute data, and the notebook runner's overhead against calling the trainer directly.

    .venv/bin/python bench/training.py [--repeat N] [--gpu]

"direct" runs exactly what the built-in notebook runs (load the handed-over data, train and evaluate, write
model.pkl/metrics.json/training.json) in this process, whose imports are already warm; "direct, fresh
process" runs it in a new interpreter (paying Python start-up and the pandas/scikit-learn imports, as the
notebook's kernel does); "notebook" runs the built-in notebook through the papermill runner. Each figure is
the median of --repeat runs. `--gpu` adds the forecaster on CPU vs XGBoost on CUDA (skipped without CUDA).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

from retrain.data import fetch
from retrain.data.features import build_features
from retrain.data.sources import Dataset
from retrain.training import anomaly, forecast
from retrain.training.builtin import builtin_notebook
from retrain.training.gpu import DevicePlan, detect_cuda
from retrain.training.handoff import dump_dataset, load_dataset
from retrain.training.notebooks import NotebookJob, run_notebook
from retrain.training.outputs import TrainResult, save_outputs

END = datetime(2025, 1, 29, 6, tzinfo=UTC)
MODEL = "anomaly-detector"

DIRECT = """
import sys
from retrain.training.anomaly import train_and_evaluate
from retrain.training.handoff import load_dataset
from retrain.training.outputs import TrainResult, save_outputs
save_outputs(train_and_evaluate(load_dataset(sys.argv[1])), sys.argv[2])
"""


def median_time(repeat: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def direct(data: Path, out: Path) -> None:
    save_outputs(anomaly.train_and_evaluate(load_dataset(data)), out)


def fresh_process(data: Path, out: Path) -> None:
    subprocess.run([sys.executable, "-c", DIRECT, str(data), str(out)], check=True, timeout=600)


def notebook(data: Path, out: Path) -> None:
    job = NotebookJob(
        notebook=builtin_notebook(MODEL),
        output=out / "executed.ipynb",
        parameters={"data_path": str(data), "model_name": MODEL},
        env={"MODEL_DIR": str(out / "model"), "MODEL_NAME": MODEL},
    )
    run_notebook(job)


def anomaly_rows(days: int, repeat: int, work: Path) -> dict[str, float]:
    hours = days * 24
    gen = median_time(repeat, lambda: fetch(MODEL, "synthetic", hours, end=END))
    dataset = fetch(MODEL, "synthetic", hours, end=END)
    feat = median_time(repeat, lambda: build_features(MODEL, dataset.frame))
    matrix = build_features(MODEL, dataset.frame).matrix()
    fit = median_time(repeat, lambda: anomaly.make_model().fit(matrix))
    whole = median_time(repeat, lambda: anomaly.train_and_evaluate(dataset))
    data = dump_dataset(dataset, work / f"data-{days}.pkl")
    run_direct = median_time(repeat, lambda: direct(data, work / f"direct-{days}"))
    run_fresh = median_time(repeat, lambda: fresh_process(data, work / f"fresh-{days}"))
    run_notebook_ = median_time(repeat, lambda: notebook(data, work / f"nb-{days}"))
    return {
        "rows": float(len(matrix)),
        "generate": gen,
        "features": feat,
        "fit": fit,
        "train+evaluate": whole,
        "direct": run_direct,
        "fresh": run_fresh,
        "notebook": run_notebook_,
    }


def gpu_rows(repeat: int) -> None:
    status = detect_cuda()
    print()
    if not status.available:
        print(f"forecaster on the GPU: skipped ({status.reason})")
        return
    dataset: Dataset = fetch("predictive-analytics", "synthetic", 720, end=END)
    for plan in (DevicePlan(False, False), DevicePlan(True, True)):

        def train(device: DevicePlan = plan) -> TrainResult:
            return forecast.train_and_evaluate(dataset, plan=device)

        seconds = median_time(repeat, train)
        result = train()
        print(
            f"forecaster 30 days on {plan.device:4s}: {seconds:6.2f} s  trainer={result.trainer}  "
            f"r2={result.metrics['r2']:.3f} skill={result.metrics['skill']:.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--gpu", action="store_true", help="also time the forecaster on CUDA")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        results = {days: anomaly_rows(days, args.repeat, Path(tmp)) for days in (7, 30)}
    print(f"anomaly-detector, synthetic 1-minute data, median of {args.repeat} runs (seconds)")
    header = (
        f"{'window':>7} {'rows':>6} {'generate':>9} {'features':>9} {'fit':>7} {'train+eval':>10} "
        f"{'direct':>7} {'fresh':>7} {'notebook':>9} {'nb/direct':>9} {'nb/fresh':>8}"
    )
    print(header)
    print("-" * len(header))
    for days, r in results.items():
        print(
            f"{days:>5} d {int(r['rows']):>6} {r['generate']:>9.3f} {r['features']:>9.3f} {r['fit']:>7.3f} "
            f"{r['train+evaluate']:>10.3f} {r['direct']:>7.3f} {r['fresh']:>7.3f} {r['notebook']:>9.3f} "
            f"{r['notebook'] / r['direct']:>8.2f}x {r['notebook'] / r['fresh']:>7.2f}x"
        )
    print(
        "\ndirect: the notebook's work in this (warm) process; fresh: the same in a new interpreter; "
        "notebook: the built-in notebook through the papermill runner (kernel start, imports, the same work)."
    )
    target = results[7]["notebook"] / results[7]["fresh"]
    print(f"target: notebook < 1.5x direct for 7 days -> {target:.2f}x against a fresh process")
    if args.gpu:
        gpu_rows(args.repeat)


if __name__ == "__main__":
    main()
