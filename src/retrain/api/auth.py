"""Credentials: bearer tokens for the API (and Alertmanager), GitHub's HMAC signature for its webhook.

Every comparison is constant-time (`hmac.compare_digest`), so response timing says nothing about how much of
a guess was right. Secrets are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping

from retrain.api.errors import Forbidden, Unauthorized

SIGNATURE_HEADER = "x-hub-signature-256"
_SIGNATURE_PREFIX = "sha256="


def check_bearer(headers: Mapping[str, str], token: str | None, *, what: str, env: str) -> None:
    """The `Authorization: Bearer TOKEN` header must carry `token`; with no token configured, refuse all."""
    if not token:
        raise Forbidden(
            f"{what} is closed: no token is configured", hint=f"set {env} (or the config file) and restart"
        )
    header = headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if not header:
        raise Unauthorized(
            f"{what} needs a bearer token", hint="send the header 'Authorization: Bearer <token>'"
        )
    if scheme.lower() != "bearer" or not given.strip():
        raise Unauthorized(
            f"{what} needs a bearer token, not a {scheme or 'malformed'} credential",
            hint="send the header 'Authorization: Bearer <token>'",
        )
    if not hmac.compare_digest(given.strip().encode(), token.encode()):
        raise Unauthorized(f"{what}: the bearer token is not valid")


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
