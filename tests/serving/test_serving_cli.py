"""`retrain serve` as a real process: listens on 127.0.0.1, serves the registry, stops cleanly on SIGTERM."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from fixtures.serving_helpers import ANOMALY, FORECAST, wait_until
from retrain.registry import Registry

# The lead wires `register` into the real `retrain` app; this stand-in app holds only the serve command.
APP = (
    "import typer; from retrain.cli import serve; app = typer.Typer(); serve.register(app); "
    "app.command('noop')(lambda: None); app()"
)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_command_serves_the_registry_and_stops_on_sigterm(registry: Registry) -> None:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-c", APP, "serve", "--registry", str(registry.root), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:

        def ready() -> bool:
            if process.poll() is not None:
                raise AssertionError(
                    f"server exited early: {process.stdout.read() if process.stdout else ''}"
                )
            try:
                return httpx.get(f"http://127.0.0.1:{port}/v2/health/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=60, what="retrain serve ready")
        listing = httpx.get(f"http://127.0.0.1:{port}/v1/models").json()
        assert listing == {"models": [ANOMALY, FORECAST], "versions": {ANOMALY: "1", FORECAST: "1"}}
        started = time.monotonic()
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
        # uvicorn shuts down gracefully, then re-raises the signal it caught: exit status -SIGTERM.
        assert process.returncode in (0, -signal.SIGTERM)
        assert "Application shutdown complete" in output
        assert time.monotonic() - started < 15
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert f"{FORECAST}: version 1 answers now" in output
    assert "127.0.0.1" in output  # the default bind address: not exposed to the network


def test_serve_help_lists_the_options() -> None:
    done = subprocess.run(
        [sys.executable, "-c", APP, "serve", "--help"], capture_output=True, text=True, check=True
    )
    for option in ("--registry", "--host", "--port", "--poll-interval", "--max-body-mb"):
        assert option in done.stdout


def test_models_only_serves_inference_and_nothing_else(registry: Registry, tmp_path: Path) -> None:
    """What a KServe predictor container runs: the models, no API, hooks, schedules, drift or record."""
    port = free_port()
    env = {**os.environ, "RETRAIN_HOME": str(tmp_path / "home"), "RETRAIN_API_TOKEN": "t0ken-for-load"}
    args = ["serve", "--models-only", "--registry", str(registry.root), "--port", str(port)]
    process = subprocess.Popen(
        [sys.executable, "-c", APP, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:

        def ready() -> bool:
            assert process.poll() is None, process.stdout.read() if process.stdout else ""
            try:
                return httpx.get(f"{url}/v2/health/ready").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(ready, timeout_s=60, what="retrain serve --models-only ready")
        assert httpx.get(f"{url}/v2/models/{ANOMALY}").json()["versions"] == ["1"]
        assert httpx.get(f"{url}/api/v1/runs").status_code == 404
        assert httpx.post(f"{url}/hooks/alertmanager", json={}).status_code == 404
        assert httpx.post(f"{url}/v2/repository/models/{ANOMALY}/load").status_code == 401
        process.send_signal(signal.SIGTERM)
        output, _ = process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    assert "no API, hooks, schedules or drift checks" in output
    assert "schedules:" not in output and "drift checks:" not in output
    assert not (tmp_path / "home" / "serve.json").exists()
