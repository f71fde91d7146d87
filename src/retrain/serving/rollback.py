"""`rollback`, guarded: restore the previous version only while the version that failed still serves.

The pipelines call `retrain rollback MODEL --only-if-serving N` from a `finally` task when the post-deployment
check of version N failed. The guard makes that task idempotent and safe to re-run: when N no longer serves
(already rolled back, or a newer deploy replaced it) nothing changes and the step still succeeds, saying why.
A rollback with no previous version is a Conflict (exit 4): nothing older is known to work.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from retrain.registry import Registry
from retrain.registry.layout import SERVING
from retrain.serving.deployers import Deployer, DeployResult


@dataclass(frozen=True)
class RollbackOutcome:
    """Either a rollback happened (`result`), or it was skipped on purpose (`skipped` says why)."""

    model: str
    result: DeployResult | None
    skipped: str | None = None

    @property
    def ok(self) -> bool:
        return self.result.ok if self.result is not None else True

    def to_json(self) -> dict[str, Any]:
        if self.result is not None:
            return {**self.result.to_json(), "skipped": None}
        return {
            "action": "rollback",
            "model": self.model,
            "ok": True,
            "changed": False,
            "skipped": self.skipped,
        }


def rollback(
    deployer: Deployer,
    registry: Registry,
    model: str,
    *,
    only_if_serving: int | None = None,
    reason: str = "",
    run: str | None = None,
) -> RollbackOutcome:
    """Serve `previous` again and tell the target; with `only_if_serving`, only while that version serves.

    The guard reads the serving alias just before the rollback takes the registry lock; a promotion landing
    in between is reported (the rollback's audit event names what it replaced) rather than prevented.
    """
    if only_if_serving is not None:
        serving = registry.aliases(model).get(SERVING)
        if serving != only_if_serving:
            now = f"version {serving} serves" if serving is not None else "no version serves"
            return RollbackOutcome(
                model,
                None,
                skipped=f"{model}: nothing to roll back: {now}, not version {only_if_serving} "
                "(already rolled back, or replaced by a newer deploy)",
            )
    result = deployer.rollback(model, reason=reason, run=run)
    if only_if_serving is not None and result.replaced not in (None, only_if_serving):
        warning = (
            f"version {result.replaced} was serving when the rollback ran, not {only_if_serving}: "
            "another deploy landed at the same moment; check `retrain models history " + model + "`"
        )
        result = replace(result, warnings=(*result.warnings, warning))
    return RollbackOutcome(model, result)
