"""The numpy fast path gives scikit-learn's exact answers, or scikit-learn itself predicts."""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

from retrain.serving import compiled, trees


def sk(module: str) -> Any:
    return importlib.import_module(f"sklearn.{module}")


def data(width: int, outputs: int = 0, seed: int = 0) -> tuple[Any, Any]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(300, width)) * 3 + 1
    y = None if not outputs else x[:, :outputs] * 2 + rng.normal(size=(300, outputs)) * 0.1
    return x, (y if outputs != 1 or y is None else y[:, 0])


def pipeline(*steps: Any) -> Any:
    return sk("pipeline").make_pipeline(*steps)


CASES: dict[str, Callable[[], Any]] = {
    "robust+iforest": lambda: pipeline(
        sk("preprocessing").RobustScaler(), sk("ensemble").IsolationForest(n_estimators=30, random_state=1)
    ).fit(data(45)[0]),
    "iforest-feature-subsets": lambda: (
        sk("ensemble")
        .IsolationForest(n_estimators=20, max_features=0.5, contamination=0.1, random_state=2)
        .fit(data(12)[0])
    ),
    "standard+forest-5to5": lambda: pipeline(
        sk("preprocessing").StandardScaler(),
        sk("ensemble").RandomForestRegressor(n_estimators=8, random_state=3),
    ).fit(*data(5, 5)),
    "extra-trees-1-output": lambda: (
        sk("ensemble").ExtraTreesRegressor(n_estimators=6, random_state=4).fit(*data(5, 1))
    ),
    "single-tree": lambda: sk("tree").DecisionTreeRegressor(max_depth=5).fit(*data(5, 5)),
    "minmax-clip+boosting": lambda: pipeline(
        sk("preprocessing").MinMaxScaler(clip=True),
        sk("multioutput").MultiOutputRegressor(sk("ensemble").GradientBoostingRegressor(n_estimators=15)),
    ).fit(*data(5, 5)),
    "ridge-5to5": lambda: sk("linear_model").Ridge().fit(*data(5, 5)),
    "target-scaled-forest-1-output": lambda: (
        sk("compose")
        .TransformedTargetRegressor(
            regressor=sk("ensemble").ExtraTreesRegressor(n_estimators=5, random_state=5),
            transformer=sk("preprocessing").StandardScaler(),
        )
        .fit(*data(5, 1))
    ),
    "linear-1-output": lambda: sk("linear_model").LinearRegression().fit(*data(5, 1)),
}


@pytest.mark.parametrize("case", sorted(CASES))
def test_known_estimators_take_the_fast_path_with_identical_answers(case: str) -> None:
    model = CASES[case]()
    width = int(model.n_features_in_)
    choice = compiled.fast_predictor(model, width)
    assert choice.engine == compiled.ENGINE_NUMPY, choice.reason
    rows = np.random.default_rng(9).normal(size=(500, width)) * 5
    ours, theirs = choice.predict(rows), np.asarray(model.predict(rows))
    assert ours.dtype == theirs.dtype
    assert np.array_equal(ours, theirs)  # bit for bit, not approximately
    assert np.array_equal(choice.predict(rows[:1]), theirs[:1])


def test_the_stored_forecasters_take_the_fast_path_or_keep_scikit_learn() -> None:
    """What the trainer stores now: a LinearRegression of the level (fast path, bit for bit), or for the
    XGBoost model a StackingRegressor (scikit-learn predicts it; the fast path does not know it)."""
    forecast = importlib.import_module("retrain.training.forecast")
    x, y = data(5, 5)
    linear = forecast.fit_level_model(forecast.make_model("sklearn"), x, y)
    choice = compiled.fast_predictor(linear, 5)
    assert choice.engine == compiled.ENGINE_NUMPY, choice.reason
    rows = np.random.default_rng(4).normal(size=(300, 5)) * 3
    assert np.array_equal(choice.predict(rows), linear.predict(rows))
    stacked = forecast.fit_level_model(forecast.make_model("xgboost", device="cpu"), x, y)
    choice = compiled.fast_predictor(stacked, 5)
    assert choice.engine == compiled.ENGINE_SKLEARN and "StackingRegressor" in choice.reason
    assert np.array_equal(choice.predict(rows), stacked.predict(rows))


def test_the_builtin_forecasters_residual_wrapper_takes_the_fast_path() -> None:
    """Forecasters stored before the plain artefacts: Residual(TransformedTargetRegressor(ExtraTrees,
    StandardScaler)); `retrain serve` still loads and fast-paths them."""
    estimators = importlib.import_module("retrain.training.estimators")
    x, y = data(5, 5)
    inner = sk("compose").TransformedTargetRegressor(
        regressor=sk("ensemble").ExtraTreesRegressor(
            n_estimators=12, min_samples_leaf=5, n_jobs=-1, random_state=0
        ),
        transformer=sk("preprocessing").StandardScaler(),
    )
    model = estimators.ResidualForecaster(inner).fit(x, y)
    choice = compiled.fast_predictor(model, 5)
    assert choice.engine == compiled.ENGINE_NUMPY, choice.reason
    rows = np.random.default_rng(4).normal(size=(300, 5)) * 3
    # n_jobs=-1: scikit-learn adds the trees in thread-completion order, so only the last bit may differ.
    np.testing.assert_allclose(choice.predict(rows), model.predict(rows), rtol=1e-12, atol=1e-12)


def test_unknown_estimators_and_subclasses_keep_scikit_learn() -> None:
    knn = sk("neighbors").KNeighborsRegressor(n_neighbors=3).fit(*data(5, 5))
    choice = compiled.fast_predictor(knn, 5)
    assert choice.engine == compiled.ENGINE_SKLEARN
    assert "KNeighborsRegressor" in choice.reason

    class MyRidge(sk("linear_model").Ridge):  # type: ignore[misc]
        def predict(self, x: Any) -> Any:
            return super().predict(x) + 1.0

    custom = MyRidge().fit(*data(5, 5))
    rows = np.ones((2, 5))
    choice = compiled.fast_predictor(custom, 5)
    assert choice.engine == compiled.ENGINE_SKLEARN
    assert np.array_equal(choice.predict(rows), custom.predict(rows))


def test_a_disagreement_falls_back_to_scikit_learn(monkeypatch: pytest.MonkeyPatch) -> None:
    model = CASES["standard+forest-5to5"]()
    original = trees.ForestRegressor.__call__
    monkeypatch.setattr(trees.ForestRegressor, "__call__", lambda self, x: original(self, x) + 1e-6)
    choice = compiled.fast_predictor(model, 5)
    assert choice.engine == compiled.ENGINE_SKLEARN
    assert "disagrees" in choice.reason


def test_a_model_fitted_on_a_named_frame_is_given_its_column_names() -> None:
    pandas = importlib.import_module("pandas")
    x, y = data(5, 5)
    frame = pandas.DataFrame(x, columns=["cpu", "mem", "disk", "net_in", "net_out"])
    model = sk("neighbors").KNeighborsRegressor().fit(frame, y)
    predict = compiled.sklearn_predict(model)
    # filterwarnings=error: predicting on a bare array would raise "X does not have valid feature names".
    assert np.array_equal(predict(x[:3]), model.predict(frame.iloc[:3]))
