"""Centre lines and sigma of each qicharts2-style chart kind, over a block of chart segments (qicharts2 0.8.1).

I charts take sigma from the mean moving range / 1.128, screened as Nelson (1982, J Quality Technology 14:172)
suggests; C, U and P charts from the Poisson and binomial variances at the pooled centre; Laney's U' and P'
multiply those by sigma_z, the mean moving range of the z-scores / 1.128 (Laney 2002, Quality Engineering
14:531); Xbar and S charts use the pooled or mean subgroup SD and the bias constant c4 (Montgomery, *Introduction
to Statistical Quality Control*, 7th ed., 2013, ch. 6 and Appendix VI). The panel computation
(:mod:`forewarn.stats.spc_attribute_chart`) picks an estimator from ``_LIMITS`` by chart kind.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.special import gammaln

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.spc_attribute_types import D2_FOR_TWO, ChartKind, ControlChartOptions
from forewarn.stats.spc_types import MR_SCREEN_FACTOR


@dataclass(frozen=True)
class _Limits:
    """Centre per segment and sigma per point of a block (segment panel)."""

    centre: FloatArray
    sigma: FloatArray
    lower_floor: float | None
    upper_ceiling: float | None


# ------------------------------------------------------------------------------------------------------------
# Constants for subgroup charts
# ------------------------------------------------------------------------------------------------------------
def c4(n: ArrayLike) -> FloatArray:
    """Bias constant c4(n) of the sample standard deviation (NaN for n <= 1).

    Parameters
    ----------
    n
        Subgroup sizes.

    Returns
    -------
    ndarray of float64
        :math:`c_4(n) = \\sqrt{2/(n-1)}\\,\\Gamma(n/2) / \\Gamma((n-1)/2)`.

    Notes
    -----
    :math:`E[s] = c_4 \\sigma` for normal data.

    References
    ----------
    D. C. Montgomery, *Introduction to Statistical Quality Control* (7th ed., 2013), Appendix VI; qicharts2
    0.8.1, ``c4``.

    Examples
    --------
    R: ``sqrt(2 / 4) * exp(lgamma(5 / 2) - lgamma(4 / 2))`` (qicharts2:::c4(5)) is 0.9400.

    >>> round(float(c4(5)), 4)
    0.94
    """
    size = np.asarray(n, dtype=np.float64)
    size = np.where(size > 1, size, np.nan)
    out: FloatArray = np.sqrt(2 / (size - 1)) * np.exp(gammaln(size / 2) - gammaln((size - 1) / 2))
    return out


# ------------------------------------------------------------------------------------------------------------
# Sigma estimators per chart kind (each works on a block of the segment panel)
# ------------------------------------------------------------------------------------------------------------
def _baseline_mask(length: IntArray, width: int, freeze: int | None) -> tuple[BoolArray, IntArray]:
    n_base = length if freeze is None else np.minimum(length, freeze)
    mask: BoolArray = np.arange(width)[None, :] < n_base[:, None]
    return mask, n_base


def _mean_moving_range(values: FloatArray, n_base: IntArray, screen: bool) -> FloatArray:
    """Mean moving range of the first n_base points of each row, screened (Nelson 1982) if asked."""
    moving_range = np.abs(np.diff(values, axis=1))
    in_base = np.arange(values.shape[1] - 1)[None, :] < (n_base - 1)[:, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_mr = np.where(in_base, moving_range, 0.0).sum(axis=1) / (n_base - 1)
        if screen:
            kept = in_base & (moving_range < MR_SCREEN_FACTOR * mean_mr[:, None])
            n_kept = kept.sum(axis=1)
            screened = np.where(kept, moving_range, 0.0).sum(axis=1) / n_kept
            # all moving ranges screened out happens only when all are 0: keep 0 rather than NaN limits
            mean_mr = np.where(n_kept > 0, screened, mean_mr)
    out: FloatArray = mean_mr
    return out


def _ratio_centre(numerator: FloatArray, denominator: FloatArray, in_base: BoolArray) -> FloatArray:
    centre: FloatArray = np.where(in_base, numerator, 0.0).sum(axis=1) / np.where(
        in_base, denominator, 0.0
    ).sum(axis=1)
    return centre


def _laney_factor(
    y: FloatArray, centre: FloatArray, sigma: FloatArray, n_base: IntArray, screen: bool
) -> FloatArray:
    """Laney's sigma_z: the mean moving range of the z-scores / 1.128."""
    z = (y - centre[:, None]) / sigma
    factor: FloatArray = _mean_moving_range(z, n_base, screen) / D2_FOR_TWO
    return factor


def _i_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    y = inputs["y"]
    in_base, n_base = _baseline_mask(length, y.shape[1], options.freeze)
    centre = np.where(in_base, y, 0.0).sum(axis=1) / n_base
    # qicharts2 takes moving ranges of y - CL, which are those of y up to rounding
    sigma = _mean_moving_range(y - centre[:, None], n_base, options.screen_moving_ranges) / D2_FOR_TWO
    return _Limits(centre, np.broadcast_to(sigma[:, None], y.shape), None, None)


def _c_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    y = inputs["y"]
    in_base, n_base = _baseline_mask(length, y.shape[1], options.freeze)
    centre = np.where(in_base, y, 0.0).sum(axis=1) / n_base
    return _Limits(centre, np.broadcast_to(np.sqrt(centre)[:, None], y.shape), 0.0, None)


def _u_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    counts, size = inputs["counts"], inputs["size"]
    in_base, _ = _baseline_mask(length, counts.shape[1], options.freeze)
    centre = _ratio_centre(counts, size, in_base)
    return _Limits(centre, np.sqrt(centre[:, None] / size), 0.0, None)


def _uprime_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    base = _u_limits(inputs, length, options)
    _, n_base = _baseline_mask(length, base.sigma.shape[1], options.freeze)
    factor = _laney_factor(inputs["y"], base.centre, base.sigma, n_base, options.screen_moving_ranges)
    return _Limits(base.centre, base.sigma * factor[:, None], 0.0, None)


def _p_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    counts, size = inputs["counts"], inputs["size"]
    in_base, _ = _baseline_mask(length, counts.shape[1], options.freeze)
    centre = _ratio_centre(counts, size, in_base)
    return _Limits(centre, np.sqrt(centre[:, None] * (1 - centre[:, None]) / size), 0.0, 1.0)


def _pprime_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    base = _p_limits(inputs, length, options)
    _, n_base = _baseline_mask(length, base.sigma.shape[1], options.freeze)
    factor = _laney_factor(inputs["y"], base.centre, base.sigma, n_base, options.screen_moving_ranges)
    return _Limits(base.centre, base.sigma * factor[:, None], 0.0, 1.0)


def _pooled_sd(sd: FloatArray, size: FloatArray, length: IntArray, in_base: BoolArray) -> FloatArray:
    """Pooled SD (Montgomery 6.31) when subgroup sizes vary within a segment, else the mean SD (6.29)."""
    valid = np.arange(sd.shape[1])[None, :] < length[:, None]
    varies = np.where(valid, size, -np.inf).max(axis=1) != np.where(valid, size, np.inf).min(axis=1)
    pooled = np.sqrt(
        np.where(in_base, (size - 1) * sd**2, 0.0).sum(axis=1) / np.where(in_base, size - 1, 0.0).sum(axis=1)
    )
    mean_sd = np.where(in_base, sd, 0.0).sum(axis=1) / in_base.sum(axis=1)
    out: FloatArray = np.where(varies, pooled, mean_sd)
    return out


def _xbar_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    mean, sd, size = inputs["y"], inputs["sd"], inputs["size"]
    in_base, _ = _baseline_mask(length, mean.shape[1], options.freeze)
    centre = _ratio_centre(size * mean, size, in_base)
    sigma_within = _pooled_sd(sd, size, length, in_base)
    # sigma of a subgroup mean: s / (c4 sqrt(n)), so 3 sigma = A3 s
    return _Limits(centre, sigma_within[:, None] / (c4(size) * np.sqrt(size)), None, None)


def _s_limits(inputs: dict[str, FloatArray], length: IntArray, options: ControlChartOptions) -> _Limits:
    sd, size = inputs["y"], inputs["size"]
    in_base, _ = _baseline_mask(length, sd.shape[1], options.freeze)
    centre = _pooled_sd(sd, size, length, in_base)
    c4_n = c4(size)
    # sigma of s: CL sqrt(1 - c4^2) / c4, so B3/B4 = 1 -+ 3 sqrt(1 - c4^2) / c4
    return _Limits(centre, centre[:, None] * np.sqrt(1 - c4_n**2) / c4_n, 0.0, None)


_LIMITS: dict[ChartKind, Callable[[dict[str, FloatArray], IntArray, ControlChartOptions], _Limits]] = {
    "i": _i_limits,
    "c": _c_limits,
    "u": _u_limits,
    "uprime": _uprime_limits,
    "p": _p_limits,
    "pprime": _pprime_limits,
    "xbar": _xbar_limits,
    "s": _s_limits,
}


# Charts whose sigma comes from moving ranges need two baseline points.
_MIN_BASELINE: dict[ChartKind, int] = {"i": 2, "uprime": 2, "pprime": 2}
