"""Credentials: GitHub's HMAC signature for its webhook; bearer tokens (the API, Alertmanager, the inference
server's repository endpoints) are checked by `retrain.asgi.check_bearer`, re-exported here.

Every comparison is constant-time (`hmac.compare_digest`), so response timing says nothing about how much of
a guess was right. Secrets are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from retrain.asgi import Forbidden, Unauthorized, check_bearer

__all__ = ["check_bearer", "check_github_signature", "github_signature"]

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="


def github_signature(secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` value GitHub sends for `body` (for tests and tools that sign)."""
    digest = hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return _SIGNATURE_PREFIX + digest


def check_github_signature(headers: Mapping[str, str], body: bytes, secret: str | None) -> None:
    """HMAC-SHA256 of the raw body with the webhook's secret, as GitHub signs it."""
    if not secret:
        raise Forbidden(
            "the GitHub webhook is closed: no secret is configured",
            hint="set RETRAIN_GITHUB_WEBHOOK_SECRET (or hooks.github.secret) to the webhook's secret",
        )
    given = headers.get(SIGNATURE_HEADER)
    if not given:
        raise Unauthorized(
            "the GitHub delivery is not signed (no X-Hub-Signature-256 header)",
            hint="give the webhook a secret in GitHub's settings, the same one the service has",
        )
    if not given.startswith(_SIGNATURE_PREFIX):
        raise Unauthorized("X-Hub-Signature-256 must be 'sha256=' followed by the hex digest")
    if not hmac.compare_digest(given.encode(), github_signature(secret, body).encode()):
        raise Unauthorized(
            "the X-Hub-Signature-256 signature does not match the body",
            hint="the webhook's secret differs from the service's, or the body was changed on the way",
        )
