"""Plain ASGI plumbing shared by the inference server (`retrain.serving.app`) and the API (`retrain.api.app`).

Neither uses a framework: both are ASGI callables under uvicorn, and this module is what they have in common:
reading a request body within a size limit (413) and a read timeout (408), refusing a body that is not JSON
(415), checking a bearer token (401 without one, 403 for a wrong one), the HTTP status of each error, and
sending a JSON answer in two `send` calls. The answer bodies differ (KServe's `{"error": ...}` for inference,
`{status, run, reason}` for the API), so each app shapes its own.

uvicorn has no timeout for a request body: a client that sends the headers and then part of the body (or
nothing) would hold the request open for ever. `read_body` waits at most `timeout_s` for each next part of
the body (like nginx's `client_body_timeout`), then the answer is 408 and the connection is closed.

Credentials are never echoed: no message here repeats what the client sent in `Authorization`.
"""

from __future__ import annotations

import asyncio
import hmac
from collections.abc import Awaitable, Callable, Iterable, Mapping, MutableMapping
from typing import Any

import orjson

from retrain.errors import Conflict, InvalidInput, NotFound, RetrainError, TemporaryError

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
Headers = list[tuple[bytes, bytes]]

DEFAULT_READ_TIMEOUT_S = 10.0
JSON_TYPE = b"application/json"


class PayloadTooLarge(InvalidInput):
    """The body is larger than the receiver reads: 413."""


class RequestTimeout(InvalidInput):
    """The client stopped sending the body before it was complete: 408."""


class UnsupportedMediaType(InvalidInput):
    """The body is declared as something other than JSON: 415."""


class MethodNotAllowed(InvalidInput):
    def __init__(self, method: str, path: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"method {method} is not allowed on {path}", hint=f"use {' or '.join(allowed)}")
        self.allowed = allowed


class Unauthorized(RetrainError):
    """No credentials, or unusable ones (no bearer token, a bad webhook signature): 401."""


class Forbidden(RetrainError):
    """A wrong token, or a receiver closed to everyone (no token or secret configured): 403."""


# (error, status) in lookup order: subclasses before their bases. Each app adds its own words or kinds.
STATUSES: tuple[tuple[type[RetrainError], int], ...] = (
    (PayloadTooLarge, 413),
    (RequestTimeout, 408),
    (UnsupportedMediaType, 415),
    (MethodNotAllowed, 405),
    (InvalidInput, 400),
    (Unauthorized, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (Conflict, 409),
    (TemporaryError, 503),
)


def status_for(error: RetrainError) -> int:
    for kind, status in STATUSES:
        if isinstance(error, kind):
            return status
    return 500


def error_headers(error: RetrainError) -> Headers:
    """The headers an error answer carries besides the body's: how to retry, authenticate, or which method."""
    headers: Headers = []
    if isinstance(error, PayloadTooLarge | RequestTimeout):
        headers.append((b"connection", b"close"))  # the rest of the body is never read: drop the connection
    if isinstance(error, TemporaryError):
        headers.append((b"retry-after", str(max(1, round(error.retry_after_s))).encode()))
    if isinstance(error, Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="retrain"'))
    if isinstance(error, MethodNotAllowed):
        headers.append((b"allow", ", ".join(error.allowed).encode()))
    return headers


def header(scope: Scope, name: bytes) -> bytes | None:
    """The first value of header `name` (lower case), without building a dict for the whole request."""
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value)
    return None


def headers_of(scope: Scope) -> dict[str, str]:
    """Every header, names in lower case; repeated headers joined with ", "."""
    out: dict[str, str] = {}
    for raw_name, raw_value in scope.get("headers", ()):
        name = raw_name.decode("latin-1").lower()
        value = raw_value.decode("latin-1")
        out[name] = f"{out[name]}, {value}" if name in out else value
    return out


def allow(method: str, path: str, *allowed: str) -> None:
    if method not in allowed:
        raise MethodNotAllowed(method, path, allowed)


async def read_body(
    receive: Receive, content_length: bytes | str | None, *, limit: int, timeout_s: float, hint: str
) -> bytes:
    """The whole body, at most `limit` bytes (413 beyond: `hint` says what to do), each next part of it
    arriving within `timeout_s` (408), whether the client sent Content-Length or a chunked body."""
    if content_length is not None:
        declared = content_length.decode("latin-1") if isinstance(content_length, bytes) else content_length
        if not declared.strip().isdigit():
            raise InvalidInput(f"Content-Length {declared[:40]!r} is not a number of bytes")
        if int(declared) > limit:
            what = f"request body of {int(declared)} bytes is over the limit of {limit} bytes"
            raise PayloadTooLarge(what, hint=hint)
    chunks: list[bytes] = []
    size = 0
    while True:
        try:
            async with asyncio.timeout(timeout_s):
                message = await receive()
        except TimeoutError:
            raise RequestTimeout(
                f"the request body stopped arriving: nothing came for {timeout_s:g} s after {size} bytes",
                hint="send the whole body at once; the server waits this long for each next part",
            ) from None
        if message["type"] == "http.disconnect":
            raise InvalidInput("the client went away before the body was complete")
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"request body is over the limit of {limit} bytes", hint=hint)
        if not message.get("more_body", False):
            return chunk if not chunks else b"".join([*chunks, chunk])
        chunks.append(chunk)


def require_json(content_type: str | None, *, what: str, hint: str) -> None:
    """415 unless the body is declared `application/json` (with parameters such as charset, or a `+json`
    type)."""
    media = (content_type or "").partition(";")[0].strip().lower()
    if media == "application/json" or (media.startswith("application/") and media.endswith("+json")):
        return
    sent = f"Content-Type {media!r}" if media else "no Content-Type"
    raise UnsupportedMediaType(f"{what} reads JSON bodies only; the request has {sent}", hint=hint)


def parse_json(body: bytes, *, what: str, example: str = "a JSON document") -> Any:
    if not body or body.isspace():  # no copy of a large body
        raise InvalidInput(f"{what}: the request has no body", hint=f"send {example}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as err:
        raise InvalidInput(
            f"{what}: the request body is not valid JSON: {err}", hint=f"send {example}"
        ) from None


def check_bearer(headers: Mapping[str, str], token: str | None, *, what: str, env: str) -> None:
    """The `Authorization: Bearer TOKEN` header must carry `token`: 401 without a bearer token, 403 for a
    wrong one; with no token configured, 403 for everyone. The header's content is never repeated."""
    if not token:
        raise Forbidden(
            f"{what} is closed: no token is configured", hint=f"set {env} (or the config file) and restart"
        )
    scheme, _, given = headers.get("authorization", "").strip().partition(" ")
    if scheme.lower() != "bearer" or not given.strip():
        sent = (
            "no Authorization header" if not scheme else "an Authorization header that is not a bearer token"
        )
        raise Unauthorized(
            f"{what} needs a bearer token; the request has {sent}",
            hint="send the header 'Authorization: Bearer <token>'",
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):  # constant time: no timing oracle
        raise Forbidden(
            f"{what}: the bearer token is not valid", hint=f"send the token the service was given in {env}"
        )


async def send_answer(
    send: Send,
    status: int,
    payload: bytes,
    headers: Iterable[tuple[bytes, bytes]] = (),
    *,
    content_type: bytes = JSON_TYPE,
) -> None:
    """Two messages: the status with Content-Type and Content-Length (plus `headers`), then the body."""
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", content_type),
                (b"content-length", str(len(payload)).encode()),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
