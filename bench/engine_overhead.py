"""Engine overhead per task: a 50-task pipeline of trivial steps against the same steps as bare processes.

Both shapes Tekton users write are measured: a fan-out (50 independent tasks) and a chain (50 tasks, each
runAfter the one before). The baseline runs the same step scripts as bare processes, with the same
parallelism, in the same run of this program (the machines are noisy, so only same-run ratios mean much).

    .venv/bin/python bench/engine_overhead.py [--tasks 50] [--repeat 3] [--sandbox auto|bwrap|host]

Target (issue 2): under 15 ms of overhead per task on a 2-core machine, with the sandbox on.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from retrain.engine.engine import Engine
from retrain.engine.sandbox import detect_sandbox
from retrain.runs.store import RunStore
from retrain.tekton.model import PipelineRun

STEP = "#!/bin/sh\ntrue\n"


def pipelinerun(shape: str, tasks: int) -> PipelineRun:
    spec_tasks: list[dict[str, Any]] = []
    for i in range(tasks):
        task: dict[str, Any] = {
            "name": f"t{i}",
            "taskSpec": {"steps": [{"name": "noop", "image": "busybox", "script": STEP}]},
        }
        if shape == "chain" and i:
            task["runAfter"] = [f"t{i - 1}"]
        spec_tasks.append(task)
    return PipelineRun.model_validate(
        {"metadata": {"generateName": f"bench-{shape}-"}, "spec": {"pipelineSpec": {"tasks": spec_tasks}}}
    )


async def bare(shape: str, tasks: int, script: Path) -> float:
    start = time.perf_counter()
    if shape == "chain":
        for _ in range(tasks):
            proc = await asyncio.create_subprocess_exec(str(script))
            await proc.wait()
    else:
        procs = [await asyncio.create_subprocess_exec(str(script)) for _ in range(tasks)]
        await asyncio.gather(*(p.wait() for p in procs))
    return time.perf_counter() - start


async def engine_run(engine: Engine, shape: str, tasks: int) -> float:
    start = time.perf_counter()
    sub = engine.submit(pipelinerun(shape, tasks))
    result = await engine.execute(sub)
    elapsed = time.perf_counter() - start
    if not result.succeeded:
        raise SystemExit(f"benchmark run failed: {result.reason}: {result.message}")
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--sandbox", default="auto", choices=["auto", "bwrap", "host"])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="retrain-bench-") as tmp:
        script = Path(tmp) / "step.sh"
        script.write_text(STEP)
        script.chmod(0o755)
        sandbox = detect_sandbox(prefer=args.sandbox)
        store = RunStore(Path(tmp) / "home")
        engine = Engine(store, sandbox=sandbox)
        print(f"sandbox: {sandbox.mode}; tasks per pipeline: {args.tasks}; repeats: {args.repeat}")
        print(f"{'shape':8} {'bare s':>8} {'engine s':>9} {'overhead/task ms':>17} {'ratio':>7}")
        worst = 0.0
        for shape in ("fan-out", "chain"):
            bare_times, engine_times = [], []
            for _ in range(args.repeat):
                bare_times.append(asyncio.run(bare(shape, args.tasks, script)))
                engine_times.append(asyncio.run(engine_run(engine, shape, args.tasks)))
            b, e = statistics.median(bare_times), statistics.median(engine_times)
            per_task_ms = (e - b) / args.tasks * 1000
            worst = max(worst, per_task_ms)
            print(f"{shape:8} {b:8.3f} {e:9.3f} {per_task_ms:17.2f} {e / b:7.2f}")
        store.close()
        verdict = "meets" if worst < 15 else "MISSES"
        print(f"worst overhead per task: {worst:.2f} ms ({verdict} the 15 ms target)")
        sys.exit(0)


if __name__ == "__main__":
    main()
