"""PSI and the KS lower bound on known distributions, against the reference summary the trainers store."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from retrain.drift.check import Thresholds, compare
from retrain.drift.measures import (
    binned,
    kolmogorov_pvalue,
    ks_statistic,
    psi,
    psi_band,
    psi_from_counts,
)
from retrain.training.reference import QUANTILE_LEVELS, distribution_reference, feature_reference

RNG = np.random.default_rng(7)


def _true_ks(a: np.ndarray, b: np.ndarray) -> float:
    """The exact two-sample KS statistic of two samples."""
    points = np.unique(np.concatenate([a, b]))
    fa = np.searchsorted(np.sort(a), points, side="right") / a.size
    fb = np.searchsorted(np.sort(b), points, side="right") / b.size
    return float(np.max(np.abs(fa - fb)))


def test_psi_of_known_histograms() -> None:
    assert psi_from_counts([50, 50], [50, 50]) == 0.0
    expected = (0.25 - 0.5) * math.log(0.25 / 0.5) + (0.75 - 0.5) * math.log(0.75 / 0.5)
    assert psi_from_counts([0.5, 0.5], [25, 75]) == pytest.approx(expected)
    # An empty live bin counts as the floor share, not as ln(0).
    assert math.isfinite(psi_from_counts([10, 10], [20, 0]))


@pytest.mark.parametrize(
    ("value", "band"),
    [(0.0, "stable"), (0.099, "stable"), (0.1, "moderate"), (0.249, "moderate"), (0.25, "significant")],
)
def test_psi_bands(value: float, band: str) -> None:
    assert psi_band(value) == band


def test_same_distribution_is_stable_and_shifted_is_not() -> None:
    reference = feature_reference(RNG.normal(0, 1, 20_000))
    same = RNG.normal(0, 1, 2_000)
    shifted = RNG.normal(1, 1, 2_000)
    assert psi(reference, same) < 0.1
    assert psi(reference, shifted) > 0.25
    d_same = ks_statistic(reference, QUANTILE_LEVELS, same)
    d_shift = ks_statistic(reference, QUANTILE_LEVELS, shifted)
    assert d_same < 0.05
    assert kolmogorov_pvalue(d_same, 20_000, 2_000) > 0.01
    # The true D of N(0,1) against N(1,1) is 2*Phi(0.5) - 1 = 0.383; the bound sits just below it.
    assert 0.3 < d_shift <= 0.4
    assert kolmogorov_pvalue(d_shift, 20_000, 2_000) < 1e-6


def test_values_beyond_the_training_range_land_in_the_outer_bins() -> None:
    reference = feature_reference(np.arange(100, dtype=np.float64))
    ref_counts, live = binned(reference, np.array([-50.0, 500.0, 500.0]))
    assert sum(live) == 3
    assert live[0] == 1 and live[-1] == 2
    assert sum(ref_counts) == 100


def test_a_constant_reference_gets_three_bins() -> None:
    reference = feature_reference(np.zeros(500))
    assert psi(reference, np.zeros(100)) == 0.0
    assert ks_statistic(reference, QUANTILE_LEVELS, np.zeros(100)) == 0.0
    assert psi(reference, np.ones(100)) > 5
    assert ks_statistic(reference, QUANTILE_LEVELS, np.ones(100)) == pytest.approx(1.0)
    assert ks_statistic(reference, QUANTILE_LEVELS, np.full(100, -1.0)) == pytest.approx(1.0)


def test_a_point_mass_does_not_look_like_drift() -> None:
    """70% zeros (as a `diff` feature of a quiet metric): interpolating the CDF between the stored knots
    would put the KS distance near 0.2 for identical distributions; the bound does not."""

    def draw(n: int) -> np.ndarray:
        return np.where(RNG.random(n) < 0.7, 0.0, RNG.exponential(1.0, n))

    reference = feature_reference(draw(10_000))
    live = draw(1_500)
    d = ks_statistic(reference, QUANTILE_LEVELS, live)
    assert d < 0.05
    assert psi(reference, live) < 0.1


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    kind=st.sampled_from(["normal", "integers", "mass", "lognormal"]),
    shift=st.floats(-2, 2),
    n=st.integers(20, 3000),
    m=st.integers(5, 800),
)
def test_the_ks_bound_never_exceeds_the_true_statistic(
    seed: int, kind: str, shift: float, n: int, m: int
) -> None:
    rng = np.random.default_rng(seed)

    def draw(size: int, offset: float) -> np.ndarray:
        if kind == "normal":
            return rng.normal(offset, 1, size)
        if kind == "integers":
            return rng.integers(0, 5, size).astype(np.float64) + round(offset)
        if kind == "mass":
            return np.where(rng.random(size) < 0.6, 0.0, rng.normal(offset, 1, size))
        return rng.lognormal(offset, 1, size) * 1e9  # large values: rounding to 8 digits matters

    train, live = draw(n, 0.0), draw(m, shift)
    bound = ks_statistic(feature_reference(train), QUANTILE_LEVELS, live)
    assert 0.0 <= bound <= _true_ks(train, live) + 1e-9


def test_kolmogorov_pvalue_matches_the_known_critical_value() -> None:
    # The 5% critical value of the Kolmogorov distribution is 1.358.
    n = m = 200_000
    ne = n * m / (n + m)
    assert kolmogorov_pvalue(1.358 / math.sqrt(ne), n, m) == pytest.approx(0.05, abs=0.002)
    assert kolmogorov_pvalue(0.0, n, m) == 1.0
    assert kolmogorov_pvalue(1.0, 10, 10) < 1e-3


def test_compare_scores_the_share_of_drifted_features() -> None:
    train = RNG.normal(0, 1, (5_000, 4))
    reference = distribution_reference(train, ["a", "b", "c", "d"])
    live = RNG.normal(0, 1, (1_000, 4))
    live[:, :3] += 2.0  # three of four features move
    features, score = compare(reference, live, ["a", "b", "c", "d"], Thresholds())
    assert [f.drifted for f in features] == [True, True, True, False]
    assert score == pytest.approx(0.75)
    assert features[0].band == "significant" and features[3].band == "stable"
    assert features[0].live_mean == pytest.approx(2.0, abs=0.15)
    # A feature the reference does not know is left out of the score.
    features, score = compare(reference, live, ["a", "b", "c", "x"], Thresholds())
    assert [f.feature for f in features] == ["a", "b", "c"]
    assert score == 1.0
