"""PersistentVolumeClaims: the model registry (`model-storage`) and, when GPU nodes cannot mount it, the
GPU volume the GPU pipeline trains on. (A notebooks checkout claim is the site's own and is not rendered.)"""

from __future__ import annotations

from retrain.cluster.manifests import Doc, document, metadata
from retrain.cluster.values import SiteValues, Volume


def _claim(values: SiteValues, volume: Volume, component: str, description: str) -> Doc:
    spec: Doc = {
        "accessModes": list(volume.access_modes),
        "resources": {"requests": {"storage": volume.size}},
    }
    if volume.storage_class is not None:
        spec["storageClassName"] = volume.storage_class
    meta = metadata(
        volume.claim_name,
        values.ns,
        extra_labels={"app.kubernetes.io/component": component},
        annotations={"retrain.dev/description": description},
    )
    return document("v1", "PersistentVolumeClaim", meta, spec=spec)


def build(values: SiteValues) -> list[Doc]:
    storage = values.storage
    out = [
        _claim(
            values,
            storage.model_storage,
            "model-registry",
            "The model registry: <model>/versions/<n>, aliases.json, model.pkl (serving copy), events.jsonl. "
            "Mounted by the pipelines and the predictors at once: ReadWriteMany.",
        )
    ]
    if storage.gpu_storage is not None:
        out.append(
            _claim(
                values,
                storage.gpu_storage,
                "gpu-training",
                "A copy of one model's registry for the GPU task, copied from and back to model-storage",
            )
        )
    return out
