"""The one place where errors become HTTP statuses and JSON answers for /api/v1 and /hooks.

Every answer, good or bad, has the same body shape: `{"status": WORD, "run": NAME or null, "reason": TEXT}`
(hook answers add `runs` when one event started several). Bad input is never a 500: only a fault of ours is.
"""

from __future__ import annotations

from typing import Any

from retrain.errors import Conflict, InvalidInput, NotFound, RetrainError, TemporaryError


class Unauthorized(RetrainError):
    """No credentials, or wrong ones (a missing bearer token, a bad webhook signature): 401."""


class Forbidden(RetrainError):
    """The receiver is closed to everyone (no token or secret configured for it): 403."""


class PayloadTooLarge(InvalidInput):
    """The body is larger than the receiver reads: 413."""


class RateLimited(TemporaryError):
    """The client sent more than its share: 429 with Retry-After."""


class MethodNotAllowed(InvalidInput):
    def __init__(self, method: str, path: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"{method} is not allowed on {path}", hint=f"use {' or '.join(allowed)}")
        self.allowed = allowed


# (status, word) in lookup order: subclasses before their bases.
_STATUSES: tuple[tuple[type[RetrainError], int, str], ...] = (
    (PayloadTooLarge, 413, "too-large"),
    (MethodNotAllowed, 405, "method-not-allowed"),
    (InvalidInput, 400, "invalid"),
    (Unauthorized, 401, "unauthorized"),
    (Forbidden, 403, "forbidden"),
    (NotFound, 404, "not-found"),
    (Conflict, 409, "refused"),
    (RateLimited, 429, "rate-limited"),
    (TemporaryError, 503, "unavailable"),
)

# The answers of the receivers: what the launcher decided, as HTTP.
OUTCOME_STATUS = {"started": 202, "queued": 202, "refused": 409, "ignored": 200}


def status_for(error: RetrainError) -> tuple[int, str]:
    for kind, status, word in _STATUSES:
        if isinstance(error, kind):
            return status, word
    return 500, "error"


def error_answer(error: RetrainError) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """Status, body and extra headers for an error."""
    status, word = status_for(error)
    body: dict[str, Any] = {"status": word, "run": None, "reason": str(error)}
    headers: list[tuple[bytes, bytes]] = []
    if isinstance(error, TemporaryError):
        retry = max(1, round(error.retry_after_s))
        headers.append((b"retry-after", str(retry).encode()))
    if isinstance(error, Unauthorized):
        headers.append((b"www-authenticate", b'Bearer realm="retrain"'))
    if isinstance(error, MethodNotAllowed):
        headers.append((b"allow", ", ".join(error.allowed).encode()))
    return status, body, headers


def internal_error(error: Exception) -> tuple[int, dict[str, Any]]:
    """A fault of ours: never a stack trace (or a secret) on the wire."""
    return 500, {"status": "error", "run": None, "reason": f"internal error: {type(error).__name__}"}


def error_from_answer(status: int, body: object) -> RetrainError:
    """The other direction, for clients of the API: an error answer as the error it stands for."""
    reason = body.get("reason") if isinstance(body, dict) else None
    text = str(reason) if reason else f"the service answered HTTP {status}"
    if status == 401:
        return Unauthorized(text, hint="pass --token or set RETRAIN_API_TOKEN to the service's API token")
    if status == 403:
        return Forbidden(text)
    if status == 413:
        return PayloadTooLarge(text)
    if status == 429:
        return RateLimited(text, retry_after_s=1.0)
    simple: dict[int, type[RetrainError]] = {
        400: InvalidInput,
        404: NotFound,
        405: InvalidInput,
        409: Conflict,
    }
    if status in simple:
        return simple[status](text)
    if status >= 500:
        return TemporaryError(text, retry_after_s=5.0)
    return RetrainError(text)
