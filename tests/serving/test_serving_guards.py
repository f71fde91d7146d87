"""The inference server's guards, on real sockets: a body that stalls is answered 408 (the timeout comes from
the service's `server.read_timeout_s`), the repository endpoints that change what serves need the API token
when one is configured (reads stay open), and a presented credential is never echoed, in answers or logs."""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from fixtures.service_helpers import TOKEN, credentials, make_service, service_config
from fixtures.serving_helpers import FORECAST, row, wait_until
from retrain.api import create_api
from retrain.exposition import CONTENT_TYPE
from retrain.registry import Registry
from retrain.serving import BackgroundServer, create_app

STALL_S = 0.5
EARLY_S = 0.05  # libuv's timers have millisecond resolution and may fire a little before the deadline
CREDENTIAL = "SECRET-7f3a9-do-not-echo"  # distinctive: any echo of it is found by a plain `in`


@contextmanager
def whole_service(tmp: Path, registry: Registry) -> Iterator[BackgroundServer]:
    """`retrain serve`'s app (inference, API, hooks) over `registry`, read timeout from the configuration."""
    config = service_config(tmp, f"server:\n  read_timeout_s: {STALL_S}\n")
    service = make_service(config, tmp / "home", registry.root)
    api = create_api(
        service,
        credentials=credentials(config),
        limiter=service.limiter,
        read_timeout_s=config.server.read_timeout_s,
    )
    server = BackgroundServer(service.asgi(api, poll_interval_s=0.1))
    service.serving_url = server.url
    try:
        with server:
            wait_until(lambda: httpx.get(f"{server.url}/v2/health/ready").status_code == 200, what="ready")
            yield server
    finally:
        service.close()


def stalled(server: BackgroundServer, path: str, headers: str = "") -> tuple[int, bytes, float]:
    """Send the headers and part of the body, then nothing: (status, whole answer, seconds to answer).
    The answer must also close the connection (recv returns b"" after it)."""
    with socket.create_connection((server.host, server.port), timeout=10) as sock:
        started = time.monotonic()
        sock.sendall(
            f"POST {path} HTTP/1.1\r\nHost: test\r\nContent-Type: application/json\r\n{headers}"
            "Content-Length: 200\r\n\r\n".encode()
            + b'{"instances": [[0.1, 0.2'
        )
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
        elapsed = time.monotonic() - started
    return int(answer.split(b" ", 2)[1]), answer, elapsed


def test_a_stalled_inference_body_is_408_and_the_connection_closes(registry: Registry) -> None:
    app = create_app(registry.root, poll_interval_s=None, read_timeout_s=STALL_S)
    with BackgroundServer(app) as server:
        wait_until(lambda: httpx.get(f"{server.url}/v2/health/ready").status_code == 200, what="ready")
        status, answer, elapsed = stalled(server, f"/v1/models/{FORECAST}:predict")
        assert status == 408, answer
        assert STALL_S - EARLY_S <= elapsed < STALL_S + 5
        assert b"the request body stopped arriving: nothing came for 0.5 s after 24 bytes" in answer
        assert b"x-model-version: 1" in answer.lower()
        # The server goes on answering others.
        ok = httpx.post(f"{server.url}/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert ok.status_code == 200


def test_the_service_answers_408_from_its_configured_read_timeout(tmp_path: Path, registry: Registry) -> None:
    with whole_service(tmp_path, registry) as server:
        for path, headers in (
            (f"/v2/models/{FORECAST}/infer", ""),  # the inference server
            ("/hooks/alertmanager", f"Authorization: Bearer {'am-token-456'}\r\n"),  # the hooks
            ("/api/v1/runs", f"Authorization: Bearer {TOKEN}\r\n"),  # the API
        ):
            status, answer, elapsed = stalled(server, path, headers)
            assert status == 408, (path, answer)
            assert STALL_S - EARLY_S <= elapsed < STALL_S + 5, path
            assert b"stopped arriving" in answer


def test_load_and_unload_need_the_token_when_one_is_configured(registry: Registry) -> None:
    app = create_app(registry.root, poll_interval_s=None, token=TOKEN)
    with BackgroundServer(app) as server, httpx.Client(base_url=server.url) as client:
        wait_until(lambda: client.get("/v2/health/ready").status_code == 200, what="ready")
        load = f"/v2/repository/models/{FORECAST}/load"
        none = client.post(load)
        assert none.status_code == 401, none.text
        assert none.headers["www-authenticate"].startswith("Bearer")
        assert "needs a bearer token" in none.json()["error"]
        wrong = client.post(load, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 403, wrong.text
        assert "bearer token is not valid" in wrong.json()["error"]
        good = client.post(load, headers={"Authorization": f"Bearer {TOKEN}"})
        assert good.status_code == 200, good.text
        assert good.json()["model_version"] == "1"
        unload = f"/v2/repository/models/{FORECAST}/unload"
        assert client.post(unload).status_code == 401
        refused = client.post(unload, headers={"Authorization": f"Bearer {TOKEN}"})
        assert refused.status_code == 501
        assert "retrain rollback" in refused.json()["error"]
        # Reads and inference stay open.
        assert client.get("/v1/models").status_code == 200
        assert client.get("/v2/repository/index").status_code == 200
        assert client.post("/v2/repository/index").status_code == 200
        assert client.get(f"/v2/models/{FORECAST}").status_code == 200
        infer = client.post(f"/v1/models/{FORECAST}:predict", json={"instances": [row(FORECAST)]})
        assert infer.status_code == 200


def test_without_a_token_load_stays_open(registry: Registry) -> None:
    app = create_app(registry.root, poll_interval_s=None)
    with BackgroundServer(app) as server:
        wait_until(lambda: httpx.get(f"{server.url}/v2/health/ready").status_code == 200, what="ready")
        assert httpx.post(f"{server.url}/v2/repository/models/{FORECAST}/load").status_code == 200


def test_the_service_guards_load_with_its_api_token(tmp_path: Path, registry: Registry) -> None:
    with whole_service(tmp_path, registry) as server, httpx.Client(base_url=server.url) as client:
        load = f"/v2/repository/models/{FORECAST}/load"
        assert client.post(load).status_code == 401
        assert client.post(load, headers={"Authorization": "Bearer wrong"}).status_code == 403
        assert client.post(load, headers={"Authorization": f"Bearer {TOKEN}"}).status_code == 200
        assert client.get("/v2/repository/index").status_code == 200


@pytest.mark.parametrize(
    "authorization",
    [CREDENTIAL, f"Basic {CREDENTIAL}", f"Bearer {CREDENTIAL}", f"Token {CREDENTIAL}", f"{CREDENTIAL} x"],
)
def test_a_presented_credential_is_never_echoed(
    tmp_path: Path, registry: Registry, caplog: pytest.LogCaptureFixture, authorization: str
) -> None:
    caplog.set_level(logging.DEBUG)
    with whole_service(tmp_path, registry) as server, httpx.Client(base_url=server.url) as client:
        headers = {"Authorization": authorization}
        answers = [
            client.post(f"/v2/repository/models/{FORECAST}/load", headers=headers),
            client.post(f"/v2/repository/models/{FORECAST}/unload", headers=headers),
            client.post("/api/v1/runs", json={"model": FORECAST}, headers=headers),
            client.post("/api/v1/runs/x/cancel", headers=headers),
            client.post("/hooks/alertmanager", json={"version": "4", "alerts": []}, headers=headers),
        ]
    for answer in answers:
        assert answer.status_code in (401, 403), answer.text
        assert CREDENTIAL not in answer.text
        assert all(CREDENTIAL not in value for value in answer.headers.values())
    assert CREDENTIAL not in caplog.text
    assert all(CREDENTIAL not in str(record.args) for record in caplog.records)


def test_metrics_are_served_as_prometheus_text(registry: Registry) -> None:
    app = create_app(registry.root, poll_interval_s=None)
    with BackgroundServer(app) as server:
        answer = httpx.get(f"{server.url}/metrics")
        assert answer.status_code == 200
        assert answer.headers["content-type"] == CONTENT_TYPE  # Prometheus 3 refuses application/json
