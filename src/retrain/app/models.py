"""The models use cases: list, describe (with lineage), history, promote, roll back in the registry, prune.

Each takes a frozen request and returns a frozen result; errors are RetrainErrors (NotFound for an unknown
model or version, with "did you mean"). `rollback` here only moves the registry's aliases; telling a serving
target is `retrain.app.deploy`'s job.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from retrain.registry import Event, Promotion, Registry, VersionInfo


def _registry(root: Path | None) -> Registry:
    from retrain.registry import Registry, default_root

    return Registry(root if root is not None else default_root())


@dataclass(frozen=True)
class ModelSummary:
    model: str
    versions: int
    serving: int | None
    previous: int | None
    last_registered: str | None


@dataclass(frozen=True)
class ModelList:
    registry: Path
    models: tuple[ModelSummary, ...]


def list_models(registry: Path | None = None) -> ModelList:
    """Every model: how many versions, which is serving and previous, when the last one was registered."""
    reg = _registry(registry)
    rows = []
    for model in reg.models():
        versions = reg.versions(model)
        aliases = reg.aliases(model)
        rows.append(
            ModelSummary(
                model,
                len(versions),
                aliases.get("serving"),
                aliases.get("previous"),
                versions[-1].created_at if versions else None,
            )
        )
    return ModelList(reg.root, tuple(rows))


@dataclass(frozen=True)
class Lineage:
    """Where a version came from: its notebook (as given and as it ran), code, data and run."""

    notebook: str | None  # the notebook that was run
    executed_notebook: Path | None  # the notebook as it ran, stored with the version
    executed_notebook_sha256: str | None
    git_commit: str | None
    data_source: str | None  # effective
    run: str | None
    libraries: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class VersionDescription:
    model: str
    version: int
    path: Path  # the version's directory
    artefact: Path
    aliases: tuple[str, ...]
    lineage: Lineage
    metadata: Mapping[str, Any]  # metadata.json as stored

    def as_json(self) -> dict[str, Any]:
        """The stored metadata plus aliases, path and the executed notebook's path (the JSON view)."""
        executed = self.lineage.executed_notebook
        return {
            "aliases": list(self.aliases),
            "path": str(self.path),
            **self.metadata,
            "executed_notebook_path": str(executed) if executed is not None else None,
        }


@dataclass(frozen=True)
class DescribeRequest:
    model: str
    version: int | None = None  # None: the serving one
    registry: Path | None = None


def _lineage(info: VersionInfo) -> Lineage:
    meta = info.metadata
    record = meta.get("executed_notebook")
    return Lineage(
        notebook=meta.get("notebook_path"),
        executed_notebook=info.executed_notebook,
        executed_notebook_sha256=record["sha256"] if record else None,
        git_commit=meta.get("git_commit"),
        data_source=meta.get("data_source_effective"),
        run=meta.get("run"),
        libraries=dict(meta.get("libraries") or {}),
    )


def describe(request: DescribeRequest) -> VersionDescription:
    """One version: metadata, aliases and lineage (NotFound naming the known versions otherwise)."""
    reg = _registry(request.registry)
    info = reg.get(request.model, request.version)
    aliases = tuple(sorted(name for name, n in reg.aliases(info.model).items() if n == info.version))
    return VersionDescription(
        info.model, info.version, info.path, info.artefact, aliases, _lineage(info), dict(info.metadata)
    )


@dataclass(frozen=True)
class History:
    model: str
    events: tuple[Event, ...]


def history(model: str, registry: Path | None = None) -> History:
    """The audit log: registered, promoted, rolled back, rejected, pruned, aliases."""
    return History(model, tuple(_registry(registry).history(model)))


@dataclass(frozen=True)
class AliasRequest:
    """promote (with `version`) or rollback (without) in the registry."""

    model: str
    version: int | None = None
    reason: str = ""
    run: str | None = None
    registry: Path | None = None


@dataclass(frozen=True)
class AliasResult:
    model: str
    serving: int
    was: int | None  # the version that served before
    previous: int | None  # the `previous` alias now
    changed: bool
    outcome: str  # "promoted", "rolled_back" or "unchanged"
    reason: str


def _alias_result(promotion: Promotion) -> AliasResult:
    event = promotion.event
    if not promotion.changed or event is None:
        return AliasResult(
            promotion.model,
            promotion.serving,
            promotion.serving,
            promotion.previous,
            False,
            "unchanged",
            f"version {promotion.serving} is already serving; nothing changed",
        )
    return AliasResult(
        promotion.model,
        promotion.serving,
        event.previous,
        promotion.previous,
        True,
        event.event,
        f"version {promotion.serving} is serving in the registry",
    )


def promote(request: AliasRequest) -> AliasResult:
    """Serve `request.version`: the serving one becomes `previous`; <model>/model.pkl is replaced."""
    from retrain.errors import InvalidInput, Location

    if request.version is None:
        raise InvalidInput("promote needs a version", location=Location(field="version"))
    reg = _registry(request.registry)
    return _alias_result(reg.promote(request.model, request.version, reason=request.reason, run=request.run))


def rollback(request: AliasRequest) -> AliasResult:
    """Serve `previous` again, in the registry only (no server is told)."""
    reg = _registry(request.registry)
    return _alias_result(reg.rollback(request.model, reason=request.reason, run=request.run))


@dataclass(frozen=True)
class PruneRequest:
    model: str
    keep: int
    reason: str = ""
    registry: Path | None = None


@dataclass(frozen=True)
class PruneResult:
    model: str
    deleted: tuple[int, ...]
    kept: tuple[int, ...]


def prune(request: PruneRequest) -> PruneResult:
    """Delete all but the newest `keep` versions; serving, previous and aliased versions always stay."""
    reg = _registry(request.registry)
    deleted = reg.prune(request.model, keep=request.keep, reason=request.reason)
    kept = tuple(v.version for v in reg.versions(request.model))
    return PruneResult(request.model, tuple(deleted), kept)
