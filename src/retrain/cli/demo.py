"""`retrain demo` (what `make demo` runs): the main job end to end on one machine.

Starts a local inference server, runs `model-training-pipeline` for both built-in models on synthetic data
(train -> gate -> deploy -> verify, rollback on failure), prints what happened and one request/answer per
model with a copy-pasteable curl command, and stops everything it started.
"""

from __future__ import annotations

import asyncio
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import typer

from retrain.cli.exits import EXIT_FAILED, EXIT_OK, exits

# The platform's windows: a week for the anomaly detector, 30 days for the forecaster (a 1 h horizon needs
# weeks of history to beat the "no change" forecast).
DEMO_MODELS = (("anomaly-detector", "168"), ("predictive-analytics", "720"))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_server(registry: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    out = log.open("ab")
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrain.cli.main", "serve", "--registry", str(registry), "--port", str(port)],
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # bounded: the server answers in about a second
        if proc.poll() is not None:
            raise SystemExit(f"the inference server exited early; see {log}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/v2/health/live", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.terminate()
    raise SystemExit(f"the inference server did not answer within 30 s; see {log}")


def stop_server(proc: subprocess.Popen[bytes]) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def example_call(url: str, model: str) -> tuple[str, Any]:
    from retrain.data.features import example_instances

    body = json.dumps({"instances": example_instances(model, rows=1)})
    request = urllib.request.Request(  # noqa: S310 - our own server on 127.0.0.1, built above
        f"{url}/v1/models/{model}:predict", data=body.encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as answer:  # noqa: S310
        reply = json.loads(answer.read()), answer.headers.get("X-Model-Version")
    curl = f"curl -s {url}/v1/models/{model}:predict -H 'Content-Type: application/json' -d '{body}'"
    return curl, reply


def demo_command(
    home: Path = typer.Option(
        Path(".retrain/demo"), "--home", help="Where the demo keeps its runs and registry."
    ),
    data_source: str = typer.Option("synthetic", "--data-source", help="synthetic, prometheus or hybrid."),
) -> None:
    """Train, gate, deploy and verify both built-in models with the local Tekton engine."""
    from retrain.app.engine import build_engine
    from retrain.app.requests import TrainingRequest
    from retrain.app.trigger import TriggerRequest, record_summary, start, summarize
    from retrain.console.live import execute_with_table
    from retrain.console.summary import print_summary

    with exits():
        started = time.monotonic()
        home = home.resolve()
        home.mkdir(parents=True, exist_ok=True)
        os.environ["RETRAIN_HOME"] = str(home)
        registry = home / "registry"
        registry.mkdir(exist_ok=True)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        server = start_server(registry, port, home / "server.log")
        print(f"inference server: {url} (registry {registry}, log {home / 'server.log'})")
        summaries = []
        try:
            engine = build_engine(home, "auto")
            for model, hours in DEMO_MODELS:
                req = TrainingRequest(
                    model=model, training_hours=hours, data_source=data_source, gpu=False, serving_url=url
                )
                sub = start(engine, TriggerRequest(req, registry, Path.cwd()))
                print(f"PipelineRun {sub.name} started ({req.pipeline}, model {model})")
                asyncio.run(execute_with_table(engine, sub))
                summary = summarize(engine.store, registry, sub.name)
                record_summary(engine.store, summary)
                print_summary(summary)
                summaries.append(summary)
            print("\nexample requests (answered by the server during the demo):")
            for model, _ in DEMO_MODELS:
                try:
                    curl, (reply, version) = example_call(url, model)
                except OSError as exc:
                    print(f"  {model}: no answer ({exc})")
                    continue
                print(f"  {model} (version {version}):\n    {curl}\n    -> {json.dumps(reply)}")
        finally:
            stop_server(server)
        print(
            f"\ndone in {time.monotonic() - started:.0f} s; the server is stopped. "
            "Serve the models again with:\n"
            f"  .venv/bin/retrain serve --registry {registry} --port {port}\n"
            f"and list the runs with: .venv/bin/retrain runs list --home {home}"
        )
        ok = all(s.ok for s in summaries)
        raise typer.Exit(EXIT_OK if ok else EXIT_FAILED)


def register(app: typer.Typer) -> None:
    app.command("demo")(demo_command)
