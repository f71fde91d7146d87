"""`retrain verify` against real servers: a correct deployment passes; a stale version, wrong answers, a
server that never gets ready, no server at all and HTTP errors each fail with their own reason."""

from __future__ import annotations

import json
import socket
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any

import numpy as np
import typer
from typer.testing import CliRunner

from fixtures.serving_helpers import ANOMALY, FORECAST, Served, corrupt, register, start
from retrain.cli import deploy as deploy_cli
from retrain.registry import Registry
from retrain.serving import BackgroundServer, create_app, load_version
from retrain.serving.verify import held_out_rows


def verify(registry: Registry, url: str, *args: str) -> tuple[int, str, str]:
    app = typer.Typer()
    deploy_cli.register(app)  # the lead wires `register` into the real `retrain` app
    argv = ["verify", *args, "--endpoint", url, "--registry", str(registry.root)]
    result = CliRunner().invoke(app, argv, env={"RETRAIN_SERVING_URL": None})
    return result.exit_code, result.stdout, result.stderr


def free_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def twin(tmp_path: Path, artefacts: dict[str, Path], forecasters: tuple[str, ...]) -> Registry:
    """Another registry (a server's own copy) whose forecaster versions are the given artefacts."""
    other = Registry(tmp_path / "twin", actor="tester")
    for name in forecasters:
        register(other, FORECAST, artefacts[name])
    other.promote(FORECAST, len(forecasters))
    return other


def test_verify_passes_for_a_correct_deployment(served: Served) -> None:
    registry, url = served.registry, served.server.url
    registry.promote(FORECAST, 2)
    code, out, err = verify(registry, url, FORECAST, "--version", "2", "--inference-service", "")
    assert code == 0, out + err
    assert f"{FORECAST}: verified: version 2 at {url} (32 held-out rows)" in out
    assert "V1: 32 answers from version 2 equal the registry's (within rel 1e-09" in out
    assert "V2: 32 answers from version 2 equal the registry's" in out
    # No --version: the registry's serving version. An InferenceService name that this local server does
    # not know is resolved to the model's registry name.
    code, out, err = verify(registry, url, ANOMALY, "--inference-service", "anomaly-isvc", "-o", "json")
    assert code == 0, out + err
    report = json.loads(out)
    assert (report["ok"], report["version"], report["served_as"]) == (True, 1, ANOMALY)
    assert [c["name"] for c in report["checks"] if c["ok"]] == ["ready", "v1", "v2"]
    assert "labels compared exactly" in report["checks"][1]["detail"]


def test_verify_fails_when_the_server_serves_another_version(registry: Registry) -> None:
    app = create_app(registry.root, pinned={FORECAST: 1})  # a server stuck on version 1
    with BackgroundServer(app) as server:
        registry.promote(FORECAST, 2)
        code, out, err = verify(registry, server.url, FORECAST, "--version", "2", "--timeout", "1")
    assert code == 1, out + err
    assert f"{FORECAST}: FAILED (stale-version): version 2" in out
    assert "serves version 1 (header X-Model-Version), expected 2 (still so after 1 s)" in out


def test_verify_fails_when_the_answers_differ_from_the_registrys(
    registry: Registry, artefacts: dict[str, Path], tmp_path: Path
) -> None:
    # The server's registry holds another artefact under the same version number 2.
    other = twin(tmp_path, artefacts, ("forecast-0", "forecast-2"))
    registry.promote(FORECAST, 2)
    with start(other) as served:
        code, out, err = verify(registry, served.server.url, FORECAST, "--version", "2", "-o", "json")
    assert code == 1, out + err
    report = json.loads(out)
    assert report["failure"] == "wrong-answers"
    assert report["checks"][0]["ok"] is True  # ready as version 2: only the answers give it away
    for check, protocol in zip(report["checks"][1:], ("V1", "V2"), strict=True):
        assert check["ok"] is False
        assert check["detail"].startswith(
            f"{protocol}: 32 of 32 answers differ from the registry's version 2"
        )
        assert "first: row 0: expected [" in check["detail"]


def test_verify_fails_when_the_server_never_becomes_ready(
    registry: Registry, artefacts: dict[str, Path], tmp_path: Path
) -> None:
    other = twin(tmp_path, artefacts, ("forecast-0",))
    corrupt(other, FORECAST, 1)  # the server cannot load its copy
    with start(other, wait=False) as served:
        url = served.server.url
        code, out, err = verify(
            registry, url, FORECAST, "--version", "1", "--timeout", "1", "--if-no-server", "skip"
        )
    assert code == 75, out + err  # a server answers (503), so "skip" does not apply
    assert f"{FORECAST}: FAILED (not-ready)" in out
    assert "not ready within 1 s" in out
    assert "digest mismatch" in out


def test_verify_with_no_server_answering_exits_75(registry: Registry) -> None:
    url = free_url()
    code, out, err = verify(registry, url, FORECAST, "--timeout", "0.3")
    assert code == 75, out + err
    assert f"endpoint unreachable: no answer from {url}/v2/models/{FORECAST}/ready" in out
    # A local pipeline run without a server may ask not to fail (and so not to roll back) for that alone.
    code, out, err = verify(registry, url, FORECAST, "--timeout", "0.3", "--if-no-server", "skip")
    assert code == 0, out + err
    assert out.startswith(f"{FORECAST}: NOT CHECKED: version 1 at {url}: no server answered")
    assert "a server started later serves it" in out
    assert err.startswith(f"warning: {FORECAST}: the endpoint was not checked")


Scope = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[MutableMapping[str, Any]]]
Send = Callable[[MutableMapping[str, Any]], Awaitable[None]]


async def liar(scope: Scope, receive: Receive, send: Send) -> None:
    """A server that says it is ready as version 1, fails V1 and answers V2 as version 7."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    status, version, body = 200, "1", {"name": FORECAST, "ready": True, "model_version": "1"}
    if path.endswith(":predict"):
        status, body = 500, {"error": "model 'predictive-analytics' version 1 failed to predict: KeyError"}
    elif path.endswith("/infer"):
        version = "7"
        body = {"model_version": "7", "outputs": [{"name": "output-0", "shape": [1], "data": [0]}]}
    headers = [(b"content-type", b"application/json"), (b"x-model-version", version.encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": json.dumps(body).encode()})


def test_verify_reports_http_errors_and_a_version_that_changes_between_answers(registry: Registry) -> None:
    with BackgroundServer(liar) as server:
        code, out, err = verify(registry, server.url, FORECAST, "--rows", "4", "-o", "json")
    assert code == 1, out + err
    report = json.loads(out)
    assert report["failure"] == "http-error"
    ready, v1, v2 = report["checks"]
    assert ready["ok"] is True
    assert v1["detail"] == (
        f"V1 {server.url}/v1/models/{FORECAST}:predict answered HTTP 500: "
        "model 'predictive-analytics' version 1 failed to predict: KeyError"
    )
    assert v2["detail"] == "the V2 answer serves version 7 (header X-Model-Version), expected 1"


def test_held_out_rows_are_fresh_and_reproducible(registry: Registry) -> None:
    model = load_version(registry, ANOMALY, 1)
    info = registry.get(ANOMALY, 1)
    rows = held_out_rows(model, info.metadata, 32, seed=2042)
    assert rows.shape == (32, 45)
    assert np.isfinite(rows).all()
    assert len({tuple(r) for r in rows.tolist()}) == 32
    assert np.array_equal(rows, held_out_rows(model, info.metadata, 32, seed=2042))
    assert not np.array_equal(rows, held_out_rows(model, info.metadata, 32, seed=2043))
    forecaster = load_version(registry, FORECAST, 1)
    assert held_out_rows(forecaster, registry.get(FORECAST, 1).metadata, 5, seed=1).shape == (5, 5)
