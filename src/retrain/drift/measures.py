"""Drift measures of one feature against its stored training reference (pure numpy).

The reference (`retrain.training.reference.FeatureReference`) is a summary, not the training rows: a
histogram whose bins are the training deciles, plus the values at a few quantile levels. Both measures
work from that summary alone.

- **PSI** (population stability index): the live values are counted in the reference's bins, with the
  outer bins open-ended (a value beyond the training range counts in the first or last bin), and
  `PSI = sum((live - ref) * ln(live / ref))` over the bins' shares, a share of 0 raised to `SHARE_FLOOR`.
  The usual bands: < 0.1 stable, 0.1-0.25 moderate, >= 0.25 significant. A constant reference (one bin
  `[v, v]`) gets three bins: below v, v, above v.
- **KS** (two-sample Kolmogorov-Smirnov): the reference's distribution function is known only at its bin
  edges (exactly: the share of training rows below each edge) and at its quantiles (to within one row).
  Between them it is only bounded, so the statistic reported is the *smallest* sup-distance between the
  live empirical distribution and any distribution consistent with the reference: a lower bound of the
  true D. Its p-value (asymptotic Kolmogorov distribution with the effective size n*m/(n+m), Stephens'
  correction) is therefore an upper bound: the test never calls a feature drifted because of how the
  reference was summarised, at the cost of missing shifts smaller than the summary's resolution (PSI
  covers those). Interpolating a CDF between the knots instead rejected same-distribution data in trials
  (point masses such as the many zeros of `*_diff` features).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Literal

import numpy as np

from retrain.training.reference import FeatureReference

PSI_MODERATE = 0.1
PSI_SIGNIFICANT = 0.25
SHARE_FLOOR = 1e-4  # ln(0) guard: shares below it count as this (a common choice; bounds one bin's PSI)

Band = Literal["stable", "moderate", "significant"]


def psi_band(value: float, moderate: float = PSI_MODERATE, significant: float = PSI_SIGNIFICANT) -> Band:
    if value >= significant:
        return "significant"
    return "moderate" if value >= moderate else "stable"


def psi_from_counts(reference: Sequence[float], live: Sequence[float]) -> float:
    """PSI of two histograms over the same bins (counts or shares; each is normalised)."""
    ref = np.asarray(reference, dtype=np.float64)
    cur = np.asarray(live, dtype=np.float64)
    if ref.shape != cur.shape or ref.size == 0:
        raise ValueError(f"histograms of different shapes: {ref.shape} and {cur.shape}")
    if ref.sum() <= 0 or cur.sum() <= 0:
        return 0.0
    p = np.maximum(ref / ref.sum(), SHARE_FLOOR)
    q = np.maximum(cur / cur.sum(), SHARE_FLOOR)
    return float(np.sum((q - p) * np.log(q / p)))


def binned(reference: FeatureReference, values: np.ndarray) -> tuple[list[int], list[int]]:
    """The reference's counts and the live counts in the same bins (outer bins open-ended)."""
    edges = np.asarray(reference["bin_edges"], dtype=np.float64)
    counts = list(reference["counts"])
    if len(counts) == 1 and edges[0] == edges[-1]:  # a constant feature: below, equal, above
        v = edges[0]
        live = [int(np.sum(values < v)), int(np.sum(values == v)), int(np.sum(values > v))]
        return [0, counts[0], 0], live
    # np.histogram's bins are [e_i, e_i+1) and the last is closed: inner edges decide, outer ones are open.
    index = np.searchsorted(edges[1:-1], values, side="right")
    live = np.bincount(index, minlength=len(counts)).astype(int).tolist()
    return counts, live


def psi(reference: FeatureReference, values: np.ndarray) -> float:
    if reference["count"] == 0 or values.size == 0:
        return 0.0
    ref, live = binned(reference, values)
    return psi_from_counts(ref, live)


Knots = tuple[np.ndarray, np.ndarray]


def _knots(reference: FeatureReference, levels: Sequence[float]) -> tuple[Knots, Knots]:
    """Bounds on the reference CDF F: lower knots (x, a) say F(x) >= a; upper knots (x, b) say F(x-) <= b."""
    n = reference["count"]
    edges, counts = reference["bin_edges"], reference["counts"]
    # Exact: the share of rows below each edge (the bins are [e_i, e_i+1)); every row is <= the last edge.
    below = (np.concatenate([[0], np.cumsum(counts)]) / n).tolist()
    lo_x, lo_v = [*edges], [*below[:-1], 1.0]
    hi_x, hi_v = [*edges[:-1]], below[:-1]
    # numpy's linear quantile at level p lies between the order statistics k and k+1 (k = floor((n-1)p)):
    # at least k+1 rows are <= it and at most k+1 below it. It was rounded to 8 significant digits, so the
    # bounds hold a little beyond it (and one row of slack each way).
    for level, value in zip(levels, reference["quantiles"], strict=False):
        k = math.floor((n - 1) * level)
        tol = abs(value) * 1e-7 + 1e-300
        lo_x.append(value + tol)
        lo_v.append(max(0.0, k / n))
        hi_x.append(value - tol)
        hi_v.append(min(1.0, (k + 2) / n))

    def sort(xs: list[float], vs: list[float]) -> Knots:
        order = np.argsort(np.asarray(xs), kind="stable")
        return np.asarray(xs, dtype=np.float64)[order], np.asarray(vs, dtype=np.float64)[order]

    return sort(lo_x, lo_v), sort(hi_x, hi_v)


def _bounds(
    points: np.ndarray, lower: Knots, upper: Knots, side: Literal["left", "right"]
) -> tuple[np.ndarray, np.ndarray]:
    """At each point, the bounds of F(p) (side "right") or F(p-) (side "left") that the knots imply."""
    lx, lv = lower
    ux, uv = upper
    lo_max = np.maximum.accumulate(lv)
    hi_min = np.minimum.accumulate(uv[::-1])[::-1] if uv.size else uv
    # F(p) >= a for lower knots x <= p; F(p-) >= a for x < p.
    n_lo = np.searchsorted(lx, points, side="right" if side == "right" else "left")
    f_lo = np.where(n_lo > 0, lo_max[np.maximum(n_lo - 1, 0)], 0.0)
    # F(p) <= b for upper knots x > p; F(p-) <= b for x >= p.
    first_hi = np.searchsorted(ux, points, side="right" if side == "right" else "left")
    if uv.size:
        f_hi = np.where(first_hi < ux.size, hi_min[np.minimum(first_hi, ux.size - 1)], 1.0)
    else:
        f_hi = np.ones_like(points)
    return f_lo, f_hi


def ks_statistic(reference: FeatureReference, levels: Sequence[float], values: np.ndarray) -> float:
    """The smallest KS distance between `values` and any distribution consistent with the reference."""
    if reference["count"] == 0 or values.size == 0 or not reference["bin_edges"]:
        return 0.0
    lower, upper = _knots(reference, levels)
    live = np.sort(values)
    points = np.unique(np.concatenate([live, lower[0], upper[0]]))
    worst = 0.0
    for side in ("right", "left"):
        f_lo, f_hi = _bounds(points, lower, upper, side)
        f_live = np.searchsorted(live, points, side=side) / live.size
        worst = max(worst, float(np.max(np.maximum(f_live - f_hi, f_lo - f_live))))
    return max(0.0, worst)


def kolmogorov_pvalue(statistic: float, n: int, m: int) -> float:
    """P(D >= statistic) for two samples of sizes n and m (asymptotic, Stephens' small-sample correction)."""
    if statistic <= 0 or n <= 0 or m <= 0:
        return 1.0
    ne = n * m / (n + m)
    lam = (math.sqrt(ne) + 0.12 + 0.11 / math.sqrt(ne)) * statistic
    if lam < 0.2:
        return 1.0
    total = 0.0
    for k in range(1, 101):
        term = 2 * (-1) ** (k - 1) * math.exp(-2 * k * k * lam * lam)
        total += term
        if abs(term) < 1e-12:
            break
    return float(min(1.0, max(0.0, total)))
