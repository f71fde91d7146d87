"""Where errors become JSON answers for /api/v1 and /hooks: the statuses of `retrain.asgi` (shared with the
inference server) plus the API's own 429.

Every answer, good or bad, has the same body shape: `{"status": WORD, "run": NAME or null, "reason": TEXT}`
(hook answers add `runs` when one event started several). Bad input is never a 500: only a fault of ours is.
"""

from __future__ import annotations

from typing import Any

from retrain.asgi import (
    STATUSES,
    Forbidden,
    MethodNotAllowed,
    PayloadTooLarge,
    RequestTimeout,
    Unauthorized,
    UnsupportedMediaType,
    error_headers,
)
from retrain.errors import Conflict, InvalidInput, NotFound, RetrainError, TemporaryError

__all__ = [
    "Forbidden",
    "MethodNotAllowed",
    "PayloadTooLarge",
    "RateLimited",
    "RequestTimeout",
    "Unauthorized",
    "UnsupportedMediaType",
]


class RateLimited(TemporaryError):
    """The client sent more than its share: 429 with Retry-After."""


# The word each status stands for in the answer's `status` field.
_WORDS = {
    413: "too-large",
    408: "timeout",
    415: "unsupported-media-type",
    405: "method-not-allowed",
    400: "invalid",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    409: "refused",
    429: "rate-limited",
    503: "unavailable",
}
# retrain.asgi's statuses, with the API's own 429 before its base (TemporaryError: 503).
_STATUSES: tuple[tuple[type[RetrainError], int], ...] = ((RateLimited, 429), *STATUSES)

# The answers of the receivers: what the launcher decided, as HTTP.
OUTCOME_STATUS = {"started": 202, "queued": 202, "refused": 409, "ignored": 200}


def status_for(error: RetrainError) -> tuple[int, str]:
    for kind, status in _STATUSES:
        if isinstance(error, kind):
            return status, _WORDS[status]
    return 500, "error"


def error_answer(error: RetrainError) -> tuple[int, dict[str, Any], list[tuple[bytes, bytes]]]:
    """Status, body and extra headers for an error."""
    status, word = status_for(error)
    body: dict[str, Any] = {"status": word, "run": None, "reason": str(error)}
    return status, body, error_headers(error)


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
    if status == 408:
        return RequestTimeout(text)
    if status == 413:
        return PayloadTooLarge(text)
    if status == 415:
        return UnsupportedMediaType(text)
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
