"""Loading a registered model: the digest is checked on the very bytes that are then unpickled."""

from __future__ import annotations

import importlib
import io
from typing import Any

from retrain.errors import InvalidInput, Location
from retrain.registry.digest import sha256_bytes
from retrain.registry.store import Registry
from retrain.registry.versions import VersionInfo, check_digest


def load_model(registry: Registry, model: str, version: int | None = None) -> tuple[Any, VersionInfo]:
    """The unpickled model and its info; with no version, the serving one.

    Raises IntegrityError (naming the version, expected and found digest) before unpickling anything that
    does not match the registered digest: pickles run code, so only the bytes we recorded are trusted.
    """
    info = registry.get(model, version)
    try:
        data = info.artefact.read_bytes()
    except FileNotFoundError:
        data = b""
    # Reading once and hashing those bytes leaves no window for the file to change between check and load.
    check_digest(info, sha256_bytes(data), len(data))
    joblib = importlib.import_module("joblib")  # lazy: keeps `retrain --help` and the CLI fast
    try:
        loaded: Any = joblib.load(io.BytesIO(data))
    except Exception as err:
        libraries = info.metadata.get("libraries", {})
        raise InvalidInput(
            f"model {model!r} version {info.version}: cannot unpickle the artefact: "
            f"{type(err).__name__}: {err}",
            location=Location(file=str(info.artefact)),
            hint=f"it was written with {libraries}; load it with the same library versions",
        ) from err
    return loaded, info
