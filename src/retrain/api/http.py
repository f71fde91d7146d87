"""The API's view of a request: method, path, headers, query and a bounded body (`retrain.asgi` reads it).

The body is read only after the route, the rate limit and the credentials were checked, never past the
receiver's limit (413) and never waiting longer than the read timeout for its next part (408).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qsl

from retrain.asgi import Receive, Scope, headers_of, read_body

_TOO_LARGE_HINT = "send a smaller body, or raise the receiver's max_body_kb in the configuration"


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
        query = scope.get("query_string", b"").decode("latin-1")
        client = scope.get("client") or ("unknown", 0)
        return cls(
            method=scope["method"],
            path=scope["path"],
            headers=headers_of(scope),
            query=parse_qsl(query, keep_blank_values=True),
            client=str(client[0]),
            receive=receive,
        )

    def params(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    def param(self, name: str) -> str | None:
        values = self.params(name)
        return values[-1] if values else None

    async def body(self, limit: int, timeout_s: float) -> bytes:
        """The whole body: at most `limit` bytes (413), each part within `timeout_s` (408)."""
        return await read_body(
            self.receive,
            self.headers.get("content-length"),
            limit=limit,
            timeout_s=timeout_s,
            hint=_TOO_LARGE_HINT,
        )
