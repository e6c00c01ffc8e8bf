"""Confidence intervals of one organisation's level over a window, vectorised: exact binomial (Clopper-Pearson)
for proportions, exact Poisson (Garwood) for counts over a denominator or an expected count, and normal for
estimates published with a standard error.

References
----------
Clopper CJ, Pearson ES (1934). The use of confidence or fiducial limits illustrated in the case of the binomial.
Biometrika 26:404-413. Garwood F (1936). Fiducial limits for the Poisson distribution. Biometrika 28:437-442.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import FloatArray


@dataclass(frozen=True)
class Interval:
    estimate: FloatArray
    lower: FloatArray
    upper: FloatArray


def _alpha(coverage: float) -> float:
    if not 0 < coverage < 100:
        raise ValueError(f"coverage must be a percentage in (0, 100), got {coverage!r}")
    return 1.0 - coverage / 100.0


def proportion_interval(events: ArrayLike, trials: ArrayLike, coverage: float = 95.0) -> Interval:
    """Clopper-Pearson interval of events / trials (NaN where trials <= 0).

    >>> ci = proportion_interval([0, 5], [10, 10])
    >>> ci.upper.round(4).tolist(), ci.lower.round(4).tolist()
    ([0.3085, 0.8129], [0.0, 0.1871])
    """
    x = np.asarray(events, dtype=np.float64)
    n = np.asarray(trials, dtype=np.float64)
    a = _alpha(coverage)
    ok = (n > 0) & (x >= 0) & (x <= n)
    with np.errstate(invalid="ignore", divide="ignore"):
        est = np.where(ok, x / np.where(ok, n, 1.0), np.nan)
        lower = np.where(x > 0, special.betaincinv(np.maximum(x, 1e-300), n - x + 1.0, a / 2.0), 0.0)
        upper = np.where(x < n, special.betaincinv(x + 1.0, np.maximum(n - x, 1e-300), 1.0 - a / 2.0), 1.0)
    return Interval(est, np.where(ok, lower, np.nan), np.where(ok, upper, np.nan))


def poisson_ratio_interval(
    events: ArrayLike, denominator: ArrayLike, coverage: float = 95.0, multiplier: float = 1.0
) -> Interval:
    """Exact Poisson interval of events / denominator x multiplier (an O/E ratio, or a rate).

    >>> ci = poisson_ratio_interval([0, 10], [1.0, 10.0])
    >>> ci.upper.round(4).tolist(), ci.lower.round(4).tolist()
    ([3.6889, 1.839], [0.0, 0.4795])
    """
    x = np.asarray(events, dtype=np.float64)
    d = np.asarray(denominator, dtype=np.float64)
    a = _alpha(coverage)
    ok = (d > 0) & (x >= 0) & np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        safe = np.where(ok, d, 1.0)
        lower = np.where(x > 0, special.gammaincinv(np.maximum(x, 1e-300), a / 2.0), 0.0) / safe
        upper = special.gammaincinv(x + 1.0, 1.0 - a / 2.0) / safe
        est = x / safe
    return Interval(
        np.where(ok, est * multiplier, np.nan),
        np.where(ok, lower * multiplier, np.nan),
        np.where(ok, upper * multiplier, np.nan),
    )


def normal_interval(estimate: ArrayLike, standard_error: ArrayLike, coverage: float = 95.0) -> Interval:
    """estimate +- z standard_error.

    >>> normal_interval([10.0], [1.0]).upper.round(3).tolist()
    [11.96]
    """
    y = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(standard_error, dtype=np.float64)
    z = float(special.ndtri(1.0 - _alpha(coverage) / 2.0))
    ok = np.isfinite(y) & np.isfinite(se) & (se > 0)
    return Interval(
        np.where(ok, y, np.nan), np.where(ok, y - z * se, np.nan), np.where(ok, y + z * se, np.nan)
    )


__all__ = ["Interval", "normal_interval", "poisson_ratio_interval", "proportion_interval"]
