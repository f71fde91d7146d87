"""The dashboard's routing table and its ASGI entry: GET/HEAD pages, JSON for live updates, SSE, static files.

Errors become pages here only: NotFound is the 404 page with a way back, bad input a 400 page, anything
else a logged 500 page without details (never a traceback in the browser).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from importlib import resources
from typing import TYPE_CHECKING

import orjson

from retrain.api.http import Request
from retrain.api.web import drift, login, models, run_page, runs, triggers
from retrain.api.web.layout import Json, Page, error_page, not_found_page, render
from retrain.asgi import Receive, Scope, Send, send_answer
from retrain.errors import InvalidInput, NotFound, RetrainError

if TYPE_CHECKING:
    from retrain.api.protocol import Backend

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Stream:
    """A streamed answer (server-sent events): its chunks are sent as they come."""

    chunks: AsyncIterator[bytes]
    content_type: bytes = b"text/event-stream"


@dataclass(frozen=True)
class PageContext:
    """What a page handler may use: the service (its run store and registry through `retrain.app`) and
    the request (query parameters)."""

    backend: Backend
    request: Request


Answer = Page | Json | Stream
Handler = Callable[[PageContext, list[str]], Awaitable[Answer]]


async def _home(ctx: PageContext, args: list[str]) -> Answer:
    return await runs.runs_page(ctx, args)


# (path pattern, handler): "{}" matches one path segment; W2 adds the Models, Drift and Triggers pages here.
ROUTES: list[tuple[tuple[str, ...], Handler]] = [
    ((), _home),
    (("runs",), runs.runs_page),
    (("runs", "{}"), run_page.run_page),
    (("runs", "{}", "live.json"), run_page.run_live),
    (("runs", "{}", "logs"), run_page.run_logs),
    (("login",), login.login_page),
    (("models",), models.models_page),
    (("models", "{}"), models.model_page),
    (("drift",), drift.drift_page),
    (("triggers",), triggers.triggers_page),
]

_STATIC_TYPES = {".css": b"text/css; charset=utf-8", ".js": b"text/javascript; charset=utf-8",
                 ".svg": b"image/svg+xml", ".png": b"image/png"}  # fmt: skip
_HTML = b"text/html; charset=utf-8"
# Only our own scripts and styles run; nothing is framed; no request leaves for another origin.
_SECURITY = [
    (b"content-security-policy",
     b"default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
     b"connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
]  # fmt: skip


def is_web_path(path: str) -> bool:
    """Everything but the API and the webhooks is the dashboard's."""
    return not path.startswith(("/api/", "/hooks/")) and path not in ("/api", "/hooks")


class WebApp:
    def __init__(self, backend: Backend) -> None:
        self.backend = backend

    async def __call__(self, req: Request, send: Send) -> None:
        parts = tuple(p for p in req.path.split("/") if p)
        if parts[:1] == ("static",):
            await self._static(parts[1:], send)
            return
        if req.method not in ("GET", "HEAD"):
            page = error_page(
                405,
                f"{req.method} {req.path} is not allowed: the dashboard's pages are read-only",
                "actions go to the API (/api/v1/...) with the bearer token",
            )
            await self._page(page, send, head=False)
            return
        try:
            handler, args = _match(parts, req.path)
            answer = await handler(PageContext(self.backend, req), args)
        except NotFound as err:
            answer = not_found_page(err.message, err.hint)
        except InvalidInput as err:
            answer = error_page(400, err.message, err.hint)
        except RetrainError as err:
            answer = error_page(409, err.message, err.hint)
        except Exception:  # a bug of ours: logged, a page without details
            log.exception("dashboard: GET %s failed", req.path)
            answer = error_page(
                500, "the dashboard failed to render this page; the service log has the details"
            )
        head = req.method == "HEAD"
        if isinstance(answer, Page):
            await self._page(answer, send, head=head)
        elif isinstance(answer, Json):
            body = b"" if head else orjson.dumps(answer.data)
            await send_answer(send, answer.status, body, [(b"cache-control", b"no-store"), *_SECURITY])
        else:
            await _stream(answer, send, req.receive)

    async def _page(self, page: Page, send: Send, *, head: bool) -> None:
        body = b"" if head else render(page).encode()
        headers = [(b"cache-control", b"no-store"), *_SECURITY]
        await send_answer(send, page.status, body, headers, content_type=_HTML)

    async def _static(self, parts: tuple[str, ...], send: Send) -> None:
        name = parts[0] if len(parts) == 1 else ""
        suffix = name[name.rfind(".") :] if "." in name else ""
        asset = resources.files("retrain.api.web").joinpath("static", name) if name else None
        if asset is None or suffix not in _STATIC_TYPES or name.startswith(".") or not asset.is_file():
            await self._page(not_found_page(f"no asset /static/{name}"), send, head=False)
            return
        headers = [(b"cache-control", b"public, max-age=300"), *_SECURITY]
        await send_answer(send, 200, asset.read_bytes(), headers, content_type=_STATIC_TYPES[suffix])


def _match(parts: tuple[str, ...], path: str) -> tuple[Handler, list[str]]:
    for pattern, handler in ROUTES:
        if len(pattern) == len(parts) and all(p in ("{}", q) for p, q in zip(pattern, parts, strict=True)):
            return handler, [q for p, q in zip(pattern, parts, strict=True) if p == "{}"]
    raise NotFound(f"there is no page {path}", hint="the nav bar above lists the dashboard's pages")


async def _stream(answer: Stream, send: Send, receive: Receive) -> None:
    """Send the chunks as they come; stop as soon as the client goes away (a closed tab must not keep a
    log follower polling until its run ends)."""
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", answer.content_type), (b"cache-control", b"no-store"),
                    (b"x-accel-buffering", b"no"), *_SECURITY],
    })  # fmt: skip

    async def disconnected() -> None:
        while (await receive())["type"] != "http.disconnect":
            pass

    gone = asyncio.ensure_future(disconnected())
    chunks = answer.chunks
    try:
        while True:
            step = asyncio.ensure_future(anext(chunks))
            await asyncio.wait({step, gone}, return_when=asyncio.FIRST_COMPLETED)
            if not step.done():  # the client left
                step.cancel()
                return
            try:
                chunk = step.result()
            except StopAsyncIteration:
                break
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    finally:
        gone.cancel()
        await _close(chunks)


async def _close(chunks: AsyncIterator[bytes]) -> None:
    aclose = getattr(chunks, "aclose", None)
    if aclose is not None:
        with contextlib.suppress(Exception):
            await aclose()


async def serve_web(web: WebApp, scope: Scope, receive: Receive, send: Send) -> None:
    await web(Request.from_scope(scope, receive), send)
