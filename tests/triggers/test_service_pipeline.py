"""End to end through the real `model-training-pipeline`: a signed GitHub push that touches the anomaly
detector's notebook trains it on synthetic data, the gate blesses it, it is deployed to the service's own
inference server, verified there, and served, all inside one `retrain serve` service."""

from __future__ import annotations

import json
import uuid
from pathlib import Path

import httpx
import pytest

from fixtures.service_helpers import ANOMALY, SECRET, make_service, push, served, service_config, wait_until
from retrain.api import github_signature
from retrain.app.trigger import SUMMARY_EVENT

pytestmark = pytest.mark.slow

CONFIG = f"""
models:
  - name: {ANOMALY}
    data_source: synthetic
    training_hours: 168
"""


def test_a_push_trains_gates_deploys_and_serves_the_model(tmp_path: Path) -> None:
    config = service_config(tmp_path, CONFIG)
    service = make_service(config, tmp_path / "home", tmp_path / "registry", real=True)
    try:
        with served(service, config) as server:
            body = json.dumps(push(f"notebooks/{ANOMALY}.ipynb")).encode()
            headers = {
                "X-GitHub-Event": "push",
                "X-GitHub-Delivery": str(uuid.uuid4()),
                "X-Hub-Signature-256": github_signature(SECRET, body),
                "Content-Type": "application/json",
            }
            answer = httpx.post(f"{server.url}/hooks/github", content=body, headers=headers, timeout=30)
            assert answer.status_code == 202, answer.text
            run = answer.json()["run"]

            def finished() -> bool:
                state = httpx.get(f"{server.url}/api/v1/runs/{run}").json()["status"]
                return state.get("conditions", [{}])[0].get("status") in ("True", "False")

            wait_until(finished, timeout_s=110, what="the training run to finish")
            doc = httpx.get(f"{server.url}/api/v1/runs/{run}").json()
            condition = doc["status"]["conditions"][0]
            assert condition["status"] == "True", condition
            results = {r["name"]: r["value"] for r in doc["status"]["results"]}
            assert results["verdict"] == "blessed"
            version = results["model-version"]
            params = {p["name"]: p["value"] for p in doc["spec"]["params"]}
            assert params["serving-url"] == server.url  # deploy and verify talked to this very service

            served_models = httpx.get(f"{server.url}/v1/models").json()
            assert served_models["versions"][ANOMALY] == version
            models = httpx.get(f"{server.url}/api/v1/models").json()["models"]
            assert [(m["name"], str(m["serving"])) for m in models] == [(ANOMALY, version)]
            predict = httpx.post(
                f"{server.url}/v1/models/{ANOMALY}:predict", json={"instances": [[0.0] * 45]}
            )
            assert predict.status_code == 200
            assert predict.headers["x-model-version"] == version

            def summarized() -> bool:
                return any(e.reason == SUMMARY_EVENT for e in service.engine.store.events(run))

            # the run's summary is read back after it ends: the very endpoint answered with the version
            wait_until(summarized, timeout_s=30, what="the run's Summary event")
            said = [e for e in service.engine.store.events(run) if e.reason == SUMMARY_EVENT]
            assert said[-1].type == "Normal"
            assert f"new version {version} (gate: blessed) was deployed and verified, and now serves" in (
                said[-1].message
            )
            assert f"{server.url}/v2/models/{ANOMALY} answers with version {version}" in said[-1].message
        assert not service.launcher.active
    finally:
        service.close()
