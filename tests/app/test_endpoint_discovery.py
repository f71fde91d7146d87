"""`retrain serve` records where it listens; `discover` finds a live one and says why a record is stale.

Real processes and real HTTP servers on 127.0.0.1: a running `retrain serve --port 0`, one stopped with
SIGTERM, one killed (SIGKILL leaves its record behind), and hand-written stale records.
"""

from __future__ import annotations

import json
import os
import re
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from fixtures.serve_process import retrain_serve
from retrain.app.endpoints import (
    Endpoint,
    discover,
    discover_endpoint,
    process_start,
    record_path,
    remove_endpoint,
    this_process,
    write_endpoint,
)


def test_serve_records_the_real_port_and_removes_the_record_on_a_clean_stop(tmp_path: Path) -> None:
    with retrain_serve(tmp_path) as served:
        endpoint = served.found.endpoint
        assert endpoint is not None
        port = int(endpoint.url.rsplit(":", 1)[1])
        assert port != 0  # asked for port 0: the record names the port really bound
        assert endpoint.url == f"http://127.0.0.1:{port}"
        assert endpoint.pid == served.proc.pid
        assert endpoint.process_start == process_start(served.proc.pid) is not None
        assert endpoint.registry == served.registry.resolve()
        assert endpoint.home == served.home
        assert httpx.get(f"{endpoint.url}/v2/health/live", timeout=5).json() == {"live": True}
        assert served.found.reason == (
            f"found `retrain serve` (pid {endpoint.pid}) at {endpoint.url}, registry {endpoint.registry}"
        )
        on_disk = json.loads(record_path(served.home).read_text())
        assert set(on_disk) == {"url", "pid", "process_start", "registry", "home", "started_at"}
        assert f"retrain serve: listening on {endpoint.url} (pid {endpoint.pid}" in served.output()

        served.proc.send_signal(signal.SIGTERM)
        assert served.proc.wait(timeout=30) == 0, served.output()
        assert not record_path(served.home).exists()
        gone = discover(served.home)
        assert (gone.state, gone.endpoint) == ("none", None)
        assert str(record_path(served.home)) in gone.reason


def test_a_killed_server_leaves_a_record_that_is_reported_stale_and_never_used(tmp_path: Path) -> None:
    with retrain_serve(tmp_path) as served:
        pid = served.proc.pid
        served.proc.kill()  # no clean stop: the record stays behind
        served.proc.wait(timeout=30)
        assert record_path(served.home).exists()
        stale = discover(served.home)
        assert stale.state == "stale"
        assert stale.endpoint is None
        assert stale.reason.startswith(f"stale: pid {pid} is gone")
        assert discover_endpoint(served.home) is None


def test_records_of_dead_reused_or_silent_processes_are_stale(tmp_path: Path) -> None:
    path = record_path(tmp_path)
    assert discover(tmp_path).state == "none"

    path.write_text("{not json")
    garbled = discover(tmp_path)
    assert garbled.state == "stale"
    assert f"stale: {path} is not a readable endpoint record" in garbled.reason

    path.write_text(json.dumps({"url": "http://127.0.0.1:1"}))
    assert "is not a valid endpoint record" in discover(tmp_path).reason

    with health_server(200) as url:
        # This test process is alive, but it is not the process that wrote a record with another start time:
        # its pid was reused.
        mine = this_process(url, registry=tmp_path / "registry", home=tmp_path)
        assert mine.process_start is not None
        reused = Endpoint(url, os.getpid(), mine.process_start + 1, mine.registry, tmp_path, mine.started_at)
        write_endpoint(reused)
        answer = discover(tmp_path)
        assert (answer.state, answer.endpoint) == ("stale", None)
        assert answer.reason.startswith(f"stale: pid {os.getpid()} now belongs to another process")

        write_endpoint(mine)
        assert discover_endpoint(tmp_path) == mine  # alive, same process, and the URL answers

    # The same live process, but nothing answers at its URL any more.
    silent = discover(tmp_path, timeout_s=0.5)
    assert silent.state == "stale"
    assert silent.reason.startswith(f"stale: {url}/v2/health/live does not answer: ConnectError")

    with health_server(503) as sick:
        write_endpoint(this_process(sick, registry=tmp_path, home=tmp_path))
        assert discover(tmp_path).reason.startswith(
            f"stale: {sick}/v2/health/live does not answer: it answered 503"
        )


def test_a_server_removes_only_its_own_record(tmp_path: Path) -> None:
    mine = this_process("http://127.0.0.1:1", registry=tmp_path, home=tmp_path)
    other = Endpoint("http://127.0.0.1:2", 1, None, tmp_path, tmp_path, mine.started_at)
    write_endpoint(other)  # another server started later on the same home and replaced the record
    assert remove_endpoint(mine) is False
    assert json.loads(record_path(tmp_path).read_text())["url"] == "http://127.0.0.1:2"
    write_endpoint(mine)
    assert remove_endpoint(mine) is True
    assert not record_path(tmp_path).exists()
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".tmp-")]  # the atomic write left nothing


@contextmanager
def health_server(status: int) -> Iterator[str]:
    """A real HTTP server on 127.0.0.1 whose /v2/health/live answers `status`."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status if self.path == "/v2/health/live" else 404
            self.send_response(code)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: object) -> None:  # quiet
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


def test_a_record_that_cannot_be_written_is_a_loud_warning_and_serving_goes_on(tmp_path: Path) -> None:
    (tmp_path / "home").mkdir()
    record_path(tmp_path / "home").mkdir()  # a directory where the record should go: the write fails
    with retrain_serve(tmp_path, record=False) as served:
        out = served.output()
        url = re.search(r"retrain serve: listening on (http://127\.0\.0\.1:\d+) ", out)
        assert url is not None, out
        assert httpx.get(f"{url.group(1)}/v2/health/live", timeout=5).status_code == 200
        assert f"WARNING: could not write {record_path(tmp_path / 'home')}: " in out
        assert f"pass them --serving-url {url.group(1)}" in out
        assert discover(tmp_path / "home").state == "stale"
