"""What ends up inside pickled model artefacts, and how the forecasters are made plain before they are stored.

The built-in artefacts hold only scikit-learn (and, for the GPU forecaster, XGBoost) classes, so KServe's
stock scikit-learn runtime, or any environment with scikit-learn, joblib and numpy, unpickles them without
the `retrain` package:
- `linear_level_model` folds the CPU forecaster (a ridge model of the standardised change over the horizon)
  into one `LinearRegression` of the level: level = x + W x + b = (I + W) x + b, the same 5-in/5-out
  answers up to float rounding;
- `stacked_level_model` wraps a fitted change model (the XGBoost one) as a `StackingRegressor` with
  `passthrough=True` whose final `LinearRegression` adds the change to the current values (coefficients
  [I | I], no intercept): bit for bit `x + change(x)`.

`ResidualForecaster` stays for the artefacts stored before that (pickles name classes by module path, so
this module and that class keep their names); no trainer stores it any more.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, RegressorMixin, clone  # type: ignore[import-untyped]


class ResidualForecaster(RegressorMixin, BaseEstimator):  # type: ignore[misc]
    """Forecast = current values + a learned change: `predict(X) = X + estimator.predict(X)`.

    The targets are the input metrics `horizon` ahead, in the same order, so the wrapped regressor learns
    the *change* over the horizon. Tree ensembles cannot extrapolate beyond the values seen in training;
    learning the change lets the forecast follow trends (a disk that keeps filling up) past the training
    range, and the "no change" forecast is exactly what the model falls back to where it knows nothing.
    """

    def __init__(self, estimator: Any = None) -> None:
        self.estimator = estimator

    def fit(self, X: Any, y: Any) -> ResidualForecaster:
        inputs, targets = check_change_data(X, y)
        self.estimator_ = clone(self.estimator)
        self.estimator_.fit(inputs, targets - inputs)
        self.n_features_in_ = inputs.shape[1]
        return self

    def predict(self, X: Any) -> np.ndarray:
        inputs = np.asarray(X, dtype=np.float64)
        if inputs.ndim != 2 or inputs.shape[1] != self.n_features_in_:
            raise ValueError(
                f"expected a 2-D array with {self.n_features_in_} columns, got shape {inputs.shape}"
            )
        change = np.asarray(self.estimator_.predict(inputs), dtype=np.float64).reshape(inputs.shape)
        return inputs + change


def check_change_data(X: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and targets as float64; refused unless the targets are the inputs a horizon ahead."""
    inputs = np.asarray(X, dtype=np.float64)
    targets = np.asarray(y, dtype=np.float64)
    if inputs.ndim != 2 or targets.shape != inputs.shape:
        raise ValueError(
            "a forecaster of the change needs targets of the inputs' shape, "
            f"got X {inputs.shape} and y {targets.shape}"
        )
    return inputs, targets


def linear_level_model(change: Any, width: int) -> Any:
    """A `LinearRegression` of the level, from a fitted `TransformedTargetRegressor(StandardScaler + linear
    model, StandardScaler)` of the change: z = (x - mu) / s, r = C z + c, change = r * sy + my."""
    from sklearn.linear_model import LinearRegression  # type: ignore[import-untyped]

    x_scaler, linear = (step for _, step in change.regressor_.steps)
    y_scaler = change.transformer_
    mu, s = _scaling(x_scaler, width)
    my, sy = _scaling(y_scaler, width)
    coef = np.asarray(linear.coef_, dtype=np.float64).reshape(width, width)
    intercept = np.broadcast_to(np.asarray(linear.intercept_, dtype=np.float64), (width,))
    weights = coef / s[None, :] * sy[:, None]  # change = weights @ x + bias
    bias = (intercept - coef @ (mu / s)) * sy + my
    level = LinearRegression()
    level.coef_ = np.eye(width) + weights
    level.intercept_ = bias
    level.n_features_in_ = width
    level.rank_, level.singular_ = width, np.ones(width)  # set by fit; nothing in predict reads them
    return level


def _scaling(scaler: Any, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(centre, scale) of a fitted StandardScaler, zeros/ones where it does not centre or scale."""
    if type(scaler).__name__ != "StandardScaler":
        raise TypeError(f"cannot fold a {type(scaler).__name__} into a linear model")
    mean = scaler.mean_ if scaler.with_mean and scaler.mean_ is not None else np.zeros(width)
    scale = scaler.scale_ if scaler.with_std and scaler.scale_ is not None else np.ones(width)
    return np.asarray(mean, dtype=np.float64), np.asarray(scale, dtype=np.float64)


def stacked_level_model(change: Any, width: int) -> Any:
    """A fitted `StackingRegressor(passthrough=True)` answering `x + change.predict(x)`: its meta-features
    are [change(x), x], and its final `LinearRegression` sums the two blocks (exact: weights 1 and 0)."""
    from sklearn.ensemble import StackingRegressor  # type: ignore[import-untyped]
    from sklearn.linear_model import LinearRegression
    from sklearn.utils import Bunch  # type: ignore[import-untyped]

    final = LinearRegression(fit_intercept=False)
    final.coef_ = np.hstack([np.eye(width), np.eye(width)])
    final.intercept_ = 0.0
    final.n_features_in_ = 2 * width
    final.rank_, final.singular_ = width, np.ones(width)
    stacked = StackingRegressor([("change", change)], final_estimator=clone(final), passthrough=True)
    # The attributes `fit` would set; fitting would re-learn the change by cross-validation instead.
    stacked.estimators_ = [change]
    stacked.named_estimators_ = Bunch(change=change)
    stacked.stack_method_ = ["predict"]
    stacked.final_estimator_ = final
    return stacked
