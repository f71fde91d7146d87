"""The Prometheus HTTP client against tiny local servers: retries, backoff, tokens, TLS, refusals."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

from fixtures.prometheus import free_port
from fixtures.scripted_http import ScriptedHTTP
from retrain.data.promapi import MAX_POINTS_PER_QUERY, PrometheusClient
from retrain.data.settings import PrometheusSettings, RetryPolicy
from retrain.errors import InvalidInput, TemporaryError

MakeHTTP = Callable[..., ScriptedHTTP]
MATRIX = json.dumps(
    {
        "status": "success",
        "data": {
            "resultType": "matrix",
            "result": [
                {"metric": {"instance": "a"}, "values": [[60, "0.5"], [120, "NaN"]]},
                {"metric": {"instance": "b"}, "values": [[60, "+Inf"]]},
            ],
        },
    }
)


class FakeSleep:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def client(url: str, sleep: FakeSleep | None = None, **kwargs: object) -> PrometheusClient:
    settings = PrometheusSettings(url=url, **kwargs)  # type: ignore[arg-type]
    return PrometheusClient(settings, environ={"PROM_TOKEN": "from-env"}, sleep=sleep or FakeSleep())


def test_parses_a_matrix_and_sends_the_range_parameters(scripted_http: MakeHTTP) -> None:
    server = scripted_http([(200, MATRIX)])
    with client(server.url) as c:
        series = c.query_range("up", 60, 120, 60)
    by_instance = {s.labels["instance"]: s.samples for s in series}
    assert by_instance["a"][0] == (60.0, 0.5) and str(by_instance["a"][1][1]) == "nan"
    assert by_instance["b"] == ((60.0, float("inf")),)
    assert server.requests[0].path == "/api/v1/query_range?query=up&start=60&end=120&step=60"
    assert "authorization" not in server.requests[0].headers


def test_5xx_is_retried_with_exponential_backoff_then_succeeds(scripted_http: MakeHTTP) -> None:
    server = scripted_http([(503, '{"status":"error","error":"busy"}'), (502, "bad gateway"), (200, MATRIX)])
    sleep = FakeSleep()
    with client(server.url, sleep, retry=RetryPolicy(attempts=4, initial_s=0.5, factor=2)) as c:
        assert len(c.query_range("up", 60, 120, 60)) == 2
    assert len(server.requests) == 3
    assert sleep.delays == [0.5, 1.0]


def test_retry_after_of_a_429_or_503_is_honoured_up_to_the_cap(scripted_http: MakeHTTP) -> None:
    server = scripted_http([(429, "slow down"), (503, "busy"), (200, MATRIX)], headers={"Retry-After": "7"})
    sleep = FakeSleep()
    with client(server.url, sleep, retry=RetryPolicy(initial_s=0.5, max_s=5.0)) as c:
        c.query_range("up", 60, 120, 60)
    assert sleep.delays == [5.0, 5.0]  # asked for 7 s, capped at max_s (the policy alone says 0.5, 1.0)


def test_bearer_token_from_a_file_is_sent(scripted_http: MakeHTTP, tmp_path: Path) -> None:
    token = tmp_path / "token"
    token.write_text("t0ken-from-file\n", encoding="utf-8")
    server = scripted_http([(200, MATRIX)])
    with client(server.url, bearer_token_file=token) as c:
        c.query_range("up", 60, 120, 60)
    assert server.requests[0].headers["authorization"] == "Bearer t0ken-from-file"


def test_bearer_token_from_an_environment_variable_is_sent(scripted_http: MakeHTTP) -> None:
    server = scripted_http([(200, MATRIX)])
    with client(server.url, bearer_token_env="PROM_TOKEN") as c:
        c.query_range("up", 60, 120, 60)
    assert server.requests[0].headers["authorization"] == "Bearer from-env"


def test_unreachable_raises_a_temporary_error_after_all_attempts() -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    sleep = FakeSleep()
    policy = RetryPolicy(attempts=4, initial_s=1.0, factor=3, max_s=5)
    with client(url, sleep, retry=policy) as c, pytest.raises(TemporaryError) as info:
        c.query_range("instance:node_cpu:ratio", 0, 60, 60)
    assert sleep.delays == [1.0, 3.0, 5.0]  # three waits between four tries, capped at max_s
    text = str(info.value)
    assert f"Prometheus at {url} is unreachable after 4 attempts" in text
    assert "instance:node_cpu:ratio" in text and "ConnectError" in text
    assert not info.value.permanent


@pytest.mark.parametrize(
    ("status", "body", "message"),
    [
        (
            400,
            '{"status":"error","errorType":"bad_data","error":"parse error at char 3"}',
            "refused query 'up\\(' .*parse error",
        ),
        (
            422,
            '{"status":"error","errorType":"execution","error":"many-to-many"}',
            "refused query .*many-to-many",
        ),
        (401, "Unauthorized", "refused the request \\(HTTP 401\\).*bearer token"),
        (404, "404 page not found", "no Prometheus query API"),
        (200, "<html>login</html>", "not a range-query matrix"),
        (200, '{"status":"success","data":{"resultType":"vector","result":[]}}', "not a range-query matrix"),
    ],
)
def test_refusals_are_permanent_and_not_retried(
    scripted_http: MakeHTTP, status: int, body: str, message: str
) -> None:
    server = scripted_http([(status, body)])
    sleep = FakeSleep()
    with client(server.url, sleep) as c, pytest.raises(InvalidInput, match=message):
        c.query_range("up(", 60, 120, 60, field="prometheus.queries.cpu_usage")
    assert len(server.requests) == 1 and sleep.delays == []


def test_long_windows_are_split_into_chunks_below_the_point_limit(scripted_http: MakeHTTP) -> None:
    server = scripted_http([(200, MATRIX)])
    end = 60 * (2 * MAX_POINTS_PER_QUERY + 10)
    with client(server.url) as c:
        series = c.query_range("up", 0, end, 60)
    starts_ends = [
        tuple(int(p.split("=")[1]) for p in r.path.split("?")[1].split("&")[1:3]) for r in server.requests
    ]
    assert starts_ends == [(0, 599_940), (600_000, 1_199_940), (1_200_000, 1_200_600)]
    assert len(series) == 2  # the same series across chunks is joined, not repeated


@pytest.fixture
def tls_files(tmp_path: Path) -> tuple[Path, Path]:
    if shutil.which("openssl") is None:
        pytest.skip("openssl is not installed")
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    return cert, key


def test_tls_with_a_ca_file_verifies_and_without_it_fails_permanently(
    scripted_http: MakeHTTP, tls_files: tuple[Path, Path]
) -> None:
    cert, key = tls_files
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    server = scripted_http([(200, MATRIX)], context)
    with client(server.url, ca_file=cert) as c:
        assert len(c.query_range("up", 60, 120, 60)) == 2
    with client(server.url, insecure_skip_verify=True) as c:
        assert len(c.query_range("up", 60, 120, 60)) == 2
    sleep = FakeSleep()
    with client(server.url, sleep) as c, pytest.raises(InvalidInput, match=r"TLS verification of .* failed"):
        c.query_range("up", 60, 120, 60)
    assert sleep.delays == []


def test_an_unreadable_ca_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="cannot load the TLS files"):
        client("https://127.0.0.1:1", ca_file=tmp_path / "missing.pem")
