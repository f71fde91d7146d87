"""retrain.registry: model versions on disk (artefact, metadata, digest, aliases, promote, rollback, audit).

The on-disk layout is a contract that KServe servers and pipelines rely on; see `retrain.registry.layout`.
"""

from retrain.registry.errors import IntegrityError
from retrain.registry.events import Event
from retrain.registry.layout import default_root
from retrain.registry.loading import load_artefact, load_model
from retrain.registry.metadata import NewVersionMetadata, VersionMetadata
from retrain.registry.store import Promotion, Registry
from retrain.registry.versions import VersionInfo

__all__ = [
    "Event",
    "IntegrityError",
    "NewVersionMetadata",
    "Promotion",
    "Registry",
    "VersionInfo",
    "VersionMetadata",
    "default_root",
    "load_artefact",
    "load_model",
]
