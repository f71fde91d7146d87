"""Tree ensembles as flat numpy arrays: every tree of a forest walked at once, one level per step.

scikit-learn predicts a single row of a 200-tree forest by calling each tree in turn from Python (through
joblib), which costs milliseconds. Here all trees live in one set of arrays and each step of the walk moves
every (row, tree) pair one level down with a handful of vectorised numpy operations, so a single row costs
tens of microseconds. The walk copies scikit-learn's rules exactly: inputs are rounded to float32 as its
trees do, `x <= threshold` goes left, NaN follows the node's recorded side, and the per-tree sums are added
in tree order (a cumulative sum is sequential, unlike numpy's pairwise `sum`), so answers match bit for bit.
`compiled.fast_predictor` still checks them against scikit-learn before they are used.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

Floats = NDArray[np.float64]


@dataclass(frozen=True)
class FlatForest:
    """The nodes of several trees in one array; leaves point to themselves so extra steps change nothing."""

    feature: NDArray[np.intp]
    threshold: Floats
    left: NDArray[np.intp]
    right: NDArray[np.intp]
    nan_left: NDArray[np.bool_]
    roots: NDArray[np.intp]
    depth: int
    has_nan_rule: bool

    @classmethod
    def build(
        cls,
        trees: Sequence[Any],
        *,
        features: Sequence[NDArray[np.intp] | None] | None = None,
        nan_rule: bool = True,
    ) -> FlatForest:
        """`trees`: fitted `sklearn.tree._tree.Tree` objects (`estimator.tree_`).

        `features[i]` maps tree i's feature numbers to input columns (bagging on a feature subset); `nan_rule`
        False for code paths of scikit-learn that send NaN right (gradient boosting's `predict_stages`).
        """
        parts: dict[str, list[Any]] = {k: [] for k in ("feature", "threshold", "left", "right", "nan")}
        roots: list[int] = []
        offset, depth = 0, 0
        for index, tree in enumerate(trees):
            count = int(tree.node_count)
            own = np.arange(offset, offset + count, dtype=np.intp)
            children_left = np.asarray(tree.children_left, dtype=np.intp)
            leaf = children_left < 0
            feature = np.asarray(tree.feature, dtype=np.intp).copy()
            mapping = features[index] if features is not None else None
            if mapping is not None:
                feature[~leaf] = np.asarray(mapping, dtype=np.intp)[feature[~leaf]]
            feature[leaf] = 0
            threshold = np.asarray(tree.threshold, dtype=np.float64).copy()
            threshold[leaf] = np.inf
            parts["feature"].append(feature)
            parts["threshold"].append(threshold)
            parts["left"].append(np.where(leaf, own, children_left + offset))
            parts["right"].append(
                np.where(leaf, own, np.asarray(tree.children_right, dtype=np.intp) + offset)
            )
            missing = getattr(tree, "missing_go_to_left", None)
            nan = np.zeros(count, dtype=bool) if missing is None or not nan_rule else np.asarray(missing) != 0
            parts["nan"].append(nan & ~leaf)
            roots.append(offset)
            offset += count
            depth = max(depth, int(tree.max_depth))
        nan_left = np.concatenate(parts["nan"])
        return cls(
            feature=np.concatenate(parts["feature"]),
            threshold=np.concatenate(parts["threshold"]),
            left=np.concatenate(parts["left"]),
            right=np.concatenate(parts["right"]),
            nan_left=nan_left,
            roots=np.asarray(roots, dtype=np.intp),
            depth=depth,
            has_nan_rule=bool(nan_left.any()),
        )

    def leaves(self, x: Floats) -> NDArray[np.intp]:
        """The leaf each row reaches in each tree: shape (rows, trees), as global node numbers."""
        # Trees compare float32 inputs with float64 thresholds; round once, compare in float64.
        rounded = np.ascontiguousarray(x, dtype=np.float32).astype(np.float64)
        rows, width = rounded.shape
        flat = rounded.ravel()
        base = (np.arange(rows, dtype=np.intp) * width)[:, None]
        node = np.broadcast_to(self.roots, (rows, self.roots.size)).copy()
        for _ in range(self.depth):
            value = flat[base + self.feature[node]]
            go_left = value <= self.threshold[node]
            if self.has_nan_rule:
                go_left |= np.isnan(value) & self.nan_left[node]
            node = np.where(go_left, self.left[node], self.right[node])
        return node


def ordered_sum(values: Floats, *, start: Floats | None = None) -> Floats:
    """Sum over axis 1 in index order (like scikit-learn's per-tree `+=` loop), optionally after `start`."""
    if start is not None:
        values = np.concatenate([start[:, None, ...], values], axis=1)
    result: Floats = np.cumsum(values, axis=1)[:, -1, ...]
    return result


@dataclass(frozen=True)
class IsolationForestScorer:
    """`IsolationForest.predict`: path lengths per leaf, summed in tree order, turned into +1/-1."""

    forest: FlatForest
    leaf_depth: Floats  # decision path length + average path length of the leaf's samples - 1
    denominator: float
    offset: float

    @classmethod
    def build(cls, model: Any) -> IsolationForestScorer:
        trees = [estimator.tree_ for estimator in model.estimators_]
        subsample = model._max_features != model.n_features_in_
        features = list(model.estimators_features_) if subsample else None
        forest = FlatForest.build(trees, features=features)
        depths = [
            np.asarray(path, dtype=np.float64) + np.asarray(average, dtype=np.float64) - 1.0
            for path, average in zip(
                model._decision_path_lengths, model._average_path_length_per_tree, strict=True
            )
        ]
        samples = float(model._max_samples)
        average_max = _average_path_length(samples)
        return cls(forest, np.concatenate(depths), len(trees) * average_max, float(model.offset_))

    def __call__(self, x: Floats) -> NDArray[np.int_]:
        depths = ordered_sum(self.leaf_depth[self.forest.leaves(x)])
        if self.denominator != 0:
            scores = 2 ** (-(depths / self.denominator))
        else:
            scores = 2 ** (-np.ones_like(depths))
        decision = -scores - self.offset
        labels = np.ones_like(decision, dtype=int)
        labels[decision < 0] = -1
        return labels


def _average_path_length(samples: float) -> float:
    # Average depth of an unsuccessful search in a binary search tree of `samples` keys (sklearn's formula).
    if samples <= 1:
        return 0.0
    if samples == 2:
        return 1.0
    return float(2.0 * (np.log(samples - 1.0) + np.euler_gamma) - 2.0 * (samples - 1.0) / samples)


@dataclass(frozen=True)
class ForestRegressor:
    """`RandomForestRegressor`/`ExtraTreesRegressor`/`DecisionTreeRegressor.predict`: the mean leaf value."""

    forest: FlatForest
    values: Floats  # (nodes, outputs)
    trees: int
    single_output: bool

    @classmethod
    def build(cls, model: Any) -> ForestRegressor:
        estimators = getattr(model, "estimators_", None) or [model]
        trees = [estimator.tree_ for estimator in estimators]
        values = np.concatenate([np.asarray(tree.value, dtype=np.float64)[:, :, 0] for tree in trees])
        return cls(FlatForest.build(trees), values, len(trees), int(model.n_outputs_) == 1)

    def __call__(self, x: Floats) -> Floats:
        total = ordered_sum(self.values[self.forest.leaves(x)])
        if self.trees > 1:
            total = total / self.trees
        return total[:, 0] if self.single_output else total


@dataclass(frozen=True)
class GradientBoostingRegressor:
    """`GradientBoostingRegressor.predict`: init constant plus learning-rate-scaled leaf values, in order."""

    forest: FlatForest
    scaled: Floats  # learning_rate * value, per node
    init: float

    @classmethod
    def build(cls, model: Any) -> GradientBoostingRegressor:
        init = model.init_
        if isinstance(init, str) and init == "zero":
            constant = 0.0
        elif type(init).__name__ == "DummyRegressor":
            constant = float(np.asarray(init.constant_, dtype=np.float64).ravel()[0])
        else:
            raise TypeError(f"init estimator {type(init).__name__} is not supported")
        trees = [stage[0].tree_ for stage in model.estimators_]
        rate = float(model.learning_rate)
        scaled = np.concatenate([rate * np.asarray(tree.value, dtype=np.float64).ravel() for tree in trees])
        return cls(FlatForest.build(trees, nan_rule=False), scaled, constant)

    def __call__(self, x: Floats) -> Floats:
        start = np.full(x.shape[0], self.init, dtype=np.float64)
        return ordered_sum(self.scaled[self.forest.leaves(x)], start=start)
