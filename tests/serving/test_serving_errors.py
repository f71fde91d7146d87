"""Bad requests get 4xx answers that say what to send; none of them is ever a 500."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from fixtures.serving_helpers import ANOMALY, FORECAST, Served, corrupt, row, start
from retrain.data.contracts import builtin_contract
from retrain.registry import Registry


def v2(data: Any, shape: Any = (1, 5), datatype: Any = "FP64") -> dict[str, Any]:
    return {"inputs": [{"name": "input-0", "shape": list(shape), "datatype": datatype, "data": data}]}


def test_a_wrong_width_names_the_expected_width_and_features(served: Served) -> None:
    response = served.client.post(f"/v1/models/{ANOMALY}:predict", json={"instances": [[0.5] * 44]})
    assert response.status_code == 400
    body = response.json()
    assert "anomaly-detector expects 45 features per row, row 0 has 44" in body["error"]
    assert "node_cpu_utilization_value, node_cpu_utilization_mean_5m" in body["error"]
    assert body["expected"] == {"width": 45, "feature_names": list(builtin_contract(ANOMALY).feature_names)}
    assert response.headers["x-model-version"] == "1"  # the version is visible even in an error


def test_a_wrong_width_through_v2_names_the_width_too(served: Served) -> None:
    response = served.client.post(f"/v2/models/{FORECAST}/infer", json=v2([1.0] * 4, shape=(1, 4)))
    assert response.status_code == 400
    error = response.json()["error"]
    assert "predictive-analytics expects 5 features per row, shape says 4" in error
    assert "cpu_usage, memory_usage, disk_usage, network_in, network_out" in error


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b'{"instances": [[1, 2, 3', "not valid JSON"),
        (b"", "no body"),
        (b"[1, 2, 3]", "must be a JSON object"),
        (b'{"rows": [[1, 2, 3, 4, 5]]}', 'has no "instances"'),
        (b'{"instances": "1,2,3,4,5"}', "non-empty list of rows"),
        (b'{"instances": []}', "non-empty list of rows"),
        (b'{"instances": [1, 2, 3, 4, 5]}', "wrap a single row in a list"),
        (b'{"instances": [[1, 2, "x", 4, 5]]}', "row 0, feature 2 (disk_usage) is a string, not a number"),
        (b'{"instances": [[1, 2, null, 4, 5]]}', "feature 2 (disk_usage) is a null"),
        (b'{"instances": [[1, 2, 3, 4, 5], [1, 2]]}', "row 1 has 2"),
        (b'{"instances": [[true, false, true, false, true]]}', "is a boolean"),
        (b'{"instances": [[1, 2, 3, 4, 1e999]]}', "infinity"),
        (b'{"instances": [[[1, 2, 3, 4, 5]]]}', "row 0 has 1"),
        (b'{"instances": [[1, 2, [3], 4, 5]]}', "feature 2 (disk_usage) is a list, not a number"),
    ],
)
def test_malformed_or_mistyped_v1_bodies_are_400(served: Served, body: bytes, expected: str) -> None:
    response = served.client.post(f"/v1/models/{FORECAST}:predict", content=body)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        ({"inputs": []}, "exactly one tensor"),
        ({"inputs": [{"name": "a"}, {"name": "b"}]}, "exactly one tensor"),
        (v2(["a", "b", "c", "d", "e"], datatype="BYTES"), "datatype 'BYTES' is not accepted"),
        (v2([1, 2, 3, 4, 5], shape=(5,)), "shape must be [rows, 5]"),
        (v2([1, 2, 3, 4, 5], shape=(1, "5")), "shape must be [rows, 5]"),
        (v2([1, 2, 3, 4], shape=(1, 5)), "data has 4 values but shape [1, 5] needs 5"),
        (v2([[1, 2, 3, 4, 5]], shape=(2, 5)), "data has shape [1, 5] but shape says [2, 5]"),
        (v2([1, 2, "x", 4, 5]), "data[2] (row 0, disk_usage) is a string"),
        (v2([]), "non-empty list"),
        (v2([1, 2, 3, 4, 1e39], datatype="FP32"), "row 0, feature 4 (network_out) is not finite"),
        (v2([1, 2, 3, 4, 1.5], datatype="INT32"), "values that are not INT32"),
        ([1, 2], "must be a JSON object"),
    ],
)
def test_malformed_v2_requests_are_400(served: Served, payload: Any, expected: str) -> None:
    response = served.client.post(f"/v2/models/{FORECAST}/infer", json=payload)
    assert response.status_code == 400, response.text
    assert expected in response.json()["error"]


@pytest.mark.parametrize(
    ("datatype", "shown"),
    [
        ({}, "an object"),
        ([], "a list"),
        (["FP64"], "a list"),
        (5, "a number"),
        (None, "null"),
        (True, "a boolean"),
    ],
)
def test_a_v2_datatype_that_is_not_a_string_is_400_naming_the_field_and_the_types(
    served: Served, datatype: Any, shown: str
) -> None:
    response = served.client.post(f"/v2/models/{FORECAST}/infer", json=v2([1, 2, 3, 4, 5], datatype=datatype))
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error.startswith("inputs[0].datatype: "), error
    assert f"datatype must be a string, not {shown}; use FP64 (or FP32)" in error
    assert "FP32, FP64, INT16, INT32, INT64, INT8, UINT16, UINT32, UINT64, UINT8" in error.replace(
        "FP16, ", ""
    )


def test_values_that_overflow_inside_the_model_are_400_not_500(served: Served) -> None:
    # Finite JSON numbers, but beyond float32: the forest compares in float32 (scikit-learn refuses them too).
    response = served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [[1e300] * 5]})
    assert response.status_code == 400, response.text
    assert "values too large for the model" in response.json()["error"]
    assert response.headers["x-model-version"] == "1"
    fine = served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
    assert fine.status_code == 200


@pytest.mark.parametrize(
    "path",
    ["/v1/models/anomaly-detectr:predict", "/v2/models/anomaly-detectr/infer", "/v2/models/anomaly-detectr"],
)
def test_an_unknown_model_is_404_with_did_you_mean(served: Served, path: str) -> None:
    response = (
        served.client.post(path, json={}) if path.endswith(("predict", "infer")) else served.client.get(path)
    )
    assert response.status_code == 404
    assert "did you mean 'anomaly-detector'?" in response.json()["error"]


def test_unknown_paths_and_methods(served: Served) -> None:
    assert served.client.get("/nowhere").status_code == 404
    assert served.client.get(f"/v1/models/{FORECAST}:predict").status_code == 405
    assert served.client.post("/v1/models").status_code == 405
    assert "no such endpoint" in served.client.get("/v2/models/x/explain").json()["error"]


def test_a_body_over_the_limit_is_413(registry: Registry) -> None:
    with start(registry, max_body_bytes=2048) as served:
        big = {"instances": [row(FORECAST)] * 200}
        response = served.client.post(f"/v1/models/{FORECAST}:predict", json=big)
        assert response.status_code == 413
        assert "over the limit of 2048 bytes" in response.json()["error"]
        # Without a Content-Length (chunked upload) the limit holds while reading.
        chunks = (b'{"instances": [' + b"[1, 2, 3, 4, 5], " * 50 for _ in range(5))
        streamed = httpx.post(f"{served.server.url}/v1/models/{FORECAST}:predict", content=chunks)
        assert streamed.status_code == 413
        small = served.client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert small.status_code == 200


def test_a_model_whose_serving_version_cannot_load_is_not_ready_503(registry: Registry) -> None:
    corrupt(registry, FORECAST, 1)
    with start(registry, wait=False) as served:
        client = served.client

        def detail() -> dict[str, Any]:
            models: list[dict[str, Any]] = client.get("/v2/health/ready").json()["models"]
            return {m["name"]: m for m in models}

        from fixtures.serving_helpers import wait_until

        wait_until(lambda: detail()[FORECAST]["state"] == "UNAVAILABLE", what="the load to fail")
        assert client.get("/v2/health/ready").status_code == 503
        predict = client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert predict.status_code == 503
        assert "digest mismatch" in predict.json()["error"]
        ready = client.get(f"/v2/models/{FORECAST}/ready")
        assert ready.status_code == 503
        assert ready.json()["state"] == "UNAVAILABLE"
        assert client.get(f"/v1/models/{FORECAST}").status_code == 503
        # The other model is unaffected.
        assert (
            client.post(f"/v1/models/{ANOMALY}:predict", json={"instances": [row(ANOMALY)]}).status_code
            == 200
        )
