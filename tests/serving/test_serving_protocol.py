"""KServe V1 and Open Inference Protocol V2 over real HTTP: answers equal the model's own predict."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from fixtures.serving_helpers import ANOMALY, FORECAST, WIDTH, Served, row
from retrain.data.contracts import builtin_contract
from retrain.registry import load_model


def own_predictions(served: Served, name: str, rows: list[list[float]]) -> list[Any]:
    model, _ = load_model(served.registry, name)
    result: list[Any] = np.asarray(model.predict(np.asarray(rows))).tolist()
    return result


def rows_for(name: str) -> list[list[float]]:
    rng = np.random.default_rng(3)
    scale = 4.0 if name == ANOMALY else 1.0  # wide enough to meet some anomalies
    rows: list[list[float]] = (rng.normal(size=(20, WIDTH[name])) * scale).tolist()
    return rows


@pytest.mark.parametrize("name", [ANOMALY, FORECAST])
def test_v1_predict_answers_like_the_model_itself_with_the_version_header(served: Served, name: str) -> None:
    rows = rows_for(name)
    response = served.client.post(f"/v1/models/{name}:predict", json={"instances": rows})
    assert response.status_code == 200, response.text
    assert response.headers["x-model-version"] == "1"
    assert response.json() == {"predictions": own_predictions(served, name, rows)}


@pytest.mark.parametrize("name", [ANOMALY, FORECAST])
@pytest.mark.parametrize("nested", [False, True])
def test_v2_infer_takes_flat_or_nested_data_and_names_the_version(
    served: Served, name: str, nested: bool
) -> None:
    rows = rows_for(name)
    data: list[Any] = rows if nested else [x for r in rows for x in r]
    body = {
        "id": "req-7",
        "inputs": [{"name": "input-0", "shape": [20, WIDTH[name]], "datatype": "FP64", "data": data}],
    }
    response = served.client.post(f"/v2/models/{name}/infer", json=body)
    assert response.status_code == 200, response.text
    answer = response.json()
    assert response.headers["x-model-version"] == "1"
    assert (answer["model_name"], answer["model_version"], answer["id"]) == (name, "1", "req-7")
    [output] = answer["outputs"]
    expected = np.asarray(own_predictions(served, name, rows))
    assert output["shape"] == list(expected.shape)
    assert output["datatype"] == ("INT64" if name == ANOMALY else "FP64")
    assert output["data"] == expected.ravel().tolist()


def test_v2_fp32_data_is_rounded_to_float32_first(served: Served) -> None:
    rows = rows_for(FORECAST)[:3]
    flat = [x for r in rows for x in r]
    body = {"inputs": [{"name": "x", "shape": [3, 5], "datatype": "FP32", "data": flat}]}
    answer = served.client.post(f"/v2/models/{FORECAST}/infer", json=body).json()
    rounded = np.asarray(rows, dtype=np.float32).astype(np.float64).tolist()
    assert (
        answer["outputs"][0]["data"]
        == np.asarray(own_predictions(served, FORECAST, rounded)).ravel().tolist()
    )
    assert answer["id"]  # one is made up when the client sends none


def test_v2_versioned_path_serves_only_the_served_version(served: Served) -> None:
    body = {"inputs": [{"name": "x", "shape": [1, 5], "datatype": "FP64", "data": row(FORECAST)}]}
    assert served.client.post(f"/v2/models/{FORECAST}/versions/1/infer", json=body).status_code == 200
    stale = served.client.post(f"/v2/models/{FORECAST}/versions/3/infer", json=body)
    assert stale.status_code == 404
    assert "version 3 is not served; version 1 is" in stale.json()["error"]


@pytest.mark.parametrize("name", [ANOMALY, FORECAST])
def test_v2_metadata_comes_from_the_feature_contract(served: Served, name: str) -> None:
    response = served.client.get(f"/v2/models/{name}")
    assert response.status_code == 200
    meta = response.json()
    contract = builtin_contract(name)
    assert meta["name"] == name
    assert meta["versions"] == ["1"]
    assert meta["platform"] == "sklearn"
    assert meta["inputs"] == [{"name": "input-0", "datatype": "FP64", "shape": [-1, contract.width]}]
    out_shape = [-1] if name == ANOMALY else [-1, 5]
    assert meta["outputs"] == [
        {"name": "output-0", "datatype": "INT64" if name == ANOMALY else "FP64", "shape": out_shape}
    ]
    assert meta["parameters"]["feature_names"] == list(contract.feature_names)
    assert meta["parameters"]["engine"] == "numpy"  # the fast path proved equal to scikit-learn
    assert response.headers["x-model-version"] == "1"


def test_model_status_lists_and_health(served: Served) -> None:
    client = served.client
    assert client.get("/v1/models").json() == {
        "models": [ANOMALY, FORECAST],
        "versions": {ANOMALY: "1", FORECAST: "1"},
    }
    status = client.get(f"/v1/models/{FORECAST}")
    assert status.json() == {"name": FORECAST, "ready": True, "model_version": "1"}
    assert status.headers["x-model-version"] == "1"
    ready = client.get(f"/v2/models/{ANOMALY}/ready")
    assert (ready.status_code, ready.json()["ready"], ready.json()["model_version"]) == (200, True, "1")
    assert client.get("/v2/health/live").json() == {"live": True}
    health = client.get("/v2/health/ready").json()
    assert health["ready"] is True
    assert {m["name"]: m["state"] for m in health["models"]} == {ANOMALY: "READY", FORECAST: "READY"}
    assert client.get("/v2").json()["extensions"] == ["model_repository"]
    index = client.post("/v2/repository/index").json()
    assert {(m["name"], m["version"], m["state"]) for m in index} == {
        (ANOMALY, "1", "READY"),
        (FORECAST, "1", "READY"),
    }


def test_metrics_use_kserve_names_and_count_requests(served: Served) -> None:
    served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
    served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [[1.0]]})
    text = served.client.get("/metrics").text
    assert f'request_predict_seconds_count{{model_name="{FORECAST}"}} 1' in text
    assert f'request_preprocess_seconds_bucket{{model_name="{FORECAST}",le="+Inf"}} 1' in text
    assert (
        f'retrain_serving_requests_total{{model_name="{FORECAST}",endpoint="predict",code="200"}} 1' in text
    )
    assert (
        f'retrain_serving_requests_total{{model_name="{FORECAST}",endpoint="predict",code="400"}} 1' in text
    )
    assert f'retrain_serving_model_version{{model_name="{ANOMALY}"}} 1' in text


def test_a_large_batch_is_answered_in_order(served: Served) -> None:
    rows = (np.random.default_rng(5).normal(size=(1000, 5))).tolist()  # beyond the in-loop limit: a thread
    response = served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": rows})
    assert response.status_code == 200
    assert response.json()["predictions"] == own_predictions(served, FORECAST, rows)
