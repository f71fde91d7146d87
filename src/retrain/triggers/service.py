"""The service behind `retrain serve`: one process serving the models, the API, the webhooks and the
scheduler, all starting runs through one `Launcher` on one event loop.

    uvicorn -> ServingApp (/v1, /v2, /metrics) -> fallback: the HTTP app (/api/v1, /hooks; built by
    `retrain.api.create_api` over this Service, handed in by the CLI since api and triggers are
    independent layers)

Start: runs left Pending/Running by a dead service are marked failed (EngineInterrupted), then the
scheduler and the drift checks start (`retrain.triggers.compose` builds and attaches them from the
configuration, and describes what they run, and which receivers are open without a token, before the
server listens; `retrain.app.serve_loop` records where it listens in `<home>/serve.json` and sets
`serving_url` to the port really bound).
Stop (`drain`; SIGTERM or Ctrl-C in `retrain serve`): the scheduler and drift checks stop and every
receiver answers 503, while running pipelines get `shutdown_grace_s` to finish with the inference server
still up (their deploy and verify steps talk to it); then they are cancelled, and only then does the HTTP
server close. No run this service started is left Pending or Running.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from retrain.app.requests import TrainingRequest
from retrain.engine.clock import SystemClock
from retrain.engine.engine import Engine
from retrain.errors import InvalidInput, Location, NotFound
from retrain.runs.store import RunStore
from retrain.serving.app import ASGIApp, Receive, Scope, Send, ServingApp
from retrain.serving.metrics import Metrics
from retrain.triggers.alertmanager import AlertmanagerHook
from retrain.triggers.config import RetrainConfig, known_models, training_request
from retrain.triggers.dedupe import DeliveryLog
from retrain.triggers.github import GitHubHook
from retrain.triggers.launcher import FinishedHook, HookResult, Launch, Launcher
from retrain.triggers.limits import Limits, RateLimiter

log = logging.getLogger(__name__)


class SchedulerLike(Protocol):
    """`retrain.triggers.scheduler.Scheduler`."""

    async def run(self) -> None: ...

    def stop(self) -> None: ...


class MonitorLike(Protocol):
    """`retrain.drift.DriftMonitor`: checks on a schedule, its gauges on /metrics."""

    async def run(self, next_after: Callable[[datetime], datetime], clock: SystemClock) -> None: ...

    def stop(self) -> None: ...

    def metrics_lines(self) -> list[str]: ...


class NotifierLike(Protocol):
    """`retrain.triggers.notify.Notifier`: deliveries in flight are awaited (bounded) on shutdown."""

    async def drain(self, timeout_s: float | None = None) -> None: ...


def limits_for(config: RetrainConfig) -> Limits:
    return Limits(
        rate_per_s=config.limits.rate_per_s,
        burst=config.limits.burst,
        read_rate_per_s=config.limits.read_rate_per_s,
        read_burst=config.limits.read_burst,
        github_body_bytes=config.hooks.github.max_body_kb * 1024,
        alertmanager_body_bytes=config.hooks.alertmanager.max_body_kb * 1024,
        api_body_bytes=config.api.max_body_kb * 1024,
    )


class Service:
    def __init__(
        self,
        config: RetrainConfig,
        engine: Engine,
        registry: Path,
        *,
        on_finished: FinishedHook | None = None,
        rate_clock: Callable[[], float] | None = None,
    ) -> None:
        self.config = config
        self.engine = engine
        self._registry = Path(registry)
        self.launcher = Launcher(engine, self._registry, cwd=config.base_dir, on_finished=on_finished)
        self.deliveries = DeliveryLog(engine.store.home / "deliveries.db")
        limits = limits_for(config)
        self.limiter = RateLimiter(limits) if rate_clock is None else RateLimiter(limits, clock=rate_clock)
        server = config.server
        host = "127.0.0.1" if server.host in ("0.0.0.0", "::", "") else server.host  # noqa: S104
        self.serving_url = server.serving_url or f"http://{host}:{server.port}"
        self.github = GitHubHook(config, self.launch, self.deliveries, serving_url=lambda: self.serving_url)
        self.alertmanager = AlertmanagerHook(
            config, self.launch, self.deliveries, serving_url=lambda: self.serving_url
        )
        self.scheduler: SchedulerLike | None = None
        self.drift: tuple[MonitorLike, Callable[[datetime], datetime]] | None = None
        self.notifier: NotifierLike | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._launches: dict[tuple[str, str], int] = {}  # (trigger, outcome) -> count, for /metrics
        self._started = False
        self._drained = False

    # -- parts of other packages (see `retrain.triggers.compose`) --------------------------------------------

    def attach(
        self,
        *,
        scheduler: SchedulerLike | None = None,
        drift: tuple[MonitorLike, Callable[[datetime], datetime]] | None = None,
        notifier: NotifierLike | None = None,
        on_finished: FinishedHook | None = None,
    ) -> None:
        """Add the scheduler, the drift monitor (and its next check time) and the run notifier."""
        self.scheduler = scheduler or self.scheduler
        self.drift = drift or self.drift
        self.notifier = notifier or self.notifier
        if on_finished is not None:
            self.launcher.on_finished = on_finished

    def metrics_lines(self) -> Iterable[str]:
        """The service's own lines on /metrics: runs launched by trigger and outcome, the drift gauges."""
        yield "# HELP retrain_service_launches_total runs the service launched, by trigger and outcome"
        yield "# TYPE retrain_service_launches_total counter"
        for (trigger, outcome), count in sorted(self._launches.items()):
            yield f'retrain_service_launches_total{{trigger="{trigger}",outcome="{outcome}"}} {count}'
        if self.drift is not None:
            yield from self.drift[0].metrics_lines()

    # -- what the HTTP layer uses (retrain.api.protocol.Backend) ---------------------------------------

    @property
    def store(self) -> RunStore:
        return self.engine.store

    @property
    def registry_root(self) -> Path:
        return self._registry

    @property
    def accepting(self) -> bool:
        return self.launcher.accepting

    async def launch(self, req: TrainingRequest) -> Launch:
        """The one launch function (webhooks, API, scheduler)."""
        launch = await self.launcher.launch(req)
        key = (req.trigger, launch.outcome)
        self._launches[key] = self._launches.get(key, 0) + 1
        return launch

    async def start_run(
        self,
        *,
        model: str,
        training_hours: str | None,
        data_source: str | None,
        notebook_path: str | None,
        inference_service: str | None,
        gpu: bool | None,
        health_check: bool | None,
    ) -> Launch:
        if notebook_path is not None:
            path = Path(notebook_path)
            path = path if path.is_absolute() else self.config.base_dir / path
            if not path.is_file():
                raise InvalidInput(
                    f"notebook {notebook_path!r} does not exist on the service's machine",
                    location=Location(field="notebook_path"),
                    hint=f"paths are relative to {self.config.base_dir}",
                )
            notebook_path = str(path)
        elif model not in known_models(self.config):
            raise NotFound(
                f"model {model!r} is neither built in nor configured",
                hint=f"known models: {', '.join(known_models(self.config))}; a custom model needs "
                "notebook_path and inference_service",
            )
        req = training_request(
            self.config,
            model,
            "api",
            serving_url=self.serving_url,
            policy=self.config.api.concurrency_policy,
            training_hours=training_hours,
            data_source=data_source,
            notebook_path=notebook_path,
            inference_service=inference_service,
            gpu=gpu,
            health_check=health_check,
        )
        return await self.launch(req)

    async def rerun_run(self, run: str, *, from_failed: bool) -> Launch:
        """Re-run a recorded run in this service (the API's POST /api/v1/runs/NAME/rerun)."""
        return await self.launcher.relaunch(run, from_failed=from_failed)

    async def github_event(self, event: str, delivery: str, payload: Any) -> HookResult:
        return await self.github.handle(event, delivery, payload)

    async def alertmanager_event(self, payload: Any) -> HookResult:
        return await self.alertmanager.handle(payload)

    # -- life cycle ------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Recover runs a dead service left behind, then start the scheduler and drift checks. Idempotent."""
        if self._started:
            return
        self._started = True
        for name in await asyncio.to_thread(self.store.recover_interrupted):
            log.warning("run %s was interrupted (its engine stopped); marked Failed", name)
        if self.scheduler is not None:
            self._background(self.scheduler.run(), "scheduler")
        if self.drift is not None:
            monitor, next_after = self.drift
            self._background(monitor.run(next_after, SystemClock()), "drift checks")

    async def drain(self, grace_s: float | None = None) -> None:
        """Stop the scheduler and drift checks, then the launcher (runs: grace, then cancel), then wait
        (bounded) for notifications in flight. Idempotent."""
        if self._drained:
            return
        self._drained = True
        if self.scheduler is not None:
            self.scheduler.stop()
        if self.drift is not None:
            self.drift[0].stop()
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=10)
            for task in late:
                task.cancel()
        grace = self.config.server.shutdown_grace_s if grace_s is None else grace_s
        await self.launcher.shutdown(grace)
        if self.notifier is not None:
            await self.notifier.drain(timeout_s=10)

    def _background(self, work: Any, what: str) -> None:
        async def guarded() -> None:
            try:
                await work
            except Exception:  # the service keeps serving; the log says why this part stopped
                log.exception("%s stopped", what)

        self._tasks.append(asyncio.create_task(guarded(), name=what))
        log.info("%s started", what)

    def close(self) -> None:
        self.deliveries.close()

    def asgi(self, http_app: ASGIApp, *, poll_interval_s: float | None = None) -> ServingApp:
        """The whole service as one ASGI app: inference, then `http_app` for every other path."""
        from retrain.serving.runner import create_app

        server = self.config.server
        app = create_app(
            self._registry,
            poll_interval_s=(poll_interval_s if poll_interval_s is not None else server.poll_interval_s)
            or None,
            max_body_bytes=int(server.max_body_mb * 1024 * 1024),
            fallback=_Lifecycle(self, http_app),
            read_timeout_s=server.read_timeout_s,
            token=self.config.api.token.get_secret_value() if self.config.api.token else None,
        )
        app.metrics = _ServiceMetrics(self.metrics_lines)
        return app


class _Lifecycle:
    """The fallback app: the service's start and drain ride on the ASGI lifespan; HTTP goes to the API."""

    def __init__(self, service: Service, http_app: ASGIApp) -> None:
        self.service = service
        self.http_app = http_app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "lifespan":
            await self.http_app(scope, receive, send)
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.service.start()
                except Exception as exc:
                    log.exception("the service could not start")
                    await send({"type": "lifespan.startup.failed", "message": str(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await self.service.drain()
                await send({"type": "lifespan.shutdown.complete"})
                return


class _ServiceMetrics(Metrics):
    """The inference server's metrics, then the service's own lines (drift gauges)."""

    def __init__(self, extra: Callable[[], Iterable[str]]) -> None:
        super().__init__()
        self._extra = extra

    def render(self, gauges: Callable[[], Iterable[str]] | None = None) -> bytes:
        def both() -> Iterable[str]:
            if gauges is not None:
                yield from gauges()
            yield from self._extra()

        return super().render(both)
