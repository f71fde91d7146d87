"""POST /api/v1/models/{model}/promote and /rollback: what the dashboard's Promote and Rollback buttons call.

Both move the registry's aliases through `retrain.app.models` (atomic, audited, with the reason and the
actor's words) and never tell a server themselves: the inference server of `retrain serve` follows the
registry's `serving` alias (it notices a change within its poll interval, `server.poll_interval_s`), and
the answer says so. Same gates as every API action: bearer token (401/403), JSON body (415), size and
read timeout, then 200 with the new aliases, 404 for an unknown model or version, 409 when there is no
`previous` to roll back to.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict, Field

from retrain.api.schemas import parse_body
from retrain.asgi import parse_json, require_json

if TYPE_CHECKING:
    from pathlib import Path

    from retrain.app.models import AliasResult

_HINT = "send 'Content-Type: application/json', e.g. {\"version\": 3}"


class PromoteBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    version: int = Field(ge=1)
    reason: str = Field("", max_length=500)


class RollbackBody(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    reason: str = Field("", max_length=500)


_FOLLOWS = "; the inference server of `retrain serve` follows within its poll interval"


def _answer(result: AliasResult) -> dict[str, Any]:
    return {
        "status": result.outcome,
        "model": result.model,
        "serving": result.serving,
        "previous": result.previous,
        "was": result.was,
        "reason": result.reason
        + (
            "; the inference server of `retrain serve` follows within its poll interval"
            if result.changed
            else ""
        ),
    }


def promote(registry: Path, model: str, content_type: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    from retrain.app.models import AliasRequest
    from retrain.app.models import promote as promote_version

    what = f"POST /api/v1/models/{model}/promote"
    require_json(content_type, what=what, hint=_HINT)
    spec = parse_body(PromoteBody, parse_json(body, what=what), what=what)
    reason = spec.reason or "promoted from the API"
    return 200, _answer(promote_version(AliasRequest(model, spec.version, reason=reason, registry=registry)))


def rollback(registry: Path, model: str, content_type: str | None, body: bytes) -> tuple[int, dict[str, Any]]:
    from retrain.app.models import AliasRequest
    from retrain.app.models import rollback as rollback_version

    what = f"POST /api/v1/models/{model}/rollback"
    reason = ""
    if body.strip():  # the body is optional; when there is one, it is JSON
        require_json(content_type, what=what, hint=_HINT)
        reason = parse_body(RollbackBody, parse_json(body, what=what), what=what).reason
    request = AliasRequest(model, reason=reason or "rolled back from the API", registry=registry)
    return 200, _answer(rollback_version(request))
