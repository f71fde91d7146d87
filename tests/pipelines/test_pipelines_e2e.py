"""The built-in pipelines end to end through the local engine, against a real inference server.

A good model is trained, gated, deployed and verified; bad candidates that the notebook can produce are
rejected by the gate with the serving model untouched and still answering; a candidate the server does not
serve after deploy is rolled back by the finally task.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from fixtures.serving_helpers import Served, start
from retrain.app.requests import TrainingRequest, local_pipelinerun
from retrain.catalog import builtin_catalog
from retrain.engine.engine import Engine, RunResult
from retrain.registry import Registry
from retrain.runs.store import RunStore
from retrain.serving import BackgroundServer, create_app

pytestmark = pytest.mark.slow
FAST = {"retrain.dev/retry-backoff": "initial=0s"}  # the catalog waits 20 s between retries; tests need not

# A notebook for the anomaly detector that writes a bad model of the given kind (the parameters cell is
# rewritten per kind), built only from scikit-learn classes so the gate's probe process can unpickle it.
BAD_NOTEBOOK: dict[str, Any] = {
    "cells": [
        {
            "id": "parameters",
            "cell_type": "code",
            "metadata": {"tags": ["parameters"]},
            "source": 'kind = "nan"\n',
            "outputs": [],
            "execution_count": None,
        },
        {
            "id": "write-model",
            "cell_type": "code",
            "metadata": {},
            "source": (
                "import os, joblib, numpy as np\n"
                "from sklearn.ensemble import IsolationForest\n"
                "from sklearn.linear_model import LinearRegression\n"
                "from sklearn.tree import DecisionTreeClassifier\n"
                "X = np.random.default_rng(0).normal(size=(64, 45))\n"
                "y = np.where(np.arange(64) % 2 == 0, 1, -1)\n"
                "nan = LinearRegression().fit(X, y)\n"
                "nan.coef_[:] = np.nan  # every prediction is NaN\n"
                "models = {\n"
                "    'nan': nan,\n"
                "    'constant': DecisionTreeClassifier().fit(X, np.ones(64)),  # always 1\n"
                "    # trained on noise and told 45% are anomalies: flags far too much\n"
                "    'random': IsolationForest(n_estimators=3, contamination=0.45, random_state=0).fit(X),\n"
                "}\n"
                "model = models[kind]\n"
                "joblib.dump(model, os.path.join(os.environ['MODEL_DIR'], 'model.pkl'))\n"
            ),
            "outputs": [],
            "execution_count": None,
        },
    ],
    "metadata": {"kernelspec": {"name": "python3", "display_name": "Python 3", "language": "python"}},
    "nbformat": 4,
    "nbformat_minor": 5,
}


@dataclass
class Platform:
    registry: Registry
    engine: Engine
    served: Served
    root: Path

    def bad_notebook(self, kind: str) -> Path:
        notebook = json.loads(json.dumps(BAD_NOTEBOOK))
        notebook["cells"][0]["source"] = f"kind = {kind!r}\n"
        path = self.root / f"bad-{kind}.ipynb"
        path.write_text(json.dumps(notebook))
        return path

    def train(self, req: TrainingRequest) -> RunResult:
        pipeline = self.engine.catalog.pipeline(req.pipeline)
        run, host_dirs = local_pipelinerun(req, pipeline, self.registry.root, cwd=self.root)
        sub = self.engine.submit(run, host_dirs=host_dirs)
        return asyncio.run(self.engine.execute(sub))

    def tasks(self, result: RunResult) -> dict[str, str]:
        """pipeline task -> its outcome (Succeeded/Failed/... or the skip reason)."""
        outcome = {s["name"]: f"Skipped: {s['reason']}" for s in result.status_doc.get("skippedTasks", [])}
        for tr in self.engine.store.taskruns(result.name):
            if tr.pipeline_task:
                outcome[tr.pipeline_task] = tr.state
        return outcome

    def predict_version(self, model: str) -> str:
        answer = self.served.client.post(
            f"/v1/models/{model}:predict", json={"instances": [[0.5] * 45]}, timeout=10
        )
        assert answer.status_code == 200, answer.text
        return answer.headers["X-Model-Version"]


@pytest.fixture(scope="module")
def platform(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Platform]:
    root = tmp_path_factory.mktemp("e2e")
    registry = Registry(root / "registry")
    (root / "registry").mkdir()
    with start(registry, wait=False) as served, RunStore(root / "home") as store:
        engine = Engine(store, catalog=builtin_catalog())
        yield Platform(registry, engine, served, root)


def request(platform: Platform, **changes: Any) -> TrainingRequest:
    values: dict[str, Any] = {
        "model": "anomaly-detector",
        "training_hours": "168",
        "data_source": "synthetic",
        "serving_url": platform.served.server.url,
        "verify_timeout_s": 20.0,
        "annotations": FAST,
    }
    values.update(changes)
    return TrainingRequest(**values)


def test_a_good_model_is_trained_gated_deployed_and_verified(platform: Platform) -> None:
    result = platform.train(request(platform))
    assert result.succeeded, (result.reason, result.message)
    tasks = platform.tasks(result)
    for task in ("train-model", "health-check", "deploy-model", "post-deployment-check", "summary"):
        assert tasks[task] == "Succeeded", tasks
    assert tasks["rollback"] == "Skipped: When Expressions evaluated to false"
    results = {r["name"]: r["value"] for r in result.status_doc["results"]}
    assert results == {"model-version": "1", "verdict": "blessed"}
    assert platform.registry.aliases("anomaly-detector")["serving"] == 1
    assert platform.predict_version("anomaly-detector") == "1"


@pytest.mark.parametrize(
    ("kind", "failing_check"),
    [("nan", "predictions"), ("constant", "predictions"), ("random", "quality")],
)
def test_a_bad_candidate_is_rejected_and_the_serving_model_keeps_answering(
    platform: Platform, kind: str, failing_check: str
) -> None:
    if "serving" not in platform.registry.aliases("anomaly-detector"):
        pytest.skip("needs the good model of the first test")
    before = platform.registry.aliases("anomaly-detector")["serving"]
    result = platform.train(request(platform, notebook_path=str(platform.bad_notebook(kind))))
    tasks = platform.tasks(result)
    assert tasks["train-model"] == "Succeeded" and tasks["health-check"] == "Succeeded", tasks
    assert tasks["deploy-model"] == "Skipped: When Expressions evaluated to false"
    assert tasks["rollback"] == "Skipped: When Expressions evaluated to false"
    results = {r["name"]: r["value"] for r in result.status_doc["results"]}
    assert results["verdict"] == "rejected"
    candidate = int(results["model-version"])
    events = [e for e in platform.registry.history("anomaly-detector") if e.version == candidate]
    rejected = [e for e in events if e.event == "rejected"]
    assert rejected and any(r.startswith(failing_check) for r in rejected[-1].reasons), rejected
    assert platform.registry.aliases("anomaly-detector")["serving"] == before
    assert platform.predict_version("anomaly-detector") == str(before)


def test_a_deployment_the_server_does_not_pick_up_is_rolled_back_by_finally(platform: Platform) -> None:
    if "serving" not in platform.registry.aliases("anomaly-detector"):
        pytest.skip("needs the good model of the first test")
    before = platform.registry.aliases("anomaly-detector")["serving"]
    # A second server pinned to the version in service: after deploy it still answers with the old one.
    pinned = create_app(platform.registry.root, pinned={"anomaly-detector": before}, poll_interval_s=0.05)
    with BackgroundServer(pinned) as stale:
        result = platform.train(request(platform, serving_url=stale.url, verify_timeout_s=2.0))
    tasks = platform.tasks(result)
    assert tasks["deploy-model"] == "Succeeded", tasks
    assert tasks["post-deployment-check"] == "Failed", tasks
    assert tasks["rollback"] == "Succeeded", tasks
    assert not result.succeeded and result.reason == "Failed"
    assert platform.registry.aliases("anomaly-detector")["serving"] == before
    assert any(e.event == "rolled_back" for e in platform.registry.history("anomaly-detector"))
    assert platform.predict_version("anomaly-detector") == str(before)
