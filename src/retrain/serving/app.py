"""The inference server as one plain ASGI application: KServe V1 and the Open Inference Protocol (V2).

No framework sits between uvicorn and the handlers: a request is routed by string tests on its path, its
body is read with `retrain.asgi` (shared with the API), and the answer is two `send` calls, which keeps a
single-row request in the tens of microseconds of Python. Every answer about a model carries
`X-Model-Version`; errors are JSON in KServe's shape (`{"error": "..."}`) with 400 for bad input, 404 for an
unknown model or path, 408 for a body that stalls, 413 for a body over the limit and 503 while a model is not
ready. The repository endpoints that change what serves (`load`, `unload`) need the bearer `token` when one
is configured (401 without, 403 wrong); reads and inference stay open. Paths outside /v1, /v2 and /metrics go
to `fallback`, so another service (triggers, API) can share the same server.
"""

from __future__ import annotations

import asyncio
import difflib
import logging
import time
from typing import Any

import numpy as np

from retrain import __version__
from retrain.asgi import (
    DEFAULT_READ_TIMEOUT_S,
    ASGIApp,
    Headers,
    Receive,
    Scope,
    Send,
    allow,
    check_bearer,
    error_headers,
    header,
    headers_of,
    read_body,
    send_answer,
    status_for,
)
from retrain.errors import InvalidInput, RetrainError
from retrain.exposition import CONTENT_TYPE as METRICS_TYPE
from retrain.serving import codec, views
from retrain.serving.compiled import Floats
from retrain.serving.loader import LoadedModel
from retrain.serving.metrics import Metrics
from retrain.serving.repository import ModelRepository, ModelState

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_MAX_BODY_BYTES", "ASGIApp", "Receive", "Scope", "Send", "ServingApp"]

DEFAULT_MAX_BODY_BYTES = 16 * 1024 * 1024
OFFLOAD_ROWS = 256  # larger batches predict in a worker thread so they never stall the event loop
_TOO_LARGE_HINT = "send fewer rows per request"
_TOKEN_ENV = "RETRAIN_API_TOKEN"  # noqa: S105 - the name of the variable


class HttpError(Exception):
    """An answer about a model: its status, message, the model (for X-Model-Version) and extra body fields."""

    def __init__(
        self,
        status: int,
        message: str,
        *,
        model: LoadedModel | None = None,
        headers: Headers | None = None,
        **extra: Any,
    ) -> None:
        super().__init__(message)
        self.status, self.message, self.model, self.extra = status, message, model, extra
        self.headers = headers or []

    @classmethod
    def of(cls, error: RetrainError, model: LoadedModel | None) -> HttpError:
        return cls(status_for(error), str(error), model=model, headers=error_headers(error))


class ServingApp:
    """ASGI app answering for the models of `repository`. Call `start()`/`stop()` when not run by lifespan."""

    def __init__(
        self,
        repository: ModelRepository,
        *,
        max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
        fallback: ASGIApp | None = None,
        metrics: Metrics | None = None,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
        token: str | None = None,
    ) -> None:
        self.repository = repository
        self.max_body_bytes = max_body_bytes
        self.fallback = fallback
        self.metrics = metrics or Metrics()
        self.read_timeout_s = read_timeout_s
        self.token = token  # the API's token: `load` and `unload` need it when set

    def __repr__(self) -> str:  # never print the token
        return f"ServingApp(token={'set' if self.token else 'unset'}, read_timeout_s={self.read_timeout_s:g})"

    def start(self) -> None:
        self.repository.start()

    def stop(self) -> None:
        self.repository.stop()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        kind = scope["type"]
        if kind == "http":
            path: str = scope["path"]
            if path.startswith(("/v1/", "/v2")) or path == "/metrics" or self.fallback is None:
                await self._http(scope, receive, send)
            else:
                await self.fallback(scope, receive, send)
        elif kind == "lifespan":
            await self._lifespan(scope, receive, send)
        elif self.fallback is not None:
            await self.fallback(scope, receive, send)

    async def _lifespan(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self.fallback is not None:  # the fallback owns the lifespan protocol; we ride along
            self.start()
            try:
                await self.fallback(scope, receive, send)
            finally:
                self.stop()
            return
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                self.start()
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await asyncio.get_running_loop().run_in_executor(None, self.stop)
                await send({"type": "lifespan.shutdown.complete"})
                return

    # -- plumbing ------------------------------------------------------------------------------------------

    async def _http(self, scope: Scope, receive: Receive, send: Send) -> None:
        headers: Headers = []
        try:
            status, body, model = await self._route(scope["method"], scope["path"], scope, receive)
        except HttpError as err:
            status, model, headers = err.status, err.model, err.headers
            body = codec.dumps(self._error_body(err.message, model, err.extra))
        except RetrainError as err:
            status, model, headers = status_for(err), None, error_headers(err)
            body = codec.dumps({"error": str(err)})
        except Exception as err:  # a bug of ours: never a stack trace (or a secret) on the wire
            log.exception("serving: %s %s failed", scope["method"], scope["path"])
            status, model = 500, None
            body = codec.dumps({"error": f"internal error: {type(err).__name__}"})
        if model is not None:
            headers = [*headers, (b"x-model-version", model.version_text.encode())]
        if scope["path"] == "/metrics" and status == 200:
            await send_answer(send, status, body, headers, content_type=METRICS_TYPE.encode())
        else:
            await send_answer(send, status, body, headers)

    def _error_body(self, message: str, model: LoadedModel | None, extra: dict[str, Any]) -> dict[str, Any]:
        body: dict[str, Any] = {"error": message, **extra}
        if model is not None:
            body["model_version"] = model.version_text
        return body

    async def _body(self, scope: Scope, receive: Receive) -> bytes:
        return await read_body(
            receive,
            header(scope, b"content-length"),
            limit=self.max_body_bytes,
            timeout_s=self.read_timeout_s,
            hint=_TOO_LARGE_HINT,
        )

    def _authorize(self, scope: Scope, what: str) -> None:
        """With a token configured, a request that changes what serves must carry it (401 or 403)."""
        if self.token:
            check_bearer(headers_of(scope), self.token, what=what, env=_TOKEN_ENV)

    def _state(self, name: str) -> ModelState:
        state = self.repository.state(name)
        if state is None:
            known = sorted(self.repository.states())
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.5)
            hint = f"did you mean {close[0]!r}?" if close else f"served models: {', '.join(known) or 'none'}"
            raise HttpError(404, f"model {name!r} is not served here ({hint})", hint=hint)
        return state

    def _model(self, name: str, version: str | None = None) -> LoadedModel:
        state = self._state(name)
        model = state.model
        if model is None:
            why = state.error or f"version {state.wanted} is loading"
            raise HttpError(503, f"model {name!r} is not ready: {why}", **state.detail())
        if version is not None and version != model.version_text:
            raise HttpError(
                404,
                f"model {name!r} version {version} is not served; version {model.version_text} is",
                model=model,
            )
        return model

    async def _predict(self, model: LoadedModel, rows: Floats) -> np.ndarray[Any, Any]:
        try:
            if rows.shape[0] <= OFFLOAD_ROWS:
                out = _predict_checked(model, rows)
            else:
                loop = asyncio.get_running_loop()
                out = await loop.run_in_executor(None, _predict_checked, model, rows)
        except FloatingPointError as err:  # finite rows whose values overflow inside the model: bad input
            raise HttpError(
                400,
                f"{model.name}: the rows hold values too large for the model ({err}); "
                "tree models compare in float32, so inputs and their scaled values must stay within ±3.4e38",
                model=model,
                expected={"width": model.width, "feature_names": list(model.feature_names)},
            ) from None
        except Exception as err:
            log.exception("serving: %s version %d: predict failed", model.name, model.version)
            raise HttpError(
                500,
                f"model {model.name!r} version {model.version} failed to predict: {type(err).__name__}",
                model=model,
            ) from None
        if out.ndim == 0 or out.shape[0] != rows.shape[0]:
            raise HttpError(
                500, f"model {model.name!r} returned {out.shape} for {rows.shape[0]} rows", model=model
            )
        return out

    # -- routes --------------------------------------------------------------------------------------------

    async def _route(
        self, method: str, path: str, scope: Scope, receive: Receive
    ) -> tuple[int, bytes, LoadedModel | None]:
        if path.startswith("/v1/models"):
            rest = path[len("/v1/models") :]
            if rest in ("", "/"):
                allow(method, path, "GET")
                return self._v1_list()
            name = rest[1:]
            if name.endswith(":predict"):
                allow(method, path, "POST")
                return await self._infer(name[: -len(":predict")], None, scope, receive, v2=False)
            if rest.startswith("/") and ":" not in name and "/" not in name:
                allow(method, path, "GET")
                model = self._model(name)
                return (
                    200,
                    codec.dumps({"name": name, "ready": True, "model_version": model.version_text}),
                    model,
                )
        elif path.startswith("/v2/models/"):
            name, _, tail = path[len("/v2/models/") :].partition("/")
            version = None
            if tail.startswith("versions/"):
                version, _, tail = tail[len("versions/") :].partition("/")
            if tail == "infer":
                allow(method, path, "POST")
                return await self._infer(name, version, scope, receive, v2=True)
            if tail == "ready":
                allow(method, path, "GET")
                model = self._model(name, version)
                body = {"name": name, "ready": True, "model_version": model.version_text}
                return 200, codec.dumps({**self._state(name).detail(), **body}), model
            if tail == "":
                allow(method, path, "GET")
                model = self._model(name, version)
                return 200, codec.dumps(views.metadata(model)), model
        elif path == "/v2/health/live":
            return 200, codec.dumps({"live": True}), None
        elif path == "/v2/health/ready":
            ready = self.repository.ready()
            models = [state.detail() for state in self.repository.states().values()]
            return (200 if ready else 503), codec.dumps({"ready": ready, "models": models}), None
        elif path in ("/v2", "/v2/"):
            meta = {"name": "retrain", "version": __version__, "extensions": ["model_repository"]}
            return 200, codec.dumps(meta), None
        elif path == "/v2/repository/index":
            allow(method, path, "POST", "GET")
            index = [views.index(state) for state in self.repository.states().values()]
            return 200, codec.dumps(index), None
        elif path.startswith("/v2/repository/models/") and path.endswith(("/load", "/unload")):
            name, _, action = path[len("/v2/repository/models/") :].rpartition("/")
            allow(method, path, "POST")
            self._authorize(scope, f"POST /v2/repository/models/NAME/{action}")
            if action == "load":
                return await self._load(name)
            raise HttpError(
                501,
                f"unload is not supported: this server serves the version that the registry's 'serving' "
                f"alias names for {name!r} (change it with `retrain deploy` or `retrain rollback`)",
            )
        elif path == "/metrics":
            allow(method, path, "GET")
            return 200, self.metrics.render(lambda: views.gauges(self.repository)), None
        raise HttpError(
            404,
            f"no such endpoint: {method} {path}",
            hint="see GET /v1/models, POST /v1/models/NAME:predict, POST /v2/models/NAME/infer",
        )

    def _v1_list(self) -> tuple[int, bytes, LoadedModel | None]:
        states = self.repository.states()
        versions = {name: s.model.version_text for name, s in states.items() if s.model is not None}
        return 200, codec.dumps({"models": sorted(states), "versions": versions}), None

    async def _infer(
        self, name: str, version: str | None, scope: Scope, receive: Receive, *, v2: bool
    ) -> tuple[int, bytes, LoadedModel | None]:
        # One read of the state: this request finishes on this model even if a reload swaps it meanwhile.
        model = self._model(name, version)
        endpoint = "infer" if v2 else "predict"
        started = time.perf_counter()
        try:
            body = await self._body(scope, receive)
        except RetrainError as err:  # too large (413), stalled (408), the client went away (400)
            self.metrics.request(name, endpoint, status_for(err))
            raise HttpError.of(err, model) from None
        try:
            payload = codec.parse_json(body, v2=v2)
            if v2:
                rows, request_id = codec.v2_rows(payload, model)
            else:
                rows, request_id = codec.v1_rows(payload, model), None
        except InvalidInput as err:
            self.metrics.request(name, endpoint, 400)
            expected = {"width": model.width, "feature_names": list(model.feature_names)}
            raise HttpError(400, str(err), model=model, expected=expected) from None
        parsed = time.perf_counter()
        try:
            predictions = await self._predict(model, rows)
        except HttpError as err:
            self.metrics.request(name, endpoint, err.status)
            raise
        predicted = time.perf_counter()
        body = codec.v2_answer(model, predictions, request_id) if v2 else codec.v1_answer(predictions)
        metrics = self.metrics
        metrics.stage(name, "preprocess", parsed - started)
        metrics.stage(name, "predict", predicted - parsed)
        metrics.stage(name, "postprocess", time.perf_counter() - predicted)
        metrics.request(name, endpoint, 200)
        return 200, body, model

    async def _load(self, name: str) -> tuple[int, bytes, LoadedModel | None]:
        loop = asyncio.get_running_loop()
        state = await loop.run_in_executor(None, self.repository.reload, name)
        model = state.model
        if state.error or model is None or model.version != state.wanted:
            raise HttpError(
                503, f"model {name!r}: {state.error or 'not loaded'}", model=model, **state.detail()
            )
        return 200, codec.dumps({"name": name, "load": True, "model_version": model.version_text}), model


def _predict_checked(model: LoadedModel, rows: Floats) -> np.ndarray[Any, Any]:
    """The model's answer, where a value that overflows on the way (float32 in the trees, a scaler's float64
    for values near 1e308) raises instead of turning into inf and an answer that means nothing."""
    with np.errstate(over="raise"):  # thread-local: set in the thread that predicts
        return np.asarray(model.predict(rows))
