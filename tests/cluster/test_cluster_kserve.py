"""`retrain deploy|rollback --target kserve` against the stand-in API server and a simulated KServe whose
predictors are stand-ins for KServe's own sklearn server (they load the model once and name no version)."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner, Result

pytest.importorskip(
    "kubernetes", reason="the cluster extra (pip install 'retrain[cluster]') is not installed"
)

from cluster.standin.harness import Env, running, wait_until
from cluster.standin.sims import KServeSim
from fixtures.serving_helpers import FORECAST, forecast_model, register, save
from retrain.cli import deploy as deploy_cli
from retrain.cluster.kserve import kserve_deployer, served_version
from retrain.registry import Registry
from retrain.serving.verify import VerifyOptions, verify_endpoint

APP = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
deploy_cli.register(APP)
CLAIM = "model-storage"


@dataclass
class World:
    env: Env
    sim: KServeSim
    registry: Registry

    def invoke(self, *args: str, timeout: float = 20.0) -> Result:
        environ = {
            "KUBECONFIG": str(self.env.kubeconfig),
            "RETRAIN_KSERVE_TIMEOUT": str(timeout),
            "RETRAIN_KSERVE_VERIFY_TIMEOUT": "10",
            "RETRAIN_SERVING_URL": None,
            "RETRAIN_RUN_NAME": None,
        }
        return CliRunner().invoke(
            APP, [*args, "--target", "kserve", "--registry", str(self.registry.root)], env=environ
        )

    def isvc(self) -> dict[str, Any]:
        return self.env.standin.get("inferenceservices", FORECAST)

    def uri(self) -> str:
        return str(self.isvc()["spec"]["predictor"]["model"]["storageUri"])


@pytest.fixture(scope="module")
def artefacts(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    folder = tmp_path_factory.mktemp("kserve-artefacts")
    return [save(forecast_model(seed), folder / f"forecast-{seed}.pkl") for seed in (0, 1, 2)]


def _world(tmp_path: Path, artefacts: list[Path], uri: str) -> Iterator[World]:
    registry = Registry(tmp_path / "claim", actor="tester")
    for artefact in artefacts:
        register(registry, FORECAST, artefact)
    registry.promote(FORECAST, 1)
    with running(tmp_path) as env:
        sim = KServeSim(env.standin, {CLAIM: registry.root})
        env.standin.put(
            "inferenceservices",
            {
                "apiVersion": "serving.kserve.io/v1beta1",
                "kind": "InferenceService",
                "metadata": {"name": FORECAST, "annotations": {"retrain.dev/model-version": "1"}},
                "spec": {"predictor": {"model": {"modelFormat": {"name": "sklearn"}, "storageUri": uri}}},
            },
        )
        wait_until(
            lambda: (
                (env.standin.get("inferenceservices", FORECAST).get("status") or {}).get("url") is not None
            ),
            what="first revision",
        )
        try:
            yield World(env, sim, registry)
        finally:
            sim.close()


@pytest.fixture
def world(tmp_path: Path, artefacts: list[Path]) -> Iterator[World]:
    yield from _world(tmp_path, artefacts, f"pvc://{CLAIM}/{FORECAST}/versions/1")


def test_deploy_patches_waits_for_a_new_ready_revision_and_verifies(world: World) -> None:
    before = world.isvc()["status"]["components"]["predictor"]["latestReadyRevision"]
    result = world.invoke("deploy", FORECAST, "--version", "2")
    assert result.exit_code == 0, result.output
    assert (
        f"{FORECAST}: version 2 serves on InferenceService {FORECAST} in retrain (storage-uri)"
        in result.stdout
    )
    assert "verified at http://127.0.0.1:" in result.stdout
    assert world.registry.aliases(FORECAST) == {"serving": 2, "previous": 1}
    live = world.isvc()
    assert world.uri() == f"pvc://{CLAIM}/{FORECAST}/versions/2"
    assert live["metadata"]["annotations"]["retrain.dev/model-version"] == "2"
    revision = live["status"]["components"]["predictor"]["latestReadyRevision"]
    assert revision != before and revision.endswith("00002")
    patches = [r for r in world.env.standin.requests if r[0] == "PATCH" and "inferenceservices" in r[1]]
    assert (
        patches
        and patches[0][2] == "application/merge-patch+json"
        and "fieldManager=retrain-deploy" in patches[0][1]
    )


def test_verify_learns_the_version_from_the_inferenceservice_not_from_the_server(world: World) -> None:
    url = world.isvc()["status"]["url"]
    plain = verify_endpoint(
        world.registry, FORECAST, url, version=1, options=VerifyOptions(timeout_s=0.5, rows=8)
    )
    assert plain.failure == "stale-version"
    assert "does not name the version it serves (header X-Model-Version missing)" in str(plain.reason)
    with world.env.cluster() as cluster:
        ok = verify_endpoint(
            world.registry,
            FORECAST,
            url,
            version=1,
            options=VerifyOptions(timeout_s=2, rows=8),
            served_version=served_version(cluster, FORECAST),
        )
        assert ok.ok, ok.reason
        assert [c.name for c in ok.checks] == ["ready", "v1", "v2"]
        wrong = verify_endpoint(
            world.registry,
            FORECAST,
            url,
            version=2,
            options=VerifyOptions(timeout_s=0.3, poll_s=0.1, rows=8),
            served_version=served_version(cluster, FORECAST),
        )
    assert wrong.failure == "stale-version"
    assert "serves version 1 (InferenceService predictive-analytics status" in str(wrong.reason)


def test_a_rollout_that_never_becomes_ready_fails_in_bounded_time_and_changes_nothing(world: World) -> None:
    world.sim.never.add(f"pvc://{CLAIM}/{FORECAST}/versions/2")
    spec, annotations = world.isvc()["spec"], world.isvc()["metadata"]["annotations"]
    started = time.monotonic()
    result = world.invoke("deploy", FORECAST, "--version", "2", timeout=1.5)
    assert time.monotonic() - started < 15
    assert result.exit_code == 1, result.output
    assert "did not become Ready on a new revision within 1.5 s" in result.stdout
    assert 'RevisionMissing: Revision "predictive-analytics-predictor-00002" failed' in result.stdout
    assert "deploy undone: the registry serves version 1 again" in result.stdout
    assert world.registry.aliases(FORECAST) == {"serving": 1}
    live = world.isvc()
    assert live["spec"] == spec and live["metadata"]["annotations"] == annotations
    assert live["status"]["conditions"][-1]["status"] == "True"
    with world.env.cluster() as cluster:  # the previous model still answers, as version 1
        check = verify_endpoint(
            world.registry,
            FORECAST,
            live["status"]["url"],
            version=1,
            options=VerifyOptions(timeout_s=5, rows=8),
            served_version=served_version(cluster, FORECAST),
        )
    assert check.ok, check.reason


def test_a_predictor_that_serves_the_wrong_model_fails_verify_and_is_undone(world: World) -> None:
    world.sim.swap[f"pvc://{CLAIM}/{FORECAST}/versions/2"] = f"pvc://{CLAIM}/{FORECAST}/versions/3"
    result = world.invoke("deploy", FORECAST, "--version", "2")
    assert result.exit_code == 1, result.output
    assert "verify at http://127.0.0.1:" in result.stdout and "wrong-answers" in result.stdout
    assert world.registry.aliases(FORECAST) == {"serving": 1}
    assert world.uri().endswith("/versions/1")


def test_rollback_patches_back_and_verifies(world: World) -> None:
    assert world.invoke("deploy", FORECAST, "--version", "3").exit_code == 0
    result = world.invoke("rollback", FORECAST, "--only-if-serving", "3")
    assert result.exit_code == 0, result.output
    assert f"{FORECAST}: version 1 serves again on InferenceService {FORECAST}" in result.stdout
    assert world.registry.aliases(FORECAST) == {"serving": 1}
    assert world.uri().endswith("/versions/1")
    assert world.isvc()["metadata"]["annotations"]["retrain.dev/model-version"] == "1"
    again = world.invoke("rollback", FORECAST, "--only-if-serving", "3")
    assert again.exit_code == 0 and "nothing to roll back" in again.stdout


def test_api_errors_leave_the_registry_alone(world: World) -> None:
    missing = world.invoke("deploy", FORECAST, "--version", "2", "--inference-service", "nope")
    assert missing.exit_code == 3
    assert 'inferenceservices.serving.kserve.io "nope" not found' in missing.stderr
    world.env.standin.deny("patch", "inferenceservices")
    denied = world.invoke("deploy", FORECAST, "--version", "2")
    assert denied.exit_code == 1
    assert 'cannot patch resource "inferenceservices" in API group "serving.kserve.io"' in denied.stdout
    assert world.registry.aliases(FORECAST) == {"serving": 1}
    assert world.uri().endswith("/versions/1")


@pytest.fixture
def restart_world(tmp_path: Path, artefacts: list[Path]) -> Iterator[World]:
    yield from _world(
        tmp_path, artefacts, f"pvc://{CLAIM}/{FORECAST}"
    )  # the model.pkl copy: stock --model_dir


def test_restart_pods_waits_for_new_pods_ready_not_merely_running(restart_world: World) -> None:
    world = restart_world
    world.sim.pod_gate = threading.Event()
    old = {p["metadata"]["name"] for p in world.env.standin.items("pods")}
    environ = {
        "KUBECONFIG": str(world.env.kubeconfig),
        "RETRAIN_KSERVE_RESTART_PODS": "1",
        "RETRAIN_KSERVE_TIMEOUT": "20",
        "RETRAIN_KSERVE_VERIFY_TIMEOUT": "10",
    }
    deployer = kserve_deployer(world.registry, "", "", environ=environ)
    outcome: list[Any] = []
    thread = threading.Thread(target=lambda: outcome.append(deployer.deploy(FORECAST, 2)), daemon=True)
    thread.start()

    def new_pod_running() -> bool:
        pods = [p for p in world.env.standin.items("pods") if p["metadata"]["name"] not in old]
        return bool(pods) and (pods[0].get("status") or {}).get("phase") == "Running"

    wait_until(new_pod_running, what="a new predictor pod Running")
    time.sleep(0.3)  # deploy would have returned by now if Running were enough
    assert thread.is_alive(), "deploy returned while the new pod was Running but not Ready"
    assert world.registry.aliases(FORECAST)["serving"] == 2  # promoted first: the copy the pods read
    world.sim.pod_gate.set()
    thread.join(30)
    result = outcome[0]
    assert result.ok, result.messages
    assert "(restart-pods)" in result.messages[0]
    assert world.isvc()["metadata"]["annotations"]["retrain.dev/model-version"] == "2"
    assert world.uri() == f"pvc://{CLAIM}/{FORECAST}"  # the storageUri itself never changes in this mode
