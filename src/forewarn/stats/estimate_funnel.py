"""Funnel plots of estimates with standard errors (means, published rates with confidence intervals).

Published indicators often come as a value with its confidence interval and no counts. Their funnel is drawn
against precision ``1/se^2``: the target is the precision-weighted mean, z-scores are ``(y - target) / se``,
over-dispersion is measured as for count data by the mean squared winsorised z (phi) and, where phi > 1, an
additive DerSimonian-Laird tau^2 widens every limit to ``target +- q sqrt(se^2 + tau^2)``.

References
----------
Spiegelhalter, D. J. (2005a). Funnel plots for comparing institutional performance. Stat Med 24, 1185-1202
(section 3.1: normal estimates plotted against precision).
Spiegelhalter, D. J. (2005b). Handling over-dispersion of performance indicators. Qual Saf Health Care 14,
347-351 (winsorised phi; additive tau^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy import special

from forewarn.stats.arrays import FloatArray


@dataclass(frozen=True)
class EstimateFunnel:
    """Per unit: z (over-dispersion allowed), two-sided p, limits at its precision; per funnel: target, phi,
    tau^2 applied (0 where phi <= 1)."""

    z: FloatArray
    p_value: FloatArray
    lower: FloatArray
    upper: FloatArray
    target: FloatArray
    phi: FloatArray
    tau2: FloatArray


def _normal_quantile(limit: float) -> float:
    return float(special.ndtri(1.0 - (1.0 - limit / 100.0) / 2.0))


def estimate_funnel(
    estimate: ArrayLike,
    standard_error: ArrayLike,
    funnel_id: ArrayLike,
    *,
    n_funnels: int,
    limit: float = 99.8,
    trim: float = 0.1,
) -> EstimateFunnel:
    """Funnels of normal estimates, many at once (one per ``funnel_id``).

    Parameters
    ----------
    estimate, standard_error : array_like (units,)
        Values and their standard errors (> 0).
    funnel_id : array_like of int (units,)
        Funnel of each unit, 0..n_funnels-1.
    n_funnels : int
        Number of funnels.
    limit : float
        Coverage of the limits in percent (99.8 or 95).
    trim : float
        Share of z-scores winsorised at each end before phi is computed (0.1, as the CQC).

    Returns
    -------
    EstimateFunnel

    Notes
    -----
    ``target = sum w y / sum w`` with ``w = 1/se^2``; ``z0 = (y - target)/se``; phi = mean of the winsorised
    ``z0^2``; where phi > 1, ``tau^2 = max(0, (k phi - (k - 1)) / (sum w - sum w^2 / sum w))`` and
    ``z = (y - target)/sqrt(se^2 + tau^2)``; limits ``target +- q sqrt(se^2 + tau^2)``.

    Examples
    --------
    Four units with se = 1 around 0, 0, 0 and 10: the winsorised z-scores still show over-dispersion, so the
    far unit's z is shrunk by the additive tau^2:

    >>> result = estimate_funnel([0.0, 0.0, 0.0, 10.0], [1.0, 1.0, 1.0, 1.0], [0, 0, 0, 0], n_funnels=1)
    >>> result.target, result.phi > 1
    (array([2.5]), array([ True]))
    >>> bool(abs(result.z[3]) < 7.5)
    True
    """
    y = np.asarray(estimate, dtype=np.float64)
    se = np.asarray(standard_error, dtype=np.float64)
    fid = np.asarray(funnel_id, dtype=np.int64)
    if y.shape != se.shape or y.shape != fid.shape or y.ndim != 1:
        raise ValueError("estimate, standard_error and funnel_id must be 1-D arrays of the same length")
    if not (np.isfinite(y).all() and np.isfinite(se).all() and (se > 0).all()):
        raise ValueError("estimates must be finite and standard errors finite and > 0")
    if fid.size and (fid.min() < 0 or fid.max() >= n_funnels):
        raise ValueError("funnel_id must be in 0..n_funnels-1")
    if limit not in (95.0, 99.8):
        raise ValueError(f"limit must be 95 or 99.8; got {limit!r}")
    if not 0 <= trim < 0.5:
        raise ValueError(f"trim must be in [0, 0.5); got {trim!r}")
    k = n_funnels

    def total(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(fid, weights=values, minlength=k), dtype=np.float64)

    w = 1.0 / (se * se)
    sum_w = total(w)
    with np.errstate(invalid="ignore", divide="ignore"):
        target = total(w * y) / sum_w
    z0 = (y - target[fid]) / se
    winsorised = z0.copy()
    for g in np.unique(fid):  # one quantile pair per funnel (indicators: tens), not per unit
        members = fid == g
        low, high = np.quantile(z0[members], [trim, 1.0 - trim]) if trim > 0 else (-np.inf, np.inf)
        winsorised[members] = np.clip(z0[members], low, high)
    n_units = np.bincount(fid, minlength=k).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        phi = total(winsorised * winsorised) / n_units
        spread = sum_w - total(w * w) / sum_w
        tau2 = np.where(
            (phi > 1) & (spread > 0), np.maximum(0.0, (n_units * phi - (n_units - 1)) / spread), 0.0
        )
    sd = np.sqrt(se * se + tau2[fid])
    z = (y - target[fid]) / sd
    q = _normal_quantile(limit)
    return EstimateFunnel(
        z=z,
        p_value=2.0 * special.ndtr(-np.abs(z)),
        lower=target[fid] - q * sd,
        upper=target[fid] + q * sd,
        target=target,
        phi=phi,
        tau2=tau2,
    )


def estimate_funnel_curves(
    target: float, tau2: float, precision: ArrayLike, *, limit: float = 99.8
) -> tuple[FloatArray, FloatArray]:
    """Lower and upper limit curves of one estimate funnel over a grid of precisions ``1/se^2``.

    >>> lower, upper = estimate_funnel_curves(0.0, 0.0, [1.0, 4.0], limit=95.0)
    >>> upper
    array([1.959964, 0.979982])
    """
    p = np.asarray(precision, dtype=np.float64)
    sd = np.sqrt(1.0 / p + tau2)
    q = _normal_quantile(limit)
    return target - q * sd, target + q * sd


__all__ = ["EstimateFunnel", "estimate_funnel", "estimate_funnel_curves"]
