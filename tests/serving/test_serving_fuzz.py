"""Fuzzing the live inference server with Hypothesis: whatever JSON arrives in a V2 `inputs` tensor (any type
in any field, wrong nesting, huge or negative shapes) or a V1 `instances` list, the answer is never a 5xx,
and every refusal is KServe-shaped JSON (`{"error": "..."}`) that says what was wrong."""

from __future__ import annotations

import json
import string
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from fixtures.serving_helpers import ANOMALY, FORECAST, WIDTH, Served, row, start
from retrain.registry import Registry
from retrain.serving.codec import NUMERIC_TYPES

SETTINGS = settings(
    max_examples=300,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
    derandomize=True,  # the same examples on every run: the coverage assertions below never flake
)
TEXT = st.text(alphabet=string.printable, max_size=12)
# JSON numbers, integers far beyond 64 bits included (json.dumps writes them; JSON has no NaN or Infinity).
NUMBER = st.integers(min_value=-(2**80), max_value=2**80) | st.floats(allow_nan=False, allow_infinity=False)
SCALAR = st.none() | st.booleans() | NUMBER | TEXT
JSON: st.SearchStrategy[Any] = st.recursive(
    SCALAR,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=10,
)
DATATYPE = st.sampled_from([*sorted(NUMERIC_TYPES), "BYTES", "BOOL", "fp64", ""]) | JSON
SIZE = st.integers(min_value=-(2**70), max_value=2**70) | st.sampled_from([0, 1, 2, 5, -1])
SHAPE = st.lists(SIZE | SCALAR, max_size=4) | JSON


def deep(depth: int, leaf: Any) -> Any:
    for _ in range(depth):
        leaf = [leaf]
    return leaf


@st.composite
def data(draw: st.DrawFn, width: int) -> Any:
    """Flat or nested numbers (the right count or not), or anything at all."""
    rows = draw(st.integers(min_value=0, max_value=3))
    cols = draw(st.sampled_from([width, width, width - 1, width + 1, 0]))
    flat = draw(st.lists(NUMBER, min_size=rows * cols, max_size=rows * cols))
    nested = [flat[i * cols : (i + 1) * cols] for i in range(rows)]
    return draw(st.sampled_from([flat, nested, deep(40, 1.0), [nested], [[*r, [1]] for r in nested]]) | JSON)


@st.composite
def tensor(draw: st.DrawFn, width: int) -> Any:
    """A valid V2 input tensor with up to three of its fields removed or replaced by anything, maybe with
    an extra field."""
    rows = draw(st.integers(min_value=1, max_value=3))
    out: dict[str, Any] = {
        "name": "input-0",
        "shape": [rows, width],
        "datatype": draw(st.sampled_from(["FP64", "FP32"])),
        "data": [0.25] * (rows * width),
        "parameters": {},
    }
    wild = {"name": JSON, "shape": SHAPE, "datatype": DATATYPE, "data": data(width), "parameters": JSON}
    for key in draw(st.sets(st.sampled_from(sorted(wild)), max_size=3)):
        if draw(st.integers(0, 2)) == 0:
            del out[key]
        else:
            out[key] = draw(wild[key])
    if draw(st.integers(0, 3)) == 0:
        out[draw(TEXT)] = draw(JSON)
    return out


@st.composite
def v2_payload(draw: st.DrawFn, width: int) -> Any:
    inputs = draw(
        st.lists(tensor(width), min_size=1, max_size=1) | st.lists(tensor(width) | JSON, max_size=3) | JSON
    )
    body: dict[str, Any] = {"inputs": inputs}
    for key in ("id", "parameters", "outputs"):
        if draw(st.booleans()):
            body[key] = draw(JSON)
    return draw(st.just(body) | JSON)


@st.composite
def v1_payload(draw: st.DrawFn, width: int) -> Any:
    instances = draw(st.lists(st.lists(NUMBER, min_size=width, max_size=width), min_size=1, max_size=3))
    instances = draw(st.just(instances) | data(width) | JSON)
    key = draw(st.sampled_from(["instances", "instances", "inputs", "rows"]))
    return draw(st.just({key: instances}) | JSON)


@pytest.fixture
def live(registry: Registry) -> Iterator[Served]:
    with start(registry) as served:
        yield served


def honest(answer: httpx.Response) -> int:
    """Never a 5xx; a refusal is KServe-shaped JSON that says what was wrong; a success has predictions."""
    assert answer.status_code < 500, answer.text
    assert answer.headers["content-type"] == "application/json"
    body = answer.json()
    assert isinstance(body, dict), body
    if answer.status_code >= 400:
        assert isinstance(body.get("error"), str), body
        assert len(body["error"]) > 10, body
    else:
        assert "outputs" in body or "predictions" in body, body
    return answer.status_code


def post(client: httpx.Client, path: str, payload: Any) -> httpx.Response:
    return client.post(path, content=json.dumps(payload), headers={"content-type": "application/json"})


@pytest.mark.parametrize("name", [FORECAST, ANOMALY])
def test_v2_infer_never_answers_5xx(live: Served, name: str) -> None:
    seen: set[int] = set()

    @SETTINGS
    @given(payload=v2_payload(WIDTH[name]))
    def one(payload: Any) -> None:
        seen.add(honest(post(live.client, f"/v2/models/{name}/infer", payload)))

    one()
    assert {200, 400} <= seen, seen  # the fuzzing reached valid and refused requests
    valid = {"inputs": [{"name": "i", "shape": [1, WIDTH[name]], "datatype": "FP64", "data": row(name)}]}
    assert post(live.client, f"/v2/models/{name}/infer", valid).status_code == 200  # still serving


def test_v1_predict_never_answers_5xx(live: Served) -> None:
    seen: set[int] = set()

    @settings(SETTINGS, max_examples=150)
    @given(payload=v1_payload(WIDTH[FORECAST]))
    def one(payload: Any) -> None:
        seen.add(honest(post(live.client, f"/v1/models/{FORECAST}:predict", payload)))

    one()
    assert {200, 400} <= seen, seen
