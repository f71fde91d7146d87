"""The catalog's `notify` finally task posts the local service's CloudEvent, through the local engine, to a
real receiver on 127.0.0.1: a failed health check says failed, a training run says successful with the
version it registered, a refusing receiver does not turn a good run into a failed one, and no URL posts
nothing.
"""

from __future__ import annotations

import asyncio
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from retrain.app.requests import TrainingRequest, local_pipelinerun
from retrain.catalog import builtin_catalog
from retrain.engine.engine import Engine, RunResult
from retrain.registry import Registry
from retrain.runs.store import RunStore
from retrain.tekton.model import PipelineRun

pytestmark = pytest.mark.slow
FAST = {"retrain.dev/retry-backoff": "initial=0s"}
MODEL = "anomaly-detector"


@dataclass
class Receiver:
    url: str
    posts: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)  # (path, content type, body)


@pytest.fixture(scope="module")
def receiver() -> Iterator[Receiver]:
    state = Receiver("")

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            state.posts.append((self.path, self.headers["Content-Type"], body))
            self.send_response(400 if self.path == "/refuse" else 202)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield state
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@dataclass
class Local:
    engine: Engine
    registry: Path

    def run(self, run: PipelineRun) -> RunResult:
        sub = self.engine.submit(run, host_dirs={"model-storage": self.registry})
        return asyncio.run(self.engine.execute(sub))

    def tasks(self, result: RunResult) -> dict[str, str]:
        return {
            tr.pipeline_task: tr.state for tr in self.engine.store.taskruns(result.name) if tr.pipeline_task
        }


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    root = tmp_path_factory.mktemp("notify")
    (root / "registry").mkdir()
    with RunStore(root / "home") as store:
        yield Local(Engine(store, catalog=builtin_catalog()), root / "registry")


def _health_check(notify_urls: str) -> PipelineRun:
    params = {"model-name": MODEL, "serving-url": "http://127.0.0.1:9", "notify-urls": notify_urls}
    return PipelineRun.model_validate(
        {
            "metadata": {"generateName": "health-", "annotations": FAST},
            "spec": {
                "pipelineRef": {"name": "model-health-check-pipeline"},
                "params": [{"name": k, "value": v} for k, v in params.items()],
                "workspaces": [
                    {"name": "model-storage", "persistentVolumeClaim": {"claimName": "model-storage"}}
                ],
            },
        }
    )


def test_a_failed_run_posts_the_failed_cloudevent(local: Local, receiver: Receiver) -> None:
    before = len(receiver.posts)
    # No model is registered and nothing listens on port 9: both checks fail.
    result = local.run(_health_check(f"{receiver.url}/events"))
    assert not result.succeeded
    assert local.tasks(result)["notify"] == "Succeeded"
    [(path, content_type, event)] = receiver.posts[before:]
    assert path == "/events"
    assert content_type.startswith("application/cloudevents+json")
    assert event["specversion"] == "1.0" and event["id"]
    assert event["type"] == "dev.retrain.pipelinerun.failed.v1"
    assert event["subject"] == result.name
    assert event["data"]["run"] == result.name
    assert event["data"]["pipeline"] == "model-health-check-pipeline"
    assert event["data"]["model"] == MODEL
    assert event["data"]["reason"] == "Failed"
    assert event["data"]["version"] is None


def test_no_url_posts_nothing(local: Local, receiver: Receiver) -> None:
    before = len(receiver.posts)
    result = local.run(_health_check(""))
    assert local.tasks(result)["notify"] == "Succeeded"
    assert receiver.posts[before:] == []


def test_a_training_run_posts_successful_with_its_version_and_a_refusing_receiver_changes_no_outcome(
    local: Local, receiver: Receiver
) -> None:
    before = len(receiver.posts)
    req = TrainingRequest(model=MODEL, training_hours="168", data_source="synthetic", serving_url="",
                          annotations=FAST)  # fmt: skip
    pipeline = local.engine.catalog.pipeline(req.pipeline)
    run, _ = local_pipelinerun(req, pipeline, local.registry, cwd=local.registry)
    doc = run.model_dump(by_alias=True, exclude_none=True)
    doc["spec"]["params"].append(
        {"name": "notify-urls", "value": f"{receiver.url}/ok, {receiver.url}/refuse"}
    )
    result = local.run(PipelineRun.model_validate(doc))
    assert result.succeeded, (result.reason, result.message)
    assert Registry(local.registry).aliases(MODEL).get("serving") == 1
    posts = {path: event for path, _, event in receiver.posts[before:]}
    assert set(posts) == {"/ok", "/refuse"}  # a 400 is not retried
    event = posts["/ok"]
    assert event["type"] == "dev.retrain.pipelinerun.successful.v1"
    assert event["data"]["version"] == "1"  # read from the registry: the version this run registered
    assert event["data"]["pipeline"] == "model-training-pipeline"
    assert posts["/refuse"]["id"] == event["id"]  # one event, the same id to every receiver
    # the refusal is on record: the notify step exited 1, and onError: continue kept the run's outcome
    [notify] = [tr for tr in local.engine.store.taskruns(result.name) if tr.pipeline_task == "notify"]
    [step] = notify.status["steps"]
    assert step["terminated"]["exitCode"] == 1, step
