"""Where things live on disk: the registry layout that KServe servers, pipelines and people rely on.

    <root>/<model>/versions/<n>/model.pkl       the artefact of version n (n counts from 1)
    <root>/<model>/versions/<n>/metadata.json   what produced it and its digest
    <root>/<model>/versions/<n>/executed.ipynb  the notebook as it ran (lineage; named in metadata.json)
    <root>/<model>/aliases.json                 {"serving": n, "previous": m, ...user aliases}
    <root>/<model>/model.pkl                    copy of the serving version (stock KServe --model_dir)
    <root>/<model>/events.jsonl                 append-only audit log
    <root>/<model>/.lock                        the per-model lock file
    <root>/.staging/                            scratch directories of running trainings (see staging.py)

Names starting with `.tmp-` are private scratch entries of a writer; they are never part of the registry.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from retrain.errors import InvalidInput, Location

ARTEFACT = "model.pkl"
METADATA = "metadata.json"
EXECUTED_NOTEBOOK = "executed.ipynb"
ALIASES = "aliases.json"
EVENTS = "events.jsonl"
LOCK = ".lock"
TMP_PREFIX = ".tmp-"

# Reserved aliases are moved only by promote and rollback, so the audit log always explains them.
SERVING = "serving"
PREVIOUS = "previous"
RESERVED_ALIASES = frozenset({SERVING, PREVIOUS})

_MODEL_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
_ALIAS_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,62}$")
_VERSION_DIR = re.compile(r"^[1-9][0-9]*$")


def check_model_name(model: str) -> str:
    """Return `model` when it is usable as one directory name; raise InvalidInput otherwise."""
    if not _MODEL_NAME.match(model):
        raise InvalidInput(
            f"model name {model!r} is not allowed",
            location=Location(field="model"),
            hint="use letters, digits, '.', '_' or '-', starting with a letter or digit, "
            "at most 128 characters, e.g. 'anomaly-detector'",
        )
    return model


def check_alias_name(alias: str) -> str:
    if not _ALIAS_NAME.match(alias):
        raise InvalidInput(
            f"alias name {alias!r} is not allowed",
            location=Location(field="alias"),
            hint="use lower-case letters, digits, '_' or '-', starting with a letter, e.g. 'champion'",
        )
    return alias


def check_version(version: int) -> int:
    if isinstance(version, bool) or not isinstance(version, int) or version < 1:
        raise InvalidInput(
            f"version {version!r} is not a version number",
            location=Location(field="version"),
            hint="versions are whole numbers counted from 1",
        )
    return version


def version_number(name: str) -> int | None:
    """The version a directory name under versions/ stands for, or None for anything else."""
    return int(name) if _VERSION_DIR.match(name) else None


@dataclass(frozen=True)
class ModelPaths:
    """Every path of one model in the registry."""

    root: Path
    model: str

    @property
    def dir(self) -> Path:
        return self.root / self.model

    @property
    def versions(self) -> Path:
        return self.dir / "versions"

    @property
    def aliases(self) -> Path:
        return self.dir / ALIASES

    @property
    def events(self) -> Path:
        return self.dir / EVENTS

    @property
    def legacy_artefact(self) -> Path:
        return self.dir / ARTEFACT

    @property
    def lock(self) -> Path:
        return self.dir / LOCK

    def version_dir(self, version: int) -> Path:
        return self.versions / str(version)

    def artefact(self, version: int) -> Path:
        return self.version_dir(version) / ARTEFACT

    def metadata(self, version: int) -> Path:
        return self.version_dir(version) / METADATA


def default_root(environ: Mapping[str, str] | None = None) -> Path:
    """The registry root when none is given: $RETRAIN_REGISTRY, else <data home>/registry.

    The data home is $RETRAIN_HOME, else $XDG_DATA_HOME/retrain, else ~/.local/share/retrain.
    """
    env = os.environ if environ is None else environ
    if env.get("RETRAIN_REGISTRY"):
        return Path(env["RETRAIN_REGISTRY"]).expanduser()
    if env.get("RETRAIN_HOME"):
        home = Path(env["RETRAIN_HOME"]).expanduser()
    elif env.get("XDG_DATA_HOME"):
        home = Path(env["XDG_DATA_HOME"]).expanduser() / "retrain"
    else:
        home = Path(env.get("HOME") or Path.home()).expanduser() / ".local" / "share" / "retrain"
    return home / "registry"
