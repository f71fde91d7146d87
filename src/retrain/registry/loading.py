"""The one way a model file is loaded: the digest is checked on the very bytes that are then unpickled.

Every reader of a `model.pkl` goes through `load_artefact`: the registry (`load_model`, used by the
inference server), the gate's probe process, and training's check of what a notebook wrote. A pickle runs
code when it is loaded, so only bytes whose digest the caller already knows are unpickled; reading the file
once and hashing those bytes leaves no window for it to change between the check and the load.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path
from typing import TYPE_CHECKING, Any

from retrain.errors import InvalidInput, Location, RetrainError
from retrain.registry.digest import sha256_bytes
from retrain.registry.errors import IntegrityError

if TYPE_CHECKING:
    from retrain.registry.store import Registry
    from retrain.registry.versions import VersionInfo


def load_artefact(
    path: Path,
    *,
    sha256: str,
    size: int,
    label: str,
    hint: str = "write the trained model with joblib.dump(model, path)",
    refuse: type[RetrainError] = InvalidInput,
) -> Any:
    """Unpickle `path` if, and only if, its bytes have `sha256` and `size`.

    `label` names the file for people ("model 'x' version 3", "model.pkl written by notebook nb.ipynb").
    Raises IntegrityError (expected and found digest) before unpickling bytes that do not match, and
    `refuse` (the caller's meaning: bad input for a registered version, a failed run for a notebook's
    output) with `hint` when the bytes are not a loadable pickle.
    """
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        data = b""
    found = sha256_bytes(data)
    if (found, len(data)) != (sha256, size):
        raise IntegrityError(
            f"{label}: artefact digest mismatch, refusing to use it: "
            f"expected sha256 {sha256} ({size} bytes), found sha256 {found} ({len(data)} bytes)",
            location=Location(file=str(path)),
            hint="the file changed after it was registered; register the model again or serve another one",
        )
    joblib = importlib.import_module("joblib")  # lazy: keeps `retrain --help` and the CLI fast
    try:
        return joblib.load(io.BytesIO(data))
    except Exception as err:  # unpickling can raise anything the pickled classes raise
        raise refuse(
            f"{label}: cannot unpickle the artefact: {type(err).__name__}: {err}",
            location=Location(file=str(path)),
            hint=hint,
        ) from err


def load_model(registry: Registry, model: str, version: int | None = None) -> tuple[Any, VersionInfo]:
    """The unpickled model and its info; with no version, the serving one (digest-checked, see above)."""
    info = registry.get(model, version)
    libraries = info.metadata.get("libraries", {})
    loaded = load_artefact(
        info.artefact,
        sha256=info.sha256,
        size=info.size,
        label=f"model {model!r} version {info.version}",
        hint=f"it was written with {libraries}; load it with the same library versions",
    )
    return loaded, info
