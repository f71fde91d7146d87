"""Like periods and effective sample sizes: what makes a drift check fair to an autocorrelated time series.

**Like periods.** The load follows the day and the week, so a Sunday's inputs differ from a whole week's
even when nothing changed (a 24 h window against a 168 h reference scored 1.00 on the forecaster). The
reference records each feature's counts per period (weekday/weekend x hour of the day, see
`retrain.training.reference.periods_of`); `like_periods` builds the distribution the live window should
have: the reference's shares in each period, weighted by how many live rows fall in that period. Live rows
in a period the training rows never covered (a weekend after a model trained on a Tuesday) are compared
with the whole reference, and the check says so: the model has not seen such a period, which is worth
knowing, and a shift there is still found.

The mixture of thin periods is itself a small sample: its effective size (see `like_periods`) is what the
tests below use for the reference side.

**Effective sample size.** Rows a minute apart are nearly the same draw. Tests that treat them as
independent call every wobble significant at thousands of rows. `effective_size` (AR(1): n (1-r)/(1+r))
is used for the KS p-value and for PSI's sampling band: under no drift PSI is about chi-square with
(bins - 1) degrees of freedom times (1/n + 1/m) (Yurdakul 2018), so with few effective rows a PSI above the
usual 0.25 is still noise. A feature drifts on PSI only above max(`psi`, that band's 99th percentile).
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from retrain.training.reference import FeatureReference


def like_periods(reference: FeatureReference, live: np.ndarray) -> tuple[FeatureReference, float, float]:
    """The reference as the live rows' periods would see it, the share of live rows whose period the
    reference lacks (compared with the whole reference), and the mixture's effective size.

    The mixture's bin shares are a weighted sum of the periods' (weights w = the live rows' shares), so
    their sampling variance is sum(w^2 / m_period): a period with few training rows makes them noisy. The
    effective size returned is 1 / that sum, with each period's rows discounted by the reference's own
    effective/actual ratio. Without periods: the reference, 0.0 and its effective count."""
    rows = int(reference["count"])
    ratio = float(reference.get("effective_count", rows)) / rows if rows else 1.0
    by_period: Mapping[str, list[int]] | None = reference.get("periods")
    if not by_period or live.size == 0:
        return reference, 0.0, rows * ratio
    total = np.asarray(reference["counts"], dtype=np.float64)
    whole = total / total.sum() if total.sum() > 0 else total
    expected = np.zeros_like(whole)
    missing = 0
    variance = 0.0
    labels, counts = np.unique(live, return_counts=True)
    for label, count in zip(labels.tolist(), counts.tolist(), strict=True):
        part = np.asarray(by_period.get(str(label)) or [], dtype=np.float64)
        weight = count / live.size
        if part.size != whole.size or part.sum() <= 0:
            missing += count
            expected += count * whole
            variance += weight**2 / max(rows * ratio, 1.0)
        else:
            expected += count * part / part.sum()
            variance += weight**2 / max(part.sum() * ratio, 1.0)
    shares = expected / live.size
    mixed: FeatureReference = {
        **reference,
        # Counts in the same bins with the reference's size, so PSI and the KS bounds read them as before.
        "counts": np.round(shares * rows).astype(int).tolist(),
        "quantiles": [],  # the reference's quantiles describe all periods; the bin edges are exact
    }
    mixed["count"] = int(sum(mixed["counts"]))
    return mixed, missing / live.size, 1.0 / variance


def psi_limit(bins: int, live_effective: float, reference_effective: float, floor: float) -> float:
    """The PSI a feature must reach to drift: `floor`, or the 99th percentile of PSI under no drift with
    these effective sizes when that is higher (short or strongly autocorrelated windows)."""
    from scipy.stats import chi2  # type: ignore[import-untyped]

    if bins < 2 or live_effective <= 0 or reference_effective <= 0:
        return floor
    band = float(chi2.ppf(0.99, bins - 1)) * (1 / live_effective + 1 / reference_effective)
    return max(floor, band)
