"""Linear trend of short series (annual indicators), for which an SPC chart has too few points.

A regulator reading ten annual values asks "is it going up or down, beyond the year-to-year noise?". The least
squares slope with its t-test answers it honestly for short series, where control limits from a handful of
moving ranges would not.

References
----------
Draper, N. R. & Smith, H. (1998). Applied Regression Analysis, 3rd ed., chapter 1 (the slope, its standard
error and t-test with n - 2 degrees of freedom); the same figures as ``scipy.stats.linregress``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy import stats

from forewarn.stats.arrays import FloatArray


@dataclass(frozen=True)
class LinearTrend:
    """Per-series least-squares slope of value on time.

    Attributes
    ----------
    slope : ndarray (series,)
        Change per unit of time (per year when ``time`` is in years); NaN with fewer than ``min_points``.
    standard_error : ndarray (series,)
        Standard error of the slope from the residual variance (n - 2 degrees of freedom).
    p_value : ndarray (series,)
        Two-sided p-value of the t-test of no trend.
    n : ndarray of int (series,)
        Points used.
    """

    slope: FloatArray
    standard_error: FloatArray
    p_value: FloatArray
    n: NDArray[np.int64]


def linear_trend(values: ArrayLike, time: ArrayLike, *, min_points: int = 4) -> LinearTrend:
    """Least-squares slope, its standard error and p-value for every series of a panel at once.

    Parameters
    ----------
    values : array_like (series, time)
        Values, NaN where missing (those points are left out).
    time : array_like, same shape as ``values``
        Time of each point (e.g. years as decimals), NaN where missing.
    min_points : int
        Series with fewer points get NaN (at least 3, so the residual variance has a degree of freedom).

    Returns
    -------
    LinearTrend

    Examples
    --------
    The same slope, standard error and p-value as ``scipy.stats.linregress([0, 1, 2, 3, 4], [1, 2, 2, 4, 5])``:

    >>> trend = linear_trend([[1.0, 2.0, 2.0, 4.0, 5.0]], [[0.0, 1.0, 2.0, 3.0, 4.0]])
    >>> trend.slope, trend.standard_error, trend.p_value
    (array([1.]), array([0.163299]), array([0.008754]))
    """
    y = np.atleast_2d(np.asarray(values, dtype=np.float64))
    t = np.atleast_2d(np.asarray(time, dtype=np.float64))
    if y.shape != t.shape:
        raise ValueError(f"time must have the shape of values {y.shape}; got {t.shape}")
    if not isinstance(min_points, int) or min_points < 3:
        raise ValueError(f"min_points must be an integer >= 3; got {min_points!r}")
    use = np.isfinite(y) & np.isfinite(t)
    n = use.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        t_mean = np.where(use, t, 0.0).sum(axis=1) / n
        y_mean = np.where(use, y, 0.0).sum(axis=1) / n
        dt = np.where(use, t - t_mean[:, None], 0.0)
        dy = np.where(use, y - y_mean[:, None], 0.0)
        sxx = (dt * dt).sum(axis=1)
        slope = (dt * dy).sum(axis=1) / sxx
        residual = np.where(use, dy - slope[:, None] * dt, 0.0)
        df = n - 2
        sigma2 = (residual * residual).sum(axis=1) / df
        se = np.sqrt(sigma2 / sxx)
        statistic = slope / se
        p = 2.0 * stats.t.sf(np.abs(statistic), df)
    # A perfect line has no residual variance: its trend is certain.
    p = np.where((se == 0) & (slope != 0), 0.0, p)
    enough = (n >= min_points) & (sxx > 0)
    nan = np.nan
    return LinearTrend(
        slope=np.where(enough, slope, nan),
        standard_error=np.where(enough, se, nan),
        p_value=np.where(enough, p, nan),
        n=n.astype(np.int64),
    )


__all__ = ["LinearTrend", "linear_trend"]
