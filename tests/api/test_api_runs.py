"""/api/v1: start, list, show and cancel runs; models; bearer auth; limits; every answer matches the OpenAPI
document (checked with openapi-spec-validator and the document's own JSON schemas)."""

from __future__ import annotations

import asyncio
import importlib
from pathlib import Path
from typing import Any

import httpx
import pytest
from openapi_spec_validator import validate as validate_spec
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

from fixtures.service_helpers import ANOMALY, FORECAST, TOKEN, platform
from retrain.api import openapi_document

jsonschema: Any = importlib.import_module("jsonschema")  # no type stubs; a test dependency
DOC = openapi_document()
_REGISTRY: Registry[Any] = Registry().with_resource(
    "urn:retrain-api", Resource.from_contents(DOC, DRAFT202012)
)


def conforms(answer: httpx.Response, path: str, method: str) -> None:
    """The answer's status is documented for the operation and its body matches the documented schema."""
    op = DOC["paths"][path][method]
    documented = op["responses"].get(str(answer.status_code))
    assert documented is not None, f"{method.upper()} {path}: {answer.status_code} is not documented"
    if "$ref" in documented:
        documented = DOC["components"]["responses"][documented["$ref"].rsplit("/", 1)[1]]
    schema = documented["content"]["application/json"]["schema"]
    ref = schema.get("$ref")
    wrapper = {"$ref": f"urn:retrain-api{ref}"} if ref else schema
    jsonschema.Draft202012Validator(wrapper, registry=_REGISTRY).validate(answer.json())
    assert answer.headers["content-type"] == "application/json"


def test_the_openapi_document_is_valid_and_served() -> None:
    validate_spec(DOC)  # OpenAPI 3.1 (openapi-spec-validator picks the version from the document)
    assert DOC["openapi"] == "3.1.0"
    assert set(DOC["paths"]) >= {
        "/api/v1/runs", "/api/v1/runs/{name}", "/api/v1/runs/{name}/cancel", "/api/v1/models",
        "/hooks/github", "/hooks/alertmanager", "/api/v1/openapi.json",
    }  # fmt: skip


def test_start_a_run_and_follow_it(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            served = await p.client.get("/api/v1/openapi.json")
            assert served.json() == DOC
            p.hold(ANOMALY)
            answer = await p.start({"model": ANOMALY, "training_hours": 24, "data_source": "synthetic"})
            assert answer.status_code == 202, answer.text
            conforms(answer, "/api/v1/runs", "post")
            name = answer.json()["run"]
            assert answer.json()["status"] == "started"
            queued = await p.start({"model": ANOMALY})
            assert queued.status_code == 202
            assert queued.json()["status"] == "queued"
            assert "position 1" in queued.json()["reason"]

            shown = await p.client.get(f"/api/v1/runs/{name}")
            conforms(shown, "/api/v1/runs/{name}", "get")
            doc = shown.json()
            assert doc["apiVersion"] == "tekton.dev/v1"
            assert doc["kind"] == "PipelineRun"
            assert doc["metadata"]["name"] == name
            assert doc["spec"]["pipelineRef"]["name"] == "model-training-pipeline"
            params = {x["name"]: x["value"] for x in doc["spec"]["params"]}
            assert params["training-hours"] == "24"
            assert params["data-source"] == "synthetic"

            listed = await p.client.get("/api/v1/runs", params={"model": ANOMALY})
            conforms(listed, "/api/v1/runs", "get")
            assert [r["name"] for r in listed.json()["runs"]] == [queued.json()["run"], name]
            assert listed.json()["runs"][1]["trigger"] == "api"
            p.release(ANOMALY)
            await p.settle()
            done = await p.client.get("/api/v1/runs", params={"state": "Succeeded", "trigger": "api"})
            assert len(done.json()["runs"]) == 2
            tasks = await p.client.get(f"/api/v1/runs/{name}/taskruns")
            conforms(tasks, "/api/v1/runs/{name}/taskruns", "get")
            assert [t["metadata"]["labels"]["tekton.dev/pipelineTask"] for t in tasks.json()["taskRuns"]] == [
                "train"
            ]

    asyncio.run(go())


def test_cancel_a_run(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            p.hold(FORECAST)
            name = (await p.start({"model": FORECAST})).json()["run"]
            no_token = await p.client.post(f"/api/v1/runs/{name}/cancel")
            assert no_token.status_code == 401
            headers = {"Authorization": f"Bearer {TOKEN}"}
            answer = await p.client.post(f"/api/v1/runs/{name}/cancel", headers=headers)
            assert answer.status_code == 202, answer.text
            conforms(answer, "/api/v1/runs/{name}/cancel", "post")
            await p.settle()
            assert p.store.get_run(name).state == "Cancelled"
            again = await p.client.post(f"/api/v1/runs/{name}/cancel", headers=headers)
            assert again.status_code == 409
            assert "already ended" in again.json()["reason"]
            conforms(again, "/api/v1/runs/{name}/cancel", "post")
            missing = await p.client.post("/api/v1/runs/nope/cancel", headers=headers)
            assert missing.status_code == 404
            bad_mode = await p.client.post(
                f"/api/v1/runs/{name}/cancel", headers=headers, json={"mode": "Later"}
            )
            assert bad_mode.status_code == 400

    asyncio.run(go())


def test_bearer_auth(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            # None: 401 (no credential); a wrong one: 403 (a credential, refused).
            for token, status in ((None, 401), ("wrong", 403), (TOKEN + "x", 403)):
                answer = await p.start({"model": ANOMALY}, token=token)
                assert answer.status_code == status, answer.text
                conforms(answer, "/api/v1/runs", "post")
                assert TOKEN not in answer.text
            basic = await p.client.post(
                "/api/v1/runs", json={"model": ANOMALY}, headers={"Authorization": "Basic dTpw"}
            )
            assert basic.status_code == 401
            assert "bearer" in basic.json()["reason"]
            assert p.runs() == []
            reads = await p.client.get("/api/v1/runs")  # reads need no token (127.0.0.1 by default)
            assert reads.status_code == 200

    asyncio.run(go())


def test_without_a_token_the_api_refuses_writes(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path, env={}) as p:
            answer = await p.start({"model": ANOMALY}, token="anything")
            assert answer.status_code == 403
            assert "RETRAIN_API_TOKEN" in answer.json()["reason"]

    asyncio.run(go())


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"model": "anomaly-detektor"}, 404, "neither built in nor configured"),
        ({"model": "Anomaly Detector"}, 400, "model"),
        ({"model": ANOMALY, "data_source": "prom"}, 400, "data_source"),
        ({"model": ANOMALY, "training_hours": "-5"}, 400, "training hours"),
        ({"model": ANOMALY, "training_hours": "nan"}, 400, "training hours"),
        ({"model": ANOMALY, "training_hours": "1e999"}, 400, "training hours"),
        ({"model": ANOMALY, "training_hours": 24 * 366 * 6}, 400, "training hours"),
        ({"model": ANOMALY, "trainng_hours": "5"}, 400, "did you mean 'training_hours'"),
        ({"model": ANOMALY, "gpu": "yes"}, 400, "gpu"),
        ({"model": "custom", "notebook_path": "missing.ipynb"}, 400, "does not exist"),
        ({"training_hours": "24"}, 400, "model"),
        ([ANOMALY], 400, "JSON object"),
    ],
)
def test_bad_requests_are_400_or_404_and_start_nothing(
    tmp_path: Path, body: Any, status: int, words: str
) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            answer = await p.start(body)
            assert answer.status_code == status, answer.text
            assert words in answer.json()["reason"]
            if status in (400, 409):
                conforms(answer, "/api/v1/runs", "post")
            assert p.runs() == []

    asyncio.run(go())


def test_a_custom_model_with_its_notebook(tmp_path: Path) -> None:
    async def go() -> None:
        async with platform(tmp_path) as p:
            (tmp_path / "mine.ipynb").write_text("{}")
            no_service = await p.start({"model": "mine", "notebook_path": "mine.ipynb"})
            assert no_service.status_code == 400
            assert "--inference-service" in no_service.json()["reason"]
            answer = await p.start(
                {"model": "mine", "notebook_path": "mine.ipynb", "inference_service": "mine-svc"}
            )
            assert answer.status_code == 202, answer.text
            await p.settle()
            assert p.store.get_run(answer.json()["run"]).state == "Succeeded"

    asyncio.run(go())


def test_models_lists_the_registry(tmp_path: Path) -> None:
    from fixtures.serving_helpers import anomaly_model, register, save
    from retrain.registry import Registry as ModelRegistry

    async def go() -> None:
        async with platform(tmp_path) as p:
            empty = await p.client.get("/api/v1/models")
            assert empty.json() == {"models": []}
            registry = ModelRegistry(p.registry)
            version = register(registry, ANOMALY, save(anomaly_model(), tmp_path / "m.pkl"))
            registry.promote(ANOMALY, version)
            answer = await p.client.get("/api/v1/models")
            conforms(answer, "/api/v1/models", "get")
            (model,) = answer.json()["models"]
            assert model["name"] == ANOMALY
            assert model["serving"] == version
            assert [v["version"] for v in model["versions"]] == [version]

    asyncio.run(go())


def test_routes_methods_and_limits(tmp_path: Path) -> None:
    now = [0.0]
    config = "limits:\n  rate_per_s: 1\n  burst: 3\napi:\n  max_body_kb: 1\n"

    async def go() -> None:
        async with platform(tmp_path, config, rate_clock=lambda: now[0]) as p:
            unknown = await p.client.get("/api/v1/nothing")
            assert unknown.status_code == 404
            assert unknown.json()["status"] == "not-found"
            wrong = await p.client.delete("/api/v1/runs")
            assert wrong.status_code == 405
            assert wrong.headers["allow"] == "GET, POST"
            big = await p.start({"model": ANOMALY, "notebook_path": "x" * 2000})
            assert big.status_code == 413, big.text
            conforms(big, "/api/v1/runs", "post")
            # burst 3 per client and receiver: after the 413 above, two more pass in the same instant
            answers = [await p.start({"model": "bad name"}) for _ in range(3)]
            assert [a.status_code for a in answers] == [400, 400, 429]
            limited = answers[-1]
            conforms(limited, "/api/v1/runs", "post")
            assert int(limited.headers["retry-after"]) >= 1
            assert (await p.client.get("/api/v1/runs")).status_code == 200  # reads have their own bucket
            now[0] += 1.0
            assert (await p.start({"model": "bad name"})).status_code == 400
            assert p.runs() == []

    asyncio.run(go())
