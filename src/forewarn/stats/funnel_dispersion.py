"""A funnel's over-dispersion: trimmed z-scores, phi and the DerSimonian-Laird tau^2, for many funnels at once.

Winsorised z-scores at R's type-7 quantiles ("cqc", Spiegelhalter 2005b, QSHC 14:347) or z-scores truncated by
rank band (NHS Digital SHMI specification), phi = mean squared trimmed z, and the additive between-unit variance
tau^2 of DerSimonian & Laird (1986, Control Clin Trials 7:177), as FunnelPlotR 0.6.0 computes them. One two-key
sort by (funnel, z) and ``np.bincount`` passes; no loop over funnels.
"""

from __future__ import annotations

import numpy as np

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.funnel_types import Overdispersion


def _sort_by_funnel_then_z(z: FloatArray, fid: IntArray, k: int) -> IntArray:
    # A two-pass lexsort: z first, then a stable sort on the funnel id. Ties in z may come out in any order,
    # which changes neither quantiles nor tie-averaged ranks; a 16-bit key lets numpy use its radix sort.
    by_z = np.argsort(z)
    key = fid[by_z]
    if k <= np.iinfo(np.int16).max:
        key = key.astype(np.int16)
    order: IntArray = by_z[np.argsort(key, kind="stable")]
    return order


def _quantile_type7(z_sorted: FloatArray, starts: IntArray, counts: IntArray, prob: float) -> FloatArray:
    # R's quantile(type = 7), evaluated the way R does it: index = 1 + (n - 1) p, interpolate when index is
    # fractional and the two order statistics differ (so infinite z-scores do not produce NaN).
    index = 1.0 + np.maximum(counts - 1, 0) * prob
    lo = np.floor(index).astype(np.int64)
    hi = np.ceil(index).astype(np.int64)
    last = max(z_sorted.shape[0] - 1, 0)
    x_lo = z_sorted[np.minimum(starts + lo - 1, last)]
    x_hi = z_sorted[np.minimum(starts + hi - 1, last)]
    h = index - lo
    interpolate = (index > lo) & (x_hi != x_lo)
    with np.errstate(invalid="ignore"):
        quantile = np.where(interpolate, (1.0 - h) * x_lo + h * x_hi, x_lo)
    return np.where(counts > 0, quantile, np.nan)


def _trim_z_scores(
    z: FloatArray, fid: IntArray, n_units: IntArray, trim: float, method: Overdispersion
) -> tuple[FloatArray, BoolArray, BoolArray]:
    """Winsorised (cqc) or truncated (shmi) z-scores, the trimmed flags and the units used for phi."""
    k = n_units.shape[0]
    order = _sort_by_funnel_then_z(z, fid, k)
    z_sorted = z[order]
    ends = np.cumsum(n_units)
    starts = ends - n_units
    if method == "cqc":
        low = _quantile_type7(z_sorted, starts, n_units, trim)[fid]
        high = _quantile_type7(z_sorted, starts, n_units, 1.0 - trim)[fid]
        trimmed = ~((z > low) & (z < high))
        return np.clip(z, low, high), trimmed, np.ones(z.shape, dtype=np.bool_)

    fid_sorted = fid[order]
    n = z.shape[0]
    run_start = np.ones(n, dtype=np.bool_)
    run_start[1:] = (fid_sorted[1:] != fid_sorted[:-1]) | (z_sorted[1:] != z_sorted[:-1])
    first = np.flatnonzero(run_start)
    last = np.append(first[1:], n) - 1
    run = np.cumsum(run_start) - 1
    # Average rank of a run of tied z within its funnel, 1-based (R's rank(ties.method = "average")).
    rank_sorted = (first[run] + last[run]) / 2.0 - starts[fid_sorted] + 1.0
    rank = np.empty(n)
    rank[order] = rank_sorted
    groups = 1.0 / trim
    band = np.floor(rank * groups / (n_units[fid] + 1))
    used = (band > 0) & (band < groups - 1)
    return np.where(used, z, np.nan), ~used, used


def _dispersion(
    z_trimmed: FloatArray, se: FloatArray, used: BoolArray, fid: IntArray, k: int
) -> tuple[FloatArray, FloatArray, IntArray]:
    """Per-funnel phi = mean squared trimmed z and DerSimonian-Laird tau^2 over the units used."""
    n_used = np.bincount(fid, weights=used, minlength=k)
    weight = np.where(used, 1.0 / se**2, 0.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        phi = np.bincount(fid, weights=np.where(used, z_trimmed**2, 0.0), minlength=k) / n_used
        sum_w = np.bincount(fid, weights=weight, minlength=k)
        sum_w2 = np.bincount(fid, weights=weight**2, minlength=k)
        excess = n_used * phi - (n_used - 1.0)
        spread = sum_w - sum_w2 / sum_w
        tau2 = np.where(excess < 0, 0.0, np.maximum(0.0, excess / spread))
    # One unit (or equal weights over one unit) leaves no between-unit information.
    tau2 = np.where((n_used > 0) & (spread > 0), tau2, np.where(n_used > 0, 0.0, np.nan))
    return phi, tau2, n_used.astype(np.int64)
