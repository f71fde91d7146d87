"""Wall time of `model-training-pipeline` for the anomaly detector on 7 days of synthetic data, split into the
time inside the steps (the processes: notebook, gate, deploy, verify) and the engine's own overhead.

    .venv/bin/python bench/pipeline.py [--hours 168] [--repeat 3]

A local inference server runs in this process, as `make demo` has one. The steps run in the sandbox the
engine picks (bubblewrap when available). Every figure comes from the same run of this program.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import retrain.engine.taskrun as taskrun_module
from retrain.app.requests import TrainingRequest, local_pipelinerun
from retrain.catalog import builtin_catalog
from retrain.engine.engine import Engine
from retrain.runs.store import RunStore
from retrain.serving import BackgroundServer, create_app

STEP_SECONDS: list[tuple[str, float]] = []
_original_run_step = getattr(taskrun_module, "run_step")  # noqa: B009 - patched below, on purpose


async def _timed_run_step(launch: Any, sandbox: Any, **kwargs: Any) -> Any:
    started = time.perf_counter()
    try:
        return await _original_run_step(launch, sandbox, **kwargs)
    finally:
        STEP_SECONDS.append((launch.name, time.perf_counter() - started))


def one_run(engine: Engine, registry: Path, url: str, hours: str) -> tuple[float, float, dict[str, float]]:
    STEP_SECONDS.clear()
    req = TrainingRequest(
        model="anomaly-detector", training_hours=hours, data_source="synthetic", serving_url=url
    )
    run, host_dirs = local_pipelinerun(req, engine.catalog.pipeline(req.pipeline), registry, cwd=Path.cwd())
    started = time.perf_counter()
    sub = engine.submit(run, host_dirs=host_dirs)
    result = asyncio.run(engine.execute(sub))
    wall = time.perf_counter() - started
    if not result.succeeded:
        raise SystemExit(f"pipeline failed: {result.reason}: {result.message}")
    per_step: dict[str, float] = {}
    for name, seconds in STEP_SECONDS:
        per_step[name] = per_step.get(name, 0.0) + seconds
    return wall, sum(per_step.values()), per_step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hours", default="168")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    setattr(taskrun_module, "run_step", _timed_run_step)  # noqa: B010 - time every step process
    with tempfile.TemporaryDirectory(prefix="retrain-bench-pipeline-") as tmp:
        registry = Path(tmp) / "registry"
        registry.mkdir()
        app = create_app(registry, poll_interval_s=0.2)
        with BackgroundServer(app) as server, RunStore(Path(tmp) / "home") as store:
            engine = Engine(store, catalog=builtin_catalog())
            rows = [one_run(engine, registry, server.url, args.hours) for _ in range(args.repeat)]
    walls = [r[0] for r in rows]
    steps = [r[1] for r in rows]
    overhead = [w - s for w, s in zip(walls, steps, strict=True)]
    print(
        f"model-training-pipeline, anomaly-detector, {args.hours} h synthetic, {args.repeat} runs (medians)"
    )
    print(f"  wall time           {statistics.median(walls):7.2f} s")
    print(f"  inside the steps    {statistics.median(steps):7.2f} s")
    print(
        f"  engine overhead     {statistics.median(overhead):7.2f} s "
        f"({statistics.median(overhead) / statistics.median(walls):.1%} of the wall time)"
    )
    print("  per step (last run):")
    for name, seconds in rows[-1][2].items():
        print(f"    {name:10} {seconds:7.2f} s")


if __name__ == "__main__":
    main()
