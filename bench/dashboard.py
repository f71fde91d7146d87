"""The dashboard's cost against the JSON API for the same data, on a real `retrain serve`.

    .venv/bin/python bench/dashboard.py [--runs 100000] [--tasks 50] [--repeat 30]

Builds a run store with one real run of a `--tasks`-task pipeline (run by `retrain run --sandbox host`:
its tasks, steps, logs and graph are real), then `--runs` finished runs copied in SQL from a real run of a
3-task pipeline (the list's rows; the copies have no task runs). Serves it with `retrain serve`, and times
over HTTP on 127.0.0.1:

- runs page: GET /runs (newest 50 with the filters form and the pager) against GET /api/v1/runs?limit=50;
- run page: GET /runs/NAME (graph, tasks with steps, failure, params, results) against the JSON for the
  same data, GET /api/v1/runs/NAME plus GET /api/v1/runs/NAME/taskruns.

TTFB is the time to the response's headers; "full" the time to its last byte; for the JSON, the calls
one after the other. For a page, "+assets" adds its CSS and JS (fetched each time, as a first visit does).
The ratio is the page's full time over the JSON's. Medians of --repeat tries, after a warm-up.
Target (issue 11): the page costs no more than 2x the JSON call, and under 300 ms.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

RETRAIN = [sys.executable, "-m", "retrain.cli.main"]
BIG_RUN = "bench-big"
SMALL_RUN = "bench-small"


def pipeline_yaml(tasks: int) -> str:
    """A fan-out/fan-in graph: a root, tasks-2 middle tasks in rows of 7 after it, and a final join."""
    lines = ["apiVersion: tekton.dev/v1", "kind: PipelineRun", f"metadata: {{name: {BIG_RUN}}}", "spec:",
             "  pipelineSpec:", "    tasks:"]  # fmt: skip
    names = [f"t{i:02d}" for i in range(tasks)]
    for i, name in enumerate(names):
        after = [] if i == 0 else ([names[0]] if i < 8 else [names[i - 7]])
        if i == tasks - 1:
            after = names[max(1, tasks - 8) : tasks - 1]
        lines += [f"      - name: {name}", f"        runAfter: {json.dumps(after)}", "        taskSpec:",
                  "          steps:", "            - name: work", "              image: busybox",
                  f"              script: echo task {name} did its work"]  # fmt: skip
    return "\n".join(lines) + "\n"


def run_file(home: Path, text: str) -> None:
    path = home.parent / "run.yaml"
    path.write_text(text)
    env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    cmd = [*RETRAIN, "run", "-q", "--sandbox", "host", "-f", str(path), "--home", str(home)]
    subprocess.run(cmd, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def build_store(home: Path, runs: int, tasks: int) -> None:
    run_file(home, pipeline_yaml(3).replace(BIG_RUN, SMALL_RUN))
    run_file(home, pipeline_yaml(tasks))
    db = sqlite3.connect(home / "retrain.db")
    with db:  # copies of the real run's row: same size, distinct names, older than it
        db.execute(
            """
            WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < ?)
            INSERT INTO runs (name, kind, pipeline, state, reason, created_at, started_at, completed_at,
                              manifest, status, labels)
            SELECT printf('copy-%06d', i), kind, pipeline, CASE WHEN i % 5 = 0 THEN 'Failed' ELSE state END,
                   reason, strftime('%Y-%m-%dT%H:%M:%f+00:00', '2025-01-01', printf('+%d seconds', i)),
                   started_at, completed_at, manifest, status, labels
            FROM n, runs WHERE runs.name = ?
            """,
            (runs, SMALL_RUN),
        )
    db.close()


def timed(client: httpx.Client, path: str) -> tuple[float, float]:
    start = time.perf_counter()
    with client.stream("GET", path) as answer:
        ttfb = time.perf_counter() - start
        for _ in answer.iter_bytes():
            pass
        answer.raise_for_status()
    return ttfb, time.perf_counter() - start


def measure(client: httpx.Client, page: list[str], api: list[str], repeat: int) -> list[float]:
    """Median milliseconds: the page's TTFB, full time, and with its assets; the JSON's first TTFB and all
    its calls' full time. Page and JSON alternate, so a load spike on the machine hits both alike."""
    for path in [*page, *api]:
        timed(client, path)  # warm-up
    samples: list[list[float]] = [[], [], [], [], []]
    for _ in range(repeat):
        p = [timed(client, path) for path in page]
        j = [timed(client, path) for path in api]
        for i, value in enumerate((p[0][0], p[0][1], sum(x for _, x in p), j[0][0], sum(x for _, x in j))):
            samples[i].append(value)
    return [statistics.median(x) * 1000 for x in samples]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=100_000)
    parser.add_argument("--tasks", type=int, default=50)
    parser.add_argument("--repeat", type=int, default=30)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        home = Path(tmp) / "home"
        began = time.perf_counter()
        build_store(home, args.runs, args.tasks)
        print(
            f"store: {args.runs + 2} runs, one with {args.tasks} tasks ({time.perf_counter() - began:.0f} s)"
        )
        env = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
        cmd = [*RETRAIN, "serve", "--port", "0", "--home", str(home), "--registry", str(Path(tmp) / "reg")]
        proc = subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)  # fmt: skip
        try:
            record = home / "serve.json"
            deadline = time.monotonic() + 60
            while not record.exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("retrain serve did not start")
                time.sleep(0.1)
            url = json.loads(record.read_text())["url"]
            with httpx.Client(base_url=url, timeout=60) as client:
                assets = ["/static/dashboard.css", "/static/dashboard.js"]
                cases = [
                    ("runs page", ("/runs",), ["/api/v1/runs?limit=50"]),
                    (f"run page ({args.tasks} tasks)", (f"/runs/{BIG_RUN}",),
                     [f"/api/v1/runs/{BIG_RUN}", f"/api/v1/runs/{BIG_RUN}/taskruns"]),
                ]  # fmt: skip
                print(f"{'':24} {'TTFB ms':>8} {'full ms':>8} {'+assets':>8} {'JSON TTFB':>9} "
                      f"{'JSON full':>9} {'ratio':>6}")  # fmt: skip
                for label, (page,), api in cases:
                    p_ttfb, p_full, p_assets, j_ttfb, j_full = measure(
                        client, [page, *assets], api, args.repeat
                    )
                    ratio = p_full / j_full
                    print(f"{label:24} {p_ttfb:8.1f} {p_full:8.1f} {p_assets:8.1f} {j_ttfb:9.1f} "
                          f"{j_full:9.1f} {ratio:5.2f}x")  # fmt: skip
        finally:
            os.killpg(proc.pid, signal.SIGTERM)
            proc.wait(timeout=30)


if __name__ == "__main__":
    main()
