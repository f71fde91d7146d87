"""The ASGI app for /api/v1 and /hooks (and the dashboard's pages, `retrain.api.web`, for every other path):
routing, limits, credentials, and honest answers.

Each request goes through the same gates in the same order: route (404/405), rate limit (429), credentials
(401 without, 403 wrong), content type (415: bodies are JSON), body size (413) and read timeout (408),
parsing (400), and only then the service acts (202 started or queued, 200 ignored, 409 refused by the
concurrency policy, 503 while shutting down). GitHub's signature covers the body, so it is checked after the
body is read. Errors become answers in `retrain.api.errors` only.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar
from urllib.parse import parse_qs

import orjson
from pydantic import BaseModel

from retrain import __version__
from retrain.api import model_actions, views
from retrain.api.auth import check_bearer, check_github_signature
from retrain.api.errors import OUTCOME_STATUS, MethodNotAllowed, RateLimited, error_answer, internal_error
from retrain.api.http import Request
from retrain.api.openapi import openapi_document
from retrain.api.protocol import Backend, Credentials, HookReply, Limiter, Outcome
from retrain.api.schemas import CancelBody, RerunBody, RunBody, parse_body
from retrain.api.web import WebApp, is_web_path
from retrain.asgi import (
    DEFAULT_READ_TIMEOUT_S,
    Receive,
    Scope,
    Send,
    parse_json,
    require_json,
    send_answer,
)
from retrain.errors import InvalidInput, NotFound, RetrainError

log = logging.getLogger(__name__)

Answer = tuple[int, Any]
Handler = Callable[[Request, list[str]], Awaitable[Answer]]


_JSON_HINT = "send the body as JSON with the header 'Content-Type: application/json'"
_Body = TypeVar("_Body", bound=BaseModel)
_GITHUB_HINT = (
    "set the webhook's 'Content type' to application/json in GitHub's settings "
    "(application/x-www-form-urlencoded is read too)"
)


class ApiApp:
    def __init__(
        self,
        backend: Backend,
        *,
        credentials: Credentials,
        limiter: Limiter,
        read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
    ) -> None:
        self.backend = backend
        self.credentials = credentials
        self.limiter = limiter
        self.read_timeout_s = read_timeout_s
        self._openapi = openapi_document()
        self._web = WebApp(backend)
        # (method, path pattern, receiver for limits, handler); "{}" matches one path segment.
        self._routes: list[tuple[str, tuple[str, ...], str, Handler]] = [
            ("GET", ("api", "v1", "health"), "api-read", self._health),
            ("GET", ("api", "v1", "openapi.json"), "api-read", self._openapi_doc),
            ("GET", ("api", "v1", "runs"), "api-read", self._list_runs),
            ("POST", ("api", "v1", "runs"), "api", self._start_run),
            ("GET", ("api", "v1", "runs", "{}"), "api-read", self._get_run),
            ("GET", ("api", "v1", "runs", "{}", "taskruns"), "api-read", self._taskruns),
            ("POST", ("api", "v1", "runs", "{}", "cancel"), "api", self._cancel_run),
            ("POST", ("api", "v1", "runs", "{}", "rerun"), "api", self._rerun_run),
            ("GET", ("api", "v1", "models"), "api-read", self._models),
            ("POST", ("api", "v1", "models", "{}", "promote"), "api", self._model_action),
            ("POST", ("api", "v1", "models", "{}", "rollback"), "api", self._model_action),
            ("POST", ("hooks", "github"), "github", self._github),
            ("POST", ("hooks", "alertmanager"), "alertmanager", self._alertmanager),
        ]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if is_web_path(scope["path"]):  # the dashboard: open reads, like the API's; actions come back here
            await self._web(Request.from_scope(scope, receive), send)
            return
        headers: list[tuple[bytes, bytes]] = []
        try:
            req = Request.from_scope(scope, receive)
            handler, args, receiver = self._match(req)
            wait = self.limiter.check(req.client, receiver)
            if wait is not None:
                raise RateLimited(
                    f"too many requests to {receiver} from {req.client}; try again in {wait:.1f} s",
                    retry_after_s=wait,
                )
            status, body = await handler(req, args)
        except RetrainError as err:
            status, body, headers = error_answer(err)
        except Exception as err:  # a bug of ours: logged, answered 500 without details
            log.exception("api: %s %s failed", scope.get("method"), scope.get("path"))
            status, body = internal_error(err)
        headers.append((b"cache-control", b"no-store"))
        await send_answer(send, status, orjson.dumps(body), headers)

    def _match(self, req: Request) -> tuple[Handler, list[str], str]:
        parts = tuple(p for p in req.path.split("/") if p)
        allowed: list[str] = []
        for method, pattern, receiver, handler in self._routes:
            if len(pattern) != len(parts):
                continue
            if all(p in ("{}", q) for p, q in zip(pattern, parts, strict=True)):
                args = [q for p, q in zip(pattern, parts, strict=True) if p == "{}"]
                if method == req.method or (method == "GET" and req.method == "HEAD"):
                    return handler, args, receiver
                allowed.append(method)
        if allowed:
            raise MethodNotAllowed(req.method, req.path, tuple(allowed))
        raise NotFound(f"no endpoint {req.path}", hint="GET /api/v1/openapi.json lists the endpoints")

    # -- reads -------------------------------------------------------------------------------------------

    async def _health(self, req: Request, args: list[str]) -> Answer:
        accepting = self.backend.accepting
        return 200, {
            "status": "ok" if accepting else "stopping",
            "service": "retrain",
            "version": __version__,
            "accepting": accepting,
        }

    async def _openapi_doc(self, req: Request, args: list[str]) -> Answer:
        return 200, self._openapi

    async def _list_runs(self, req: Request, args: list[str]) -> Answer:
        return 200, views.list_runs(self.backend.store, req.query)

    async def _get_run(self, req: Request, args: list[str]) -> Answer:
        return 200, views.pipelinerun_document(self.backend.store, args[0])

    async def _taskruns(self, req: Request, args: list[str]) -> Answer:
        return 200, views.taskrun_documents(self.backend.store, args[0])

    async def _models(self, req: Request, args: list[str]) -> Answer:
        return 200, views.list_models(self.backend.registry_root)

    # -- actions -----------------------------------------------------------------------------------------

    async def _model_action(self, req: Request, args: list[str]) -> Answer:
        """Promote or roll back in the registry (`retrain.api.model_actions`); the server follows it."""
        check_bearer(req.headers, self.credentials.api_token, what="the API", env="RETRAIN_API_TOKEN")
        body = await self._body(req, "api")
        act = model_actions.promote if req.path.endswith("/promote") else model_actions.rollback
        registry, content_type = self.backend.registry_root, req.headers.get("content-type")
        return await asyncio.to_thread(act, registry, args[0], content_type, body)

    async def _start_run(self, req: Request, args: list[str]) -> Answer:
        check_bearer(req.headers, self.credentials.api_token, what="the API", env="RETRAIN_API_TOKEN")
        require_json(req.headers.get("content-type"), what="POST /api/v1/runs", hint=_JSON_HINT)
        body = await self._body(req, "api")
        spec = parse_body(RunBody, parse_json(body, what="POST /api/v1/runs"), what="POST /api/v1/runs")
        launch = await self.backend.start_run(
            model=spec.model,
            training_hours=spec.training_hours,
            data_source=spec.data_source,
            notebook_path=spec.notebook_path,
            inference_service=spec.inference_service,
            gpu=spec.gpu,
            health_check=spec.health_check,
        )
        return _launched(launch)

    async def _cancel_run(self, req: Request, args: list[str]) -> Answer:
        check_bearer(req.headers, self.credentials.api_token, what="the API", env="RETRAIN_API_TOKEN")
        mode = (await self._optional_body(req, CancelBody, f"POST /api/v1/runs/{args[0]}/cancel")).mode
        self.backend.store.request_cancel(args[0], mode)
        reason = f"{mode} requested; the run stops within a second or two"
        return 202, {"status": "cancelling", "run": args[0], "reason": reason}

    async def _rerun_run(self, req: Request, args: list[str]) -> Answer:
        check_bearer(req.headers, self.credentials.api_token, what="the API", env="RETRAIN_API_TOKEN")
        spec = await self._optional_body(req, RerunBody, f"POST /api/v1/runs/{args[0]}/rerun")
        self.backend.store.get_run(args[0])  # 404 for an unknown run
        return _launched(await self.backend.rerun_run(args[0], from_failed=spec.from_failed))

    async def _optional_body(self, req: Request, model: type[_Body], what: str) -> _Body:
        """An optional JSON body: absent, the model's defaults; present, it must be JSON and valid."""
        body = await self._body(req, "api")
        if not body.strip():
            return model()
        require_json(req.headers.get("content-type"), what=what, hint=_JSON_HINT)
        return parse_body(model, parse_json(body, what=what), what=what)

    async def _github(self, req: Request, args: list[str]) -> Answer:
        if not _form(req):
            require_json(req.headers.get("content-type"), what="the GitHub webhook", hint=_GITHUB_HINT)
        body = await self._body(req, "github")
        check_github_signature(req.headers, body, self.credentials.github_secret)
        event = req.headers.get("x-github-event", "").strip()
        if not event:
            raise InvalidInput("the delivery has no X-GitHub-Event header", hint="send GitHub's headers")
        delivery = req.headers.get("x-github-delivery", "").strip()
        reply = await self.backend.github_event(event, delivery, _github_payload(req, body))
        return hook_answer(reply)

    async def _alertmanager(self, req: Request, args: list[str]) -> Answer:
        if self.credentials.alertmanager_token:
            check_bearer(
                req.headers,
                self.credentials.alertmanager_token,
                what="the Alertmanager webhook",
                env="RETRAIN_ALERTMANAGER_TOKEN",
            )
        require_json(
            req.headers.get("content-type"),
            what="the Alertmanager webhook",
            hint="Alertmanager sends it; other senders must set 'Content-Type: application/json'",
        )
        body = await self._body(req, "alertmanager")
        reply = await self.backend.alertmanager_event(parse_json(body, what="Alertmanager webhook"))
        return hook_answer(reply)

    async def _body(self, req: Request, receiver: str) -> bytes:
        return await req.body(self.limiter.body_limit(receiver), self.read_timeout_s)


def _launched(launch: Outcome) -> Answer:
    """The answer to a started, queued or refused run (the status by outcome, as for webhooks)."""
    status = OUTCOME_STATUS.get(launch.outcome, 200)
    return status, {"status": launch.outcome, "run": launch.run, "reason": launch.reason}


def _form(req: Request) -> bool:
    media = req.headers.get("content-type", "").partition(";")[0].strip().lower()
    return media == "application/x-www-form-urlencoded"


def _github_payload(req: Request, body: bytes) -> Any:
    """GitHub sends JSON, or `payload=<json>` when the webhook's content type is form-encoded."""
    if _form(req):
        try:
            form = parse_qs(body.decode("utf-8"), strict_parsing=True)
        except (UnicodeDecodeError, ValueError):
            raise InvalidInput("the form-encoded GitHub delivery cannot be read") from None
        if len(form.get("payload", [])) != 1:
            raise InvalidInput("the form-encoded GitHub delivery has no single 'payload' field")
        return parse_json(form["payload"][0].encode(), what="GitHub webhook")
    return parse_json(body, what="GitHub webhook")


def hook_answer(reply: HookReply) -> Answer:
    """202 when a run started or queued, 409 when every run was refused, 200 when nothing was to be done."""
    launches = list(reply.launches)
    runs = [{"status": x.outcome, "run": x.run, "reason": x.reason} for x in launches]
    moving = [x for x in launches if x.outcome in ("started", "queued")]
    refused = [x for x in launches if x.outcome == "refused"]
    if moving:
        status, first = 202, moving[0]
        word = "started" if any(x.outcome == "started" for x in moving) else "queued"
    elif refused:
        status, word, first = 409, "refused", refused[0]
    else:
        return 200, {"status": "ignored", "run": None, "reason": reply.reason, "runs": runs}
    return status, {"status": word, "run": first.run, "reason": reply.reason, "runs": runs}


def create_api(
    backend: Backend,
    *,
    credentials: Credentials,
    limiter: Limiter,
    read_timeout_s: float = DEFAULT_READ_TIMEOUT_S,
) -> ApiApp:
    """The /api/v1 and /hooks app over a backend (the service); `read_timeout_s` is the configuration's
    `server.read_timeout_s` (how long a request body may stall before the answer is 408)."""
    return ApiApp(backend, credentials=credentials, limiter=limiter, read_timeout_s=read_timeout_s)
