"""Artefacts load where they are served: each built-in model's InferenceService names a runtime, and the
artefact its storageUri points at loads and predicts in that runtime.

KServe's stock scikit-learn runtime has scikit-learn, joblib and numpy, and no `retrain`. The test builds
that environment for real (a clean virtual environment, the versions of constraints.txt), trains both
built-in models with the real `retrain train`, promotes them, and unpickles `<registry>/<model>/model.pkl`
there (`python -I`, outside the repository, with `retrain` proven not importable), predicting on the
rows the version held out; the answers must equal the registry's own. The `retrain` predictor runs the
project's own loader (`retrain serve`'s), checked the same way. The XGBoost forecaster (the GPU plan) is
checked in an environment of scikit-learn, joblib, numpy and XGBoost only.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest

from retrain.cluster.manifests import kserve
from retrain.cluster.values import ModelValues, SiteValues
from retrain.data.contracts import ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS
from retrain.registry import NewVersionMetadata, Registry, load_model
from retrain.serving.loader import load_version
from retrain.training.heldout import held_out

REPO = Path(__file__).resolve().parents[2]
RUNTIMES = {
    "sklearn": ("scikit-learn", "joblib", "numpy"),
    "sklearn+xgboost": ("scikit-learn", "joblib", "numpy", "xgboost-cpu"),
}
# Run by the runtime's interpreter: no retrain, load the pickle with joblib (as KServe's sklearn server
# does), predict, and say which packages the model's classes came from.
CHILD = """
import importlib.util, json, sys
assert importlib.util.find_spec("retrain") is None, "retrain is importable in the runtime"
import joblib, numpy as np
model = joblib.load(sys.argv[1])
np.save(sys.argv[3], np.asarray(model.predict(np.load(sys.argv[2]))))
roots = sorted({m.split(".")[0] for m in sys.modules if m.split(".")[0] in ("retrain", "xgboost", "sklearn")})
print(json.dumps({"class": type(model).__module__ + "." + type(model).__name__, "packages": roots}))
"""


def _runtime(tmp_path_factory: pytest.TempPathFactory, name: str) -> Path:
    """The interpreter of a clean virtual environment holding only RUNTIMES[name] (and their deps)."""
    where = tmp_path_factory.mktemp(f"runtime-{name}")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "VIRTUAL_ENV"))}
    steps = [
        [sys.executable, "-m", "venv", str(where)],
        [str(where / "bin" / "python"), "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
         "--constraint", str(REPO / "constraints.txt"), *RUNTIMES[name]],
    ]  # fmt: skip
    for step in steps:
        done = subprocess.run(step, env=env, capture_output=True, text=True, timeout=400, check=False)
        if done.returncode != 0:
            pytest.skip(
                f"NOT TESTED: cannot build the {name} runtime environment ({' '.join(step[2:5])} exited "
                f"{done.returncode}): {done.stderr.strip()[-600:]}"
            )
    return where / "bin" / "python"


@pytest.fixture(scope="module")
def runtimes(tmp_path_factory: pytest.TempPathFactory) -> Callable[[str], Path]:
    made: dict[str, Path] = {}

    def get(name: str) -> Path:
        if name not in made:
            made[name] = _runtime(tmp_path_factory, name)
        return made[name]

    return get


def _retrain(*args: str, cwd: Path) -> None:
    env = {**os.environ, "RETRAIN_LOG_DIR": "", "RETRAIN_REGISTRY": ""}
    done = subprocess.run(
        [sys.executable, "-m", "retrain.cli.main", *args], cwd=cwd, env=env, capture_output=True, text=True,
        timeout=300, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Registry:
    """Both built-in models freshly trained by `retrain train` (synthetic data) and promoted."""
    root = tmp_path_factory.mktemp("registry")
    for model in (ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS):
        _retrain("train", model, "--registry", str(root), "--data-source", "synthetic", cwd=root)
    store = Registry(root)
    for model in (ANOMALY_DETECTOR, PREDICTIVE_ANALYTICS):
        store.promote(model, 1, reason="test")
    return store


def _served_file(registry: Registry, doc: dict[str, Any]) -> Path:
    """The file the InferenceService's runtime loads: its storageUri (sklearn), else the serving version."""
    model = str(doc["metadata"]["labels"]["retrain.dev/model"])
    spec = doc["spec"]["predictor"]
    if "model" in spec:
        uri = spec["model"]["storageUri"]
        assert uri == f"pvc://model-storage/{model}"
        return registry.root / model / "model.pkl"
    return registry.get(model).artefact


def _in_runtime(
    python: Path, artefact: Path, rows: np.ndarray, work: Path
) -> tuple[np.ndarray, dict[str, Any]]:
    np.save(work / "rows.npy", rows)
    done = subprocess.run(
        [str(python), "-I", "-c", CHILD, str(artefact), str(work / "rows.npy"), str(work / "answers.npy")],
        cwd=work, env={"PATH": os.environ.get("PATH", "")}, capture_output=True, text=True, timeout=120,
        check=False,
    )  # fmt: skip
    assert done.returncode == 0, f"the artefact does not load or predict in the runtime:\n{done.stderr}"
    report: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return np.load(work / "answers.npy"), report


def _same(ours: np.ndarray, theirs: np.ndarray) -> None:
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours.astype(np.float64), theirs.astype(np.float64), rtol=1e-12, atol=0)


def test_the_default_site_names_the_stock_runtime_for_cpu_models_and_retrain_for_gpu_ones() -> None:
    def runtimes_of(values: SiteValues) -> dict[str, str]:
        return {
            d["metadata"]["name"]: d["metadata"]["labels"]["retrain.dev/predictor"]
            for d in kserve.build(values)
        }

    site = SiteValues(namespace="ml")
    assert runtimes_of(site) == {ANOMALY_DETECTOR: "sklearn", PREDICTIVE_ANALYTICS: "retrain"}
    docs = {d["metadata"]["name"]: d["spec"]["predictor"] for d in kserve.build(site)}
    assert docs[ANOMALY_DETECTOR]["model"]["modelFormat"] == {"name": "sklearn"}
    assert docs[PREDICTIVE_ANALYTICS]["containers"][0]["command"] == ["retrain", "serve"]
    # The site's own choice wins: kserve.predictor when named, a model's predictor above that.
    named = SiteValues.model_validate({"namespace": "ml", "kserve": {"predictor": "sklearn"}})
    assert set(runtimes_of(named).values()) == {"sklearn"}
    mixed = SiteValues(
        namespace="ml",
        models=[
            ModelValues(name="a", gpu=True, predictor="sklearn"),
            ModelValues(name="b", predictor="retrain"),
        ],
    )
    assert runtimes_of(mixed) == {"a": "sklearn", "b": "retrain"}


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_each_default_site_artefact_loads_and_predicts_in_the_runtime_its_service_names(
    registry: Registry, runtimes: Callable[[str], Path], tmp_path: Path
) -> None:
    docs = kserve.build(SiteValues(namespace="ml"))
    assert len(docs) == 2
    for doc in docs:
        model = doc["metadata"]["labels"]["retrain.dev/model"]
        runtime = doc["metadata"]["labels"]["retrain.dev/predictor"]
        estimator, info = load_model(registry, model)
        rows = held_out(model, info.metadata).inputs
        assert len(rows) > 50
        expected = np.asarray(estimator.predict(rows))
        served = _served_file(registry, doc)
        if runtime == "retrain":
            # `retrain serve`'s own loader: digest-checked, probed, fast path proven equal.
            loaded = load_version(registry, model)
            _same(np.asarray(loaded.predict(rows)), expected)
        # Every built-in artefact is plain, so the stock runtime loads it too (the only one a sklearn
        # InferenceService has); a site may name `sklearn` for any CPU model.
        answers, report = _in_runtime(runtimes("sklearn"), served, rows, tmp_path)
        assert report["packages"] == ["sklearn"], report
        _same(answers, expected)
        if model == ANOMALY_DETECTOR:
            assert set(answers.tolist()) <= {1, -1} and (answers == -1).any()
        else:
            assert answers.shape == (len(rows), 5) and report["class"].endswith(".LinearRegression")


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_xgboost_forecaster_loads_with_only_sklearn_joblib_numpy_and_xgboost(
    registry: Registry, runtimes: Callable[[str], Path], tmp_path: Path
) -> None:
    """The GPU plan's artefact (XGBoost, trained on the CPU here) registered and served like the other."""
    from retrain.data import fetch
    from retrain.data.features import build_features
    from retrain.training import forecast
    from retrain.training.splits import holdout_split, run_ids

    cpu = registry.get(PREDICTIVE_ANALYTICS, 1).metadata
    window = held_out(PREDICTIVE_ANALYTICS, cpu)  # the same window; fit on what it did not hold out
    dataset = fetch(PREDICTIVE_ANALYTICS, "synthetic", 168, end=_end(cpu))
    features = build_features(PREDICTIVE_ANALYTICS, dataset.frame)
    assert features.targets is not None
    split = holdout_split(PREDICTIVE_ANALYTICS, run_ids(None, len(features.inputs)))
    x, y = features.matrix(), features.targets.to_numpy(dtype=np.float64)
    assert np.array_equal(x[split.test], window.inputs)
    model = forecast.fit_level_model(
        forecast.make_model("xgboost", device="cpu"), x[split.train], y[split.train]
    )
    joblib.dump(model, tmp_path / "model.pkl")
    meta = NewVersionMetadata(
        trainer=forecast.TRAINER_GPU,
        feature_contract=cpu["feature_contract"],
        data_source_requested="synthetic",
        training_hours=168,
    )
    version = registry.register(PREDICTIVE_ANALYTICS, tmp_path / "model.pkl", meta).version
    registry.promote(PREDICTIVE_ANALYTICS, version, reason="test")
    try:
        expected = np.asarray(load_model(registry, PREDICTIVE_ANALYTICS)[0].predict(window.inputs))
        _same(np.asarray(load_version(registry, PREDICTIVE_ANALYTICS).predict(window.inputs)), expected)
        served = registry.root / PREDICTIVE_ANALYTICS / "model.pkl"
        answers, report = _in_runtime(runtimes("sklearn+xgboost"), served, window.inputs, tmp_path)
        assert report["packages"] == ["sklearn", "xgboost"], report
        assert report["class"] == "sklearn.ensemble._stacking.StackingRegressor"
        _same(answers, expected)
    finally:
        registry.promote(PREDICTIVE_ANALYTICS, 1, reason="test: back to the CPU version")


def _end(metadata: Mapping[str, Any]) -> Any:
    from retrain.training.heldout import training_window

    end = training_window(metadata).end
    assert end is not None
    return end
