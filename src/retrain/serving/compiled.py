"""A fast predictor for a loaded scikit-learn model, used only where it gives scikit-learn's own answers.

`fast_predictor` turns the estimators we know (scalers, linear models, tree ensembles, isolation forests,
pipelines and multi-output wrappers of them) into plain numpy functions, then compares their answers with
the model's own `predict` on probe rows. Anything unknown, or any disagreement, keeps scikit-learn: the fast
path is an optimisation that can never change an answer. Only exact types are recognised (a subclass may
override `predict`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from retrain.serving import trees

log = logging.getLogger(__name__)

Floats = NDArray[np.float64]
Predict = Callable[[Floats], NDArray[Any]]
Transform = Callable[[Floats], Floats]

ENGINE_NUMPY = "numpy"
ENGINE_SKLEARN = "scikit-learn"

_LINEAR = frozenset(
    {
        "LinearRegression",
        "Ridge",
        "RidgeCV",
        "Lasso",
        "LassoCV",
        "ElasticNet",
        "ElasticNetCV",
        "HuberRegressor",
    }
)
_PROBE_ROWS = 96


class Unsupported(Exception):
    """The model has a part the fast path does not know; scikit-learn predicts it."""


@dataclass(frozen=True)
class Choice:
    """The predictor chosen for a model and why."""

    predict: Predict
    engine: str
    reason: str


# retrain's own estimator classes whose predict the fast path reproduces (checked like any other).
_OWN = frozenset({("retrain.training.estimators", "ResidualForecaster")})


def _kind(estimator: Any) -> str:
    cls = type(estimator)
    if (cls.__module__, cls.__name__) in _OWN:
        return cls.__name__
    if not cls.__module__.startswith("sklearn."):
        raise Unsupported(f"{cls.__module__}.{cls.__name__} is not a scikit-learn estimator")
    return cls.__name__


def _transform(step: Any) -> Transform:
    kind = _kind(step)
    if kind == "StandardScaler":
        mean = None if step.mean_ is None or not step.with_mean else np.asarray(step.mean_)
        scale = None if step.scale_ is None or not step.with_std else np.asarray(step.scale_)
        return lambda x: _shift_scale(x, mean, scale)
    if kind == "RobustScaler":
        center = np.asarray(step.center_) if step.with_centering else None
        scale = np.asarray(step.scale_) if step.with_scaling else None
        return lambda x: _shift_scale(x, center, scale)
    if kind == "MinMaxScaler":
        factor: Floats = np.asarray(step.scale_, dtype=np.float64)
        low: Floats = np.asarray(step.min_, dtype=np.float64)
        bounds = step.feature_range if step.clip else None

        def min_max(x: Floats) -> Floats:
            out = x * factor
            out += low
            if bounds is not None:
                np.clip(out, bounds[0], bounds[1], out=out)
            return out

        return min_max
    raise Unsupported(f"transformer {kind}")


def _inverse(step: Any) -> Transform:
    """`inverse_transform` of a fitted StandardScaler (multiply, then add, as scikit-learn does)."""
    if _kind(step) != "StandardScaler":
        raise Unsupported(f"inverse of {_kind(step)}")
    scale = np.asarray(step.scale_) if step.with_std and step.scale_ is not None else None
    mean = np.asarray(step.mean_) if step.with_mean and step.mean_ is not None else None

    def inverse(x: Floats) -> Floats:
        out = x * scale if scale is not None else x.copy()
        if mean is not None:
            out += mean
        return out

    return inverse


def _shift_scale(x: Floats, center: Floats | None, scale: Floats | None) -> Floats:
    # Same operations in the same order as the scalers' transform (subtract, then divide).
    out = x - center if center is not None else x
    return out / scale if scale is not None else out


def _predictor(model: Any) -> Predict:
    kind = _kind(model)
    if kind == "Pipeline":
        steps = [step for _, step in model.steps if step is not None and step != "passthrough"]
        if not steps:
            raise Unsupported("empty pipeline")
        transforms = [_transform(step) for step in steps[:-1]]
        final = _predictor(steps[-1])

        def pipeline(x: Floats) -> NDArray[Any]:
            for transform in transforms:
                x = transform(x)
            return final(x)

        return pipeline
    if kind == "IsolationForest":
        return trees.IsolationForestScorer.build(model)
    if kind in (
        "RandomForestRegressor",
        "ExtraTreesRegressor",
        "DecisionTreeRegressor",
        "ExtraTreeRegressor",
    ):
        return trees.ForestRegressor.build(model)
    if kind == "GradientBoostingRegressor":
        try:
            return trees.GradientBoostingRegressor.build(model)
        except TypeError as err:
            raise Unsupported(str(err)) from None
    if kind in _LINEAR:
        coef, intercept = np.asarray(model.coef_, dtype=np.float64), model.intercept_
        return lambda x: x @ coef.T + intercept
    if kind == "TransformedTargetRegressor":
        if model.func is not None or model.inverse_func is not None:
            raise Unsupported("TransformedTargetRegressor with functions")
        inner, inverse = _predictor(model.regressor_), _inverse(model.transformer_)
        squeeze = model._training_dim == 1

        def transformed(x: Floats) -> NDArray[Any]:
            predicted = inner(x)
            out = inverse(predicted.reshape(-1, 1) if predicted.ndim == 1 else predicted)
            return out[:, 0] if squeeze and out.ndim == 2 and out.shape[1] == 1 else out

        return transformed
    if kind == "ResidualForecaster":
        change = _predictor(model.estimator_)
        return lambda x: x + np.asarray(change(x), dtype=np.float64).reshape(x.shape)
    if kind == "MultiOutputRegressor":
        parts = [_predictor(estimator) for estimator in model.estimators_]
        return lambda x: np.asarray([part(x) for part in parts]).T
    raise Unsupported(f"estimator {kind}")


def sklearn_predict(model: Any) -> Predict:
    """The model's own `predict`, given column names when it was fitted on a named frame (no warning)."""
    names = getattr(model, "feature_names_in_", None)
    if names is None:
        return lambda x: np.asarray(model.predict(x))
    import pandas as pd  # lazy: only models fitted on data frames need it

    columns = list(names)
    return lambda x: np.asarray(model.predict(pd.DataFrame(x, columns=columns, copy=False)))


def probe_rows(model: Any, width: int, *, seed: int = 0) -> Floats:
    """Rows that exercise a model: around the first scaler's centre and spread when it has one."""
    rng = np.random.default_rng(seed)
    center, spread = np.zeros(width), np.ones(width)
    first = model.steps[0][1] if type(model).__name__ == "Pipeline" and model.steps else model
    for center_name, spread_name in (
        ("center_", "scale_"),
        ("mean_", "scale_"),
        ("data_min_", "data_range_"),
    ):
        c, s = getattr(first, center_name, None), getattr(first, spread_name, None)
        if c is not None and s is not None and np.shape(c) == (width,):
            center, spread = np.asarray(c, dtype=np.float64), np.abs(np.asarray(s, dtype=np.float64))
            break
    normal = center + spread * rng.standard_normal((_PROBE_ROWS, width))
    wide = center + 10 * spread * rng.standard_normal((_PROBE_ROWS // 4, width))
    return np.vstack([normal, wide, np.zeros((1, width)), center[None, :]])


def agree(ours: NDArray[Any], theirs: NDArray[Any]) -> str | None:
    """None when the answers are the same; else what differs."""
    if ours.shape != theirs.shape:
        return f"shape {ours.shape} != {theirs.shape}"
    if ours.dtype.kind in "fc" or theirs.dtype.kind in "fc":
        # Exact for our sequential sums; a tolerance of a few ulps covers sklearn run with several threads.
        if not np.allclose(ours, theirs, rtol=1e-12, atol=1e-12, equal_nan=True):
            worst = float(np.nanmax(np.abs(ours.astype(np.float64) - theirs.astype(np.float64))))
            return f"values differ by up to {worst:.3g}"
        return None
    return None if np.array_equal(ours, theirs) else "labels differ"


def fast_predictor(model: Any, width: int) -> Choice:
    """A predictor for rows of `width` float64 values: numpy where proven equal, else scikit-learn."""
    reference = sklearn_predict(model)
    try:
        candidate = _predictor(model)
    except Unsupported as why:
        return Choice(reference, ENGINE_SKLEARN, f"no fast path: {why}")
    except (AttributeError, TypeError, ValueError, IndexError) as err:
        return Choice(reference, ENGINE_SKLEARN, f"no fast path: {type(err).__name__}: {err}")
    rows = probe_rows(model, width)
    try:
        ours = np.asarray(candidate(rows))
    except (ValueError, TypeError, IndexError) as err:
        return Choice(reference, ENGINE_SKLEARN, f"fast path failed on probe rows: {err}")
    theirs = reference(rows)
    difference = agree(ours, theirs)
    if difference is not None:
        log.warning("fast path disagrees with scikit-learn (%s); using scikit-learn", difference)
        return Choice(reference, ENGINE_SKLEARN, f"fast path disagrees with scikit-learn: {difference}")
    return Choice(candidate, ENGINE_NUMPY, f"matches scikit-learn on {len(rows)} probe rows")
