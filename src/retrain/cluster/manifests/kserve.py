"""KServe InferenceServices (serving.kserve.io/v1beta1), one per model, in one of two shapes:

- `sklearn` (KServe's stock scikit-learn runtime): `storageUri: pvc://<claim>/<model>` serves the registry's
  `<model>/model.pkl` (the copy of the serving version the registry keeps for exactly this), or with
  `servingVersion: N` the version directory `pvc://<claim>/<model>/versions/N`. `retrain deploy --target
  kserve` points `storageUri` at the new version directory and waits for the new revision to be Ready.
- `retrain` (the retrain image as a custom predictor): `retrain serve` reads the whole registry from the
  claim (read-only), follows promotions and rollbacks without a restart, checks digests, and speaks KServe V1
  and V2; `retrain deploy --target kserve` then promotes and tells the server at the InferenceService's URL
  to load. Both are verified through the InferenceService's URL and rolled back when that fails.

Which one (`runtime_of`): the model's `predictor`, else `kserve.predictor` when the site names it, else
`sklearn` for a model pinned with `servingVersion` (only a storageUri can pin a version), else by what the
model's artefact needs. The built-in artefacts hold only scikit-learn (and XGBoost) classes, so the stock
runtime loads a CPU model's `model.pkl`. A model with `gpu: true` may be an XGBoost model, and KServe's
scikit-learn runtime has no xgboost: it gets the `retrain` predictor, the same image that trained it (with
xgboost exactly when it could train on the GPU). So the default site serves `anomaly-detector` with the
stock `sklearn` runtime and `predictive-analytics` with the `retrain` predictor.
"""

from __future__ import annotations

from retrain.cluster.manifests import Doc, document, metadata
from retrain.cluster.values import ModelValues, Predictor, SiteValues

API = "serving.kserve.io/v1beta1"
MODELS_DIR = "/mnt/models"


def storage_uri(values: SiteValues, model: ModelValues) -> str:
    base = f"pvc://{values.storage.model_storage.claim_name}/{model.name}"
    return f"{base}/versions/{model.serving_version}" if model.serving_version else base


def runtime_of(values: SiteValues, model: ModelValues) -> Predictor:
    """The predictor the model's InferenceService names: the site's choice, or what its artefact needs."""
    if model.predictor is not None or "predictor" in values.kserve.model_fields_set:
        return values.predictor_of(model)
    if model.serving_version is not None:
        return "sklearn"
    return "retrain" if model.gpu else "sklearn"


def _resources(model: ModelValues) -> Doc:
    return {k: dict(v) for k, v in model.resources.model_dump(by_alias=True).items() if v}


def _sklearn(values: SiteValues, model: ModelValues) -> Doc:
    return {
        "model": {
            "modelFormat": {"name": "sklearn"},
            "storageUri": storage_uri(values, model),
            "resources": _resources(model),
        }
    }


def _retrain(values: SiteValues, model: ModelValues) -> Doc:
    probe_path = f"/v2/models/{model.name}/ready"
    container = {
        "name": "kserve-container",
        "image": values.image,
        "command": ["retrain", "serve"],
        # Inference only: a predictor pod runs no API, hooks, schedules or drift checks (those are Tekton's).
        "args": ["--models-only", "--registry", MODELS_DIR, "--host", "0.0.0.0", "--port", "8080"],  # noqa: S104
        "ports": [{"containerPort": 8080, "protocol": "TCP"}],
        "readinessProbe": {"httpGet": {"path": probe_path, "port": 8080}, "periodSeconds": 5},
        "livenessProbe": {"httpGet": {"path": "/v2/health/live", "port": 8080}, "periodSeconds": 10},
        "resources": _resources(model),
        "volumeMounts": [{"name": "model-storage", "mountPath": MODELS_DIR, "readOnly": True}],
    }
    claim = {"claimName": values.storage.model_storage.claim_name, "readOnly": True}
    return {"containers": [container], "volumes": [{"name": "model-storage", "persistentVolumeClaim": claim}]}


def build(values: SiteValues) -> list[Doc]:
    out: list[Doc] = []
    for model in values.models:
        kind = runtime_of(values, model)
        predictor: Doc = {"minReplicas": model.replicas.min, "maxReplicas": model.replicas.max}
        predictor.update(_sklearn(values, model) if kind == "sklearn" else _retrain(values, model))
        meta = metadata(
            model.service,
            values.ns,
            extra_labels={"retrain.dev/model": model.name, "retrain.dev/predictor": kind},
            annotations={"serving.kserve.io/deploymentMode": values.kserve.deployment_mode},
        )
        out.append(document(API, "InferenceService", meta, spec={"predictor": predictor}))
    return out
