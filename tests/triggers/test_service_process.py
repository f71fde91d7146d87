"""`retrain serve` as a real process with a configuration file: SIGTERM drains gracefully (queued runs
cancelled, running ones get the grace period, receivers answer 503 meanwhile), a second Ctrl-C cancels at
once, and a restart after a crash marks the interrupted run and does not replay a delivery."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from fixtures.service_helpers import (
    AM_TOKEN,
    ANOMALY,
    SECRET,
    TOKEN,
    push,
    standin_text,
    wait_until,
)
from retrain.api import github_signature
from retrain.app.endpoints import discover
from retrain.runs.store import RunStore

ENV = {
    "RETRAIN_API_TOKEN": TOKEN,
    "RETRAIN_GITHUB_WEBHOOK_SECRET": SECRET,
    "RETRAIN_ALERTMANAGER_TOKEN": AM_TOKEN,
}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class Serve:
    proc: subprocess.Popen[str]
    url: str
    home: Path
    registry: Path

    def hold(self) -> None:
        (self.registry / f"hold-{ANOMALY}").touch()

    def release(self) -> None:
        (self.registry / f"hold-{ANOMALY}").unlink(missing_ok=True)

    def start_run(self) -> httpx.Response:
        headers = {"Authorization": f"Bearer {TOKEN}"}
        return httpx.post(f"{self.url}/api/v1/runs", json={"model": ANOMALY}, headers=headers, timeout=10)

    def deliver(self, delivery: str) -> httpx.Response:
        body = json.dumps(push(f"notebooks/{ANOMALY}.ipynb")).encode()
        headers = {
            "X-GitHub-Event": "push",
            "X-GitHub-Delivery": delivery,
            "X-Hub-Signature-256": github_signature(SECRET, body),
            "Content-Type": "application/json",
        }
        return httpx.post(f"{self.url}/hooks/github", content=body, headers=headers, timeout=10)

    def state(self, run: str) -> str:
        with RunStore(self.home) as store:
            return store.get_run(run).state

    def finish(self, timeout_s: float = 30) -> str:
        out, _ = self.proc.communicate(timeout=timeout_s)
        return out


@contextmanager
def serve(tmp: Path, *, grace: float, policy: str = "Queue") -> Iterator[Serve]:
    (tmp / "standin.yaml").write_text(
        "\n---\n".join(
            standin_text(name, policy=policy)
            for name in ("model-training-pipeline", "model-training-pipeline-gpu")
        )
    )
    config = tmp / "retrain.yaml"
    config.write_text(
        f"server:\n  home: home\n  registry: registry\n  shutdown_grace_s: {grace}\ncatalog: [standin.yaml]\n"
    )
    (tmp / "registry").mkdir(exist_ok=True)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "retrain.cli.main", "serve", "--config", str(config), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env={**os.environ, **ENV},
    )
    s = Serve(proc, f"http://127.0.0.1:{port}", tmp / "home", tmp / "registry")

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"retrain serve exited early: {proc.communicate()[0]}")
        try:
            return httpx.get(f"{s.url}/api/v1/health", timeout=1).status_code == 200
        except httpx.TransportError:
            return False

    try:
        wait_until(up, timeout_s=60, what="retrain serve to answer")
        found = discover(s.home)
        assert found.endpoint is not None, found.reason
        assert (found.endpoint.url, found.endpoint.pid) == (s.url, proc.pid)
        yield s
    finally:
        s.release()
        if proc.poll() is None:
            proc.kill()
            proc.communicate()


def test_sigterm_drains_gracefully_and_leaves_no_run_running(tmp_path: Path) -> None:
    with serve(tmp_path, grace=30) as s:
        s.hold()
        running = s.start_run().json()
        queued = s.start_run().json()
        assert (running["status"], queued["status"]) == ("started", "queued")
        wait_until(lambda: s.state(running["run"]) == "Running", what="the first run to run")
        s.proc.send_signal(signal.SIGTERM)
        # Draining: the queued run is cancelled at once, every receiver answers 503, inference still runs.
        wait_until(lambda: s.state(queued["run"]) == "Cancelled", what="the queued run to be cancelled")
        # Its endpoint record is gone at once, so no new client picks a server on its way out.
        assert discover(s.home).state == "none"
        refused = s.start_run()
        assert refused.status_code == 503, refused.text
        assert refused.json()["status"] == "unavailable"
        assert int(refused.headers["retry-after"]) > 0
        assert httpx.get(f"{s.url}/v2/health/live", timeout=5).status_code == 200
        health = httpx.get(f"{s.url}/api/v1/health", timeout=5).json()
        assert health["accepting"] is False
        s.release()  # within the grace period: the running pipeline finishes
        output = s.finish()
        assert s.proc.returncode == 0, output
        assert s.state(running["run"]) == "Succeeded"
        assert "Application shutdown complete" in output


def test_grace_expiry_and_a_second_ctrl_c_cancel_the_runs(tmp_path: Path) -> None:
    with serve(tmp_path, grace=0.5) as s:
        s.hold()
        expired = s.start_run().json()["run"]
        wait_until(lambda: s.state(expired) == "Running", what="the run to run")
        s.proc.send_signal(signal.SIGTERM)
        output = s.finish()
        assert s.proc.returncode == 0, output
        assert s.state(expired) == "Cancelled"
    with serve(tmp_path, grace=600) as s:
        s.hold()
        name = s.start_run().json()["run"]
        wait_until(lambda: s.state(name) == "Running", what="the run to run")
        s.proc.send_signal(signal.SIGINT)
        wait_until(lambda: httpx.get(f"{s.url}/api/v1/health").json()["accepting"] is False, what="drain")
        s.proc.send_signal(signal.SIGINT)  # the second Ctrl-C: cancel now, not after 600 s
        output = s.finish(timeout_s=30)
        assert s.proc.returncode == 0, output
        assert s.state(name) == "Cancelled"
        assert "cancelling the active runs now" in output


def test_restart_after_a_crash_marks_the_run_and_does_not_replay(tmp_path: Path) -> None:
    with serve(tmp_path, grace=5) as s:
        s.hold()
        first = s.deliver("delivery-1")
        assert first.status_code == 202, first.text
        run = first.json()["run"]
        wait_until(lambda: s.state(run) == "Running", what="the run to run")
        s.proc.kill()  # a crash: no drain at all
        s.finish()
    with serve(tmp_path, grace=5) as s:
        assert s.state(run) == "Failed"
        with RunStore(s.home) as store:
            assert store.get_run(run).reason == "EngineInterrupted"
        replay = s.deliver("delivery-1")
        assert replay.status_code == 200, replay.text
        assert "already handled" in replay.json()["reason"]
        fresh = s.deliver("delivery-2")
        assert fresh.status_code == 202, fresh.text
        s.proc.send_signal(signal.SIGTERM)
        s.finish()
        assert s.state(fresh.json()["run"]) in ("Succeeded", "Cancelled")
