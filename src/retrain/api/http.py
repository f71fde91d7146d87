"""Plain ASGI plumbing for the API: a request with its headers and a bounded body, and JSON answers.

No framework: the inference server next door is a plain ASGI callable too, and the API needs a handful of
routes. The body is read only after the rate limit and the declared length were checked, and never past
the receiver's limit (413), whether the client sent Content-Length or a chunked body.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson

from retrain.api.errors import PayloadTooLarge
from retrain.errors import InvalidInput

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]  # lower-case names; repeated headers joined with ", "
    query: list[tuple[str, str]]
    client: str
    receive: Receive

    @classmethod
    def from_scope(cls, scope: Scope, receive: Receive) -> Request:
        headers: dict[str, str] = {}
        for raw_name, raw_value in scope.get("headers", []):
            name = raw_name.decode("latin-1").lower()
            value = raw_value.decode("latin-1")
            headers[name] = f"{headers[name]}, {value}" if name in headers else value
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client") or ("unknown", 0)
        return cls(
            method=scope["method"],
            path=scope["path"],
            headers=headers,
            query=parse_qsl(query, keep_blank_values=True),
            client=str(client[0]),
            receive=receive,
        )

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def param(self, name: str) -> str | None:
        values = self.params(name)
        return values[-1] if values else None

    async def body(self, limit: int) -> bytes:
        """The whole body, at most `limit` bytes (PayloadTooLarge beyond)."""
        declared = self.headers.get("content-length")
        if declared is not None:
            if not declared.strip().isdigit():
                raise InvalidInput(f"Content-Length {declared!r} is not a number of bytes")
            if int(declared) > limit:
                raise _too_large(limit, f"Content-Length is {int(declared)} bytes")
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, f"the body passed {limit} bytes")
            chunks.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(chunks)


def _too_large(limit: int, what: str) -> PayloadTooLarge:
    return PayloadTooLarge(
        f"request body too large: {what}; this receiver reads at most {limit} bytes",
        hint="send a smaller body, or raise the receiver's max_body_kb in the configuration",
    )


def parse_json(body: bytes, *, what: str) -> Any:
    if not body.strip():
        raise InvalidInput(f"{what}: the body is empty", hint="send a JSON document")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise InvalidInput(f"{what}: the body is not valid JSON: {exc}") from None


async def send_json(
    send: Send, status: int, body: Any, headers: list[tuple[bytes, bytes]] | None = None
) -> None:
    payload = orjson.dumps(body)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"cache-control", b"no-store"),
                *(headers or []),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload})
