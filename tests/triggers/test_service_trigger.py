"""`retrain trigger` uses the service's API when a service runs: explicit --service or found through
$RETRAIN_CONFIG; it follows the run there and exits as it would locally (4 refused), and its summary tells
the truth: the stand-in pipeline succeeds without registering anything, so nothing new serves (exit 1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from fixtures.service_helpers import ANOMALY, TOKEN, make_service, served, service_config


def trigger(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("RETRAIN_")}
    return subprocess.run(
        [sys.executable, "-m", "retrain.cli.main", "trigger", ANOMALY, "24", "synthetic", "-y", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env={**clean, **(env or {})},
    )


def test_trigger_through_the_service(tmp_path: Path) -> None:
    config = service_config(tmp_path, "", env={"RETRAIN_API_TOKEN": TOKEN})
    service = make_service(config, tmp_path / "home", tmp_path / "registry", policy="Forbid")
    try:
        with served(service, config) as server:
            done = trigger("--service", server.url, "--token", TOKEN)
            assert done.returncode == 1, done.stdout + done.stderr
            assert "no new version was registered; the pipeline succeeded without deploying it" in done.stdout
            assert "now serves" not in done.stdout
            assert f"in the service at {server.url}" in done.stderr
            (run,) = service.store.list_runs()
            assert run.state == "Succeeded"
            assert run.labels["retrain.dev/trigger"] == "api"
            assert f"{run.name}: train Succeeded" in done.stdout
            assert f"PipelineRun {run.name}: Succeeded" in done.stdout

            # Found through $RETRAIN_CONFIG (the service's address), with the token from the environment.
            (tmp_path / "cli.yaml").write_text(f"server:\n  port: {server.port}\n")
            (service.registry_root / f"hold-{ANOMALY}").touch()
            env = {"RETRAIN_CONFIG": str(tmp_path / "cli.yaml"), "RETRAIN_API_TOKEN": TOKEN}
            detached = trigger("--detach", env=env)
            assert detached.returncode == 0, detached.stdout + detached.stderr
            assert "started in the service" in detached.stderr
            refused = trigger("--detach", env=env)  # Forbid while the first one runs: exit 4 as locally
            assert refused.returncode == 4, refused.stdout + refused.stderr
            assert "Forbid" in refused.stderr
            wrong = trigger("--service", server.url, "--token", "nope")
            assert wrong.returncode != 0
            assert "bearer token is not valid" in wrong.stderr
            (service.registry_root / f"hold-{ANOMALY}").unlink()
    finally:
        (service.registry_root / f"hold-{ANOMALY}").unlink(missing_ok=True)
        service.close()
    active = [r.name for r in service.store.list_runs() if r.state in ("Pending", "Running")]
    assert not active
