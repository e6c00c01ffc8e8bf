"""The rank intervals' expected-rank curves (``rank_bounds._expected_rank_curve``) against the formulation before
their interpolation ran over sorted queries (kept verbatim below), to the bit."""

from __future__ import annotations

import numpy as np
import pytest

from forewarn.stats.arrays import FloatArray
from forewarn.stats.rank_bounds import _expected_rank_curve, _phi


def _expected_rank_curve_before(
    theta: FloatArray, se: FloatArray, queries: FloatArray, grid_size: int, se_bins: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """At each query x: 1 + sum_j p_j(x) and sum_j p_j(x)(1 - p_j(x)), p_j(x) = Phi((theta_j - x)/s_j), all units
    included, by binned FFT convolution; and each unit's binned standard error."""
    lo = float(min(queries.min(), theta.min()))
    hi = float(max(queries.max(), theta.max()))
    span = max(hi - lo, float(se.min()) * 1e-3, 1e-12)
    lo, hi = lo - 0.01 * span, hi + 0.01 * span
    step = (hi - lo) / (grid_size - 1)
    # Units whose standard error is below two grid steps have a step-like Phi the grid cannot resolve: count them
    # exactly (ties count one half), and leave them out of the variance (their indicators are all but certain).
    sharp = se < 2 * step
    sorted_sharp = np.sort(theta[sharp])
    counted = sorted_sharp.size - 0.5 * (
        np.searchsorted(sorted_sharp, queries, side="left")
        + np.searchsorted(sorted_sharp, queries, side="right")
    )
    unit_se = np.where(sharp, 0.0, se)  # 0 marks a unit counted as a step
    smooth = ~sharp
    if not smooth.any():
        return np.asarray(1.0 + counted, dtype=np.float64), np.zeros_like(queries), unit_se
    theta_s, se_s = theta[smooth], se[smooth]
    log_se = np.log(se_s)
    edges = np.quantile(log_se, np.linspace(0, 1, se_bins + 1))
    bin_of = np.clip(np.searchsorted(edges, log_se, side="right") - 1, 0, se_bins - 1)
    counts = np.bincount(bin_of, minlength=se_bins)
    bin_se = np.exp(np.bincount(bin_of, weights=log_se, minlength=se_bins) / np.maximum(counts, 1))
    unit_se[smooth] = bin_se[bin_of]
    # Linear-interpolation histogram of the estimates on the grid, one row per standard-error bin.
    position = (theta_s - lo) / step
    left = np.clip(np.floor(position).astype(np.int64), 0, grid_size - 2)
    frac = position - left
    flat = np.zeros(se_bins * grid_size)
    np.add.at(flat, bin_of * grid_size + left, 1 - frac)
    np.add.at(flat, bin_of * grid_size + left + 1, frac)
    hist = flat.reshape(se_bins, grid_size)
    # M_b(x_g) = sum_t H_b(t) Phi((t - x_g)/s_b): a correlation with the kernel Phi(k step / s_b), k = -(G-1)..G-1.
    offsets = np.arange(-(grid_size - 1), grid_size) * step
    probability = _phi(offsets[None, :] / bin_se[:, None])
    size = 1 << int(np.ceil(np.log2(3 * grid_size)))
    hist_spectrum = np.fft.rfft(hist[:, ::-1], size, axis=1)
    grid = lo + step * np.arange(grid_size)
    # The correlation at grid point g sits at index 2(G - 1) - g of the full convolution.
    at = 2 * (grid_size - 1) - np.arange(grid_size)
    curves = []
    for kernel in (probability, probability * (1 - probability)):
        full = np.fft.irfft((hist_spectrum * np.fft.rfft(kernel, size, axis=1)).sum(axis=0), size)
        curves.append(np.interp(queries, grid, full[at]))
    return 1.0 + counted + curves[0], np.maximum(curves[1], 0.0), unit_se


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("n", [3, 40, 2_000])
def test_expected_rank_curve_as_before(seed: int, n: int) -> None:
    rng = np.random.default_rng(seed)
    theta = rng.normal(0.0, 1.0, n)
    theta[: n // 4] = theta[0]  # ties among estimates and so among queries
    se = np.exp(rng.normal(-1.5, 1.0, n))
    se[: n // 10] = 1e-6  # units counted as steps
    queries = np.concatenate(
        [theta, theta + 1.96 * se, theta - 1.96 * se, [theta.min() - 5, theta.max() + 5]]
    )
    for grid_size, se_bins in ((64, 4), (4096, 32)):
        got = _expected_rank_curve(theta, se, queries, grid_size, se_bins)
        expected = _expected_rank_curve_before(theta, se, queries, grid_size, se_bins)
        for a, b in zip(got, expected, strict=True):
            assert a.shape == b.shape
            assert (a.view(np.int64) == b.view(np.int64)).all()
