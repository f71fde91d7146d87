"""retrain.api: the HTTP API (/api/v1) and the webhook receivers (/hooks) as one plain ASGI app.

`create_api(backend, credentials=, limiter=)` builds it over a `Backend` (the service of
`retrain.triggers.service`, handed in by `retrain serve`); `openapi_document()` is its OpenAPI 3.1 document.
"""

from retrain.api.app import ApiApp, create_api, hook_answer
from retrain.api.auth import github_signature
from retrain.api.openapi import openapi_document
from retrain.api.protocol import Backend, Credentials, HookReply, Limiter, Outcome

__all__ = [
    "ApiApp",
    "Backend",
    "Credentials",
    "HookReply",
    "Limiter",
    "Outcome",
    "create_api",
    "github_signature",
    "hook_answer",
    "openapi_document",
]
