"""Reading the complete versions of a model from `versions/<n>/`."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from retrain.errors import Location, NotFound
from retrain.registry.errors import IntegrityError
from retrain.registry.layout import ModelPaths, version_number
from retrain.registry.metadata import VersionMetadata

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class VersionInfo:
    """One registered version: where its artefact is, its digest, and everything recorded about it."""

    model: str
    version: int
    path: Path
    artefact: Path
    sha256: str
    size: int
    created_at: str
    metadata: VersionMetadata = field(compare=False, hash=False, repr=False)

    @property
    def executed_notebook(self) -> Path | None:
        """The executed notebook stored with this version (lineage), or None when it has none."""
        record = self.metadata.get("executed_notebook")
        return self.path / str(record["file"]) if record else None


def check_digest(info: VersionInfo, sha256: str, size: int) -> None:
    """Raise IntegrityError unless the bytes read (`sha256`, `size`) are the ones registered for `info`."""
    if sha256 == info.sha256 and size == info.size:
        return
    raise IntegrityError(
        f"model {info.model!r} version {info.version}: artefact digest mismatch, refusing to use it: "
        f"expected sha256 {info.sha256} ({info.size} bytes), found sha256 {sha256} ({size} bytes)",
        location=Location(file=str(info.artefact)),
        hint="the file changed after it was registered; register the model again or serve another version",
    )


def version_numbers(paths: ModelPaths) -> list[int]:
    """Numbers of the version directories that exist, ascending. Scratch entries are ignored."""
    try:
        names = [entry.name for entry in paths.versions.iterdir() if entry.is_dir()]
    except FileNotFoundError:
        return []
    return sorted(n for n in map(version_number, names) if n is not None)


def read_version(paths: ModelPaths, version: int) -> VersionInfo:
    """The version's info; NotFound when it does not exist, IntegrityError when its metadata is damaged."""
    meta_path = paths.metadata(version)
    try:
        raw: Any = json.loads(meta_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        known = version_numbers(paths)
        raise NotFound(
            f"model {paths.model!r} has no version {version}",
            hint=f"known versions: {_ranges(known)}" if known else "it has no versions yet",
        ) from None
    except ValueError as err:
        raise IntegrityError(
            f"model {paths.model!r} version {version}: metadata is not valid JSON: {err}",
            location=Location(file=str(meta_path)),
        ) from None
    try:
        artefact = raw["artefact"]
        return VersionInfo(
            model=paths.model,
            version=version,
            path=paths.version_dir(version),
            artefact=paths.version_dir(version) / str(artefact["file"]),
            sha256=str(artefact["sha256"]),
            size=int(artefact["size"]),
            created_at=str(raw["created_at"]),
            metadata=cast(VersionMetadata, raw),
        )
    except (KeyError, TypeError, ValueError) as err:
        raise IntegrityError(
            f"model {paths.model!r} version {version}: metadata lacks a valid field {err}",
            location=Location(file=str(meta_path)),
        ) from None


def read_versions(paths: ModelPaths) -> list[VersionInfo]:
    """Every readable version, ascending. A damaged one is logged and left out, so listing never fails."""
    infos: list[VersionInfo] = []
    for number in version_numbers(paths):
        try:
            infos.append(read_version(paths, number))
        except NotFound:
            continue  # pruned while we were listing
        except IntegrityError as err:
            log.warning("%s", err)
    return infos


def _ranges(numbers: list[int]) -> str:
    """[1, 2, 3, 5] -> '1-3, 5'."""
    parts: list[str] = []
    start = prev = numbers[0]
    for n in [*numbers[1:], None]:
        if n is not None and n == prev + 1:
            prev = n
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if n is not None:
            start = prev = n
    return ", ".join(parts)
