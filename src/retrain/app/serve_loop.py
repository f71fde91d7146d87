"""Running `retrain serve` in the foreground: uvicorn, the signals, and the endpoint record.

Once the socket is bound (the real port, also for `--port 0`) the service learns its own URL and the record
`<home>/serve.json` is written (`retrain.app.endpoints`); it is removed when the service starts to stop, so
no new client picks a server on its way out, and again (if still ours) when the loop ends.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from retrain.app.endpoints import (
    Endpoint,
    client_url,
    pid_alive,
    process_start,
    read_endpoint,
    record_path,
    remove_endpoint,
    this_process,
    write_endpoint,
)

if TYPE_CHECKING:
    import socket

    from retrain.serving.app import ServingApp


class _Store(Protocol):
    @property
    def home(self) -> Path: ...


class _Launcher(Protocol):
    async def cancel_all(self) -> None: ...


class Servable(Protocol):
    """What the loop needs of `retrain.triggers.service.Service` (a layer above this one)."""

    serving_url: str

    @property
    def registry_root(self) -> Path: ...

    @property
    def store(self) -> _Store: ...

    @property
    def launcher(self) -> _Launcher: ...

    @property
    def accepting(self) -> bool: ...

    async def drain(self) -> None: ...


@dataclass(frozen=True)
class Listening:
    """The service listens: where, the record written (None: it could not be, `problem` says why), and a
    live server's record it replaced, if any."""

    endpoint: Endpoint
    record: Path | None
    replaced: Endpoint | None
    problem: str | None = None


def _live_other(path: Path) -> Endpoint | None:
    found = read_endpoint(path)
    if not isinstance(found, Endpoint) or not pid_alive(found.pid):
        return None
    same_process = found.process_start is None or found.process_start == process_start(found.pid)
    return found if same_process else None


def announce(service: Servable, sockets: list[socket.socket], host: str, *, set_url: bool) -> Listening:
    """The service now listens on `sockets`: set its serving URL (`set_url`: none is configured) and write
    the record."""
    port = int(sockets[0].getsockname()[1])
    url = client_url(host, port)
    if set_url:
        service.serving_url = url  # pipelines' deploy and verify steps reach this server there
    endpoint = this_process(url, registry=service.registry_root, home=service.store.home)
    path = record_path(endpoint.home)
    replaced = _live_other(path)
    try:
        return Listening(endpoint, write_endpoint(endpoint), replaced)
    except OSError as exc:  # serving goes on; other commands will not find this server by itself
        return Listening(endpoint, None, None, f"could not write {path}: {exc.strerror or exc}")


def serve_forever(
    service: Servable,
    app: ServingApp,
    *,
    host: str,
    port: int,
    access_log: bool,
    log_level: str = "info",
    grace_s: float = 30.0,
    serving_url_configured: bool = False,
    on_listening: Callable[[Listening], None] | None = None,
    on_stopping: Callable[[str], None] | None = None,
) -> None:
    """uvicorn in the foreground until SIGTERM/SIGINT. The first signal drains the service while the server
    still answers (runs get the grace period; receivers answer 503), then stops the server; a second
    SIGINT/SIGTERM cancels the active runs at once. uvicorn's own signal handling is replaced, since it would
    close the server first and leave the pipelines' deploy and verify steps without an endpoint.
    `grace_s` is only said (the service's drain applies its own); `serving_url_configured` keeps the URL the
    configuration gives pipelines instead of the one really bound. `on_stopping` hears what each signal
    does."""
    import asyncio
    import contextlib
    import signal

    import uvicorn

    listening: list[Listening] = []

    class _Server(uvicorn.Server):
        @contextlib.contextmanager
        def capture_signals(self) -> Iterator[None]:  # ours are installed on the loop, below
            yield

        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            if self.started and not self.should_exit and self.servers:
                bound = [s for server in self.servers for s in server.sockets]
                listening.append(announce(service, bound, host, set_url=not serving_url_configured))
                if on_listening is not None:
                    on_listening(listening[0])

    def unrecord() -> None:
        if listening and listening[0].record is not None:
            remove_endpoint(listening[0].endpoint)

    config = uvicorn.Config(
        app,
        host=host,
        port=port,
        lifespan="on",
        access_log=access_log,
        log_level=log_level,
        timeout_graceful_shutdown=10,
    )
    server = _Server(config)
    say = on_stopping or (lambda _: None)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        tasks: set[asyncio.Task[None]] = set()

        async def graceful() -> None:
            try:
                unrecord()
                await service.drain()
            finally:
                server.should_exit = True

        def on_signal(sig: signal.Signals) -> None:
            if not tasks and service.accepting:
                say(f"{sig.name}: stopping; runs get {grace_s:g}s to finish (again: cancel them now)")
                task = loop.create_task(graceful())
            else:
                say(f"{sig.name} again: cancelling the active runs now")
                task = loop.create_task(service.launcher.cancel_all())
            tasks.add(task)

        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, on_signal, sig)
        try:
            await server.serve()
        finally:
            for sig in (signal.SIGINT, signal.SIGTERM):
                loop.remove_signal_handler(sig)
            unrecord()
            await service.drain()  # the server stopped for another reason: still no run left Running

    try:
        with asyncio.Runner(loop_factory=config.get_loop_factory()) as runner:
            runner.run(main())
    finally:
        unrecord()
