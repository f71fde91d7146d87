"""Estimator classes that end up inside pickled model artefacts.

Pickles name their classes by module path, so this module is small and stable: moving or renaming
`ResidualForecaster` would make every stored forecaster unloadable.
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
        inputs = np.asarray(X, dtype=np.float64)
        targets = np.asarray(y, dtype=np.float64)
        if inputs.ndim != 2 or targets.shape != inputs.shape:
            raise ValueError(
                "ResidualForecaster needs targets of the inputs' shape, "
                f"got X {inputs.shape} and y {targets.shape}"
            )
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
