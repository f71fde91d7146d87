"""Running the inference server: `create_app` builds it, `serve` runs it in the foreground (the CLI),
`BackgroundServer` runs it in a thread on an ephemeral port (infra validation, tests, benchmarks).

uvicorn with httptools (a C HTTP parser) and uvloop when installed: the leanest well-kept ASGI server.
Access logs are off by default; a log line per request would cost more than the request itself.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from types import TracebackType

from retrain.asgi import DEFAULT_READ_TIMEOUT_S
from retrain.errors import TemporaryError
from retrain.registry import Registry
from retrain.serving.app import DEFAULT_MAX_BODY_BYTES, ASGIApp, ServingApp
from retrain.serving.repository import DEFAULT_POLL_S, ModelRepository

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8080


def create_app(
    registry: Registry | Path,
    *,
    pinned: Mapping[str, int] | None = None,
    poll_interval_s: float | None = DEFAULT_POLL_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    fallback: ASGIApp | None = None,
    fast_path: bool = True,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    token: str | None = None,
) -> ServingApp:
    """The serving ASGI app for a registry. Run by an ASGI server, its lifespan loads and watches the models;
    mounted inside another app, call its `start()` and `stop()` from that app's lifespan instead.

    `pinned` serves exactly those versions and never follows the registry (infra validation of a candidate).
    `fallback` receives every request outside /v1, /v2 and /metrics (e.g. the triggers and API service).
    `read_timeout_s` bounds how long a request body may stall (408); `token`, when set, is needed to load
    or unload a model through the repository endpoints.
    """
    repository = ModelRepository(
        registry, pinned=pinned, poll_interval_s=poll_interval_s, fast_path=fast_path
    )
    return ServingApp(
        repository,
        max_body_bytes=max_body_bytes,
        fallback=fallback,
        read_timeout_s=read_timeout_s,
        token=token,
    )


def _config(app: ASGIApp, host: str, port: int, log_level: str, access_log: bool) -> object:
    import uvicorn  # lazy: `retrain --help` must not pay for the server stack

    return uvicorn.Config(
        app,
        host=host,
        port=port,
        loop="auto",  # uvloop when installed
        http="auto",  # httptools when installed
        lifespan="on",
        access_log=access_log,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )


def serve(
    registry: Registry | Path,
    *,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    poll_interval_s: float | None = DEFAULT_POLL_S,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    log_level: str = "info",
    access_log: bool = False,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    token: str | None = None,
) -> None:
    """Serve every model with a `serving` version until SIGINT/SIGTERM (inference only: no API, hooks,
    schedules or drift checks; what a KServe predictor container runs)."""
    import uvicorn

    if not logging.getLogger().handlers:
        logging.basicConfig(level=log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    app = create_app(
        registry,
        poll_interval_s=poll_interval_s,
        max_body_bytes=max_body_bytes,
        read_timeout_s=read_timeout_s,
        token=token,
    )
    config = _config(app, host, port, log_level, access_log)
    assert isinstance(config, uvicorn.Config)
    uvicorn.Server(config).run()


class BackgroundServer:
    """An ASGI app served by uvicorn in a daemon thread on `host` and a free port (or `port`).

    The socket is bound before the thread starts, so `url` is valid at once and no other process can take
    the port in between. Use as a context manager; leaving it stops the server (and the app's lifespan).
    """

    def __init__(
        self, app: ASGIApp, *, host: str = DEFAULT_HOST, port: int = 0, log_level: str = "warning"
    ) -> None:
        import uvicorn

        self.app = app
        self._socket = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._socket.bind((host, port))
        self.host, self.port = self._socket.getsockname()[:2]
        config = _config(app, host, self.port, log_level, access_log=False)
        assert isinstance(config, uvicorn.Config)
        self._server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self._run, name=f"retrain-serve-{self.port}", daemon=True)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def _run(self) -> None:
        self._server.run(sockets=[self._socket])

    def start(self, timeout_s: float = 30.0) -> BackgroundServer:
        self._thread.start()
        deadline = time.monotonic() + timeout_s
        while not self._server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise TemporaryError(
                    f"the inference server on {self.url} did not start within {timeout_s:g} s"
                )
            time.sleep(0.005)  # bounded wait for a real server thread to bind and run its lifespan
        return self

    def stop(self, timeout_s: float = 15.0) -> None:
        self._server.should_exit = True
        if self._thread.is_alive():
            self._thread.join(timeout_s)
        with contextlib.suppress(OSError):
            self._socket.close()

    def __enter__(self) -> BackgroundServer:
        return self.start()

    def __exit__(
        self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None
    ) -> None:
        self.stop()
