"""Reliability of multi-item scales per group: Cronbach's alpha (raw and standardised), Guttman's lambda 6,
average inter-item r, Feldt interval, alpha if an item is dropped, corrected item-total correlations and omega
total (R ``psych::alpha``).

Per-group matrix algebra is batched over a leading group axis, from per-group sums of one sparse product.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.psychometrics.factor import fit_one_factor
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums


@dataclass(frozen=True)
class ReliabilityOptions:
    """Options of :func:`scale_reliability`.

    Attributes
    ----------
    missing : {"pairwise", "listwise"}
        "pairwise" (psych::alpha's default ``use = "pairwise"``): each covariance uses the respondents who
        answered both items. "listwise": only respondents who answered every item.
    ci_level : float
        Coverage of the Feldt confidence interval.
    omega_max_iter : int
        Iteration cap of the one-factor maximum-likelihood fit.
    omega_tol : float
        Convergence tolerance on the uniquenesses (correlation scale).
    """

    missing: Literal["pairwise", "listwise"] = "pairwise"
    ci_level: float = 0.95
    omega_max_iter: int = 5000
    omega_tol: float = 1e-10

    def __post_init__(self) -> None:
        if self.missing not in ("pairwise", "listwise"):
            raise ValueError(f"missing must be 'pairwise' or 'listwise', got {self.missing!r}")
        if not 0.0 < self.ci_level < 1.0:
            raise ValueError(f"ci_level must lie strictly between 0 and 1, got {self.ci_level}")
        if self.omega_max_iter < 1:
            raise ValueError("omega_max_iter must be at least 1")
        if not self.omega_tol > 0.0:
            raise ValueError("omega_tol must be positive")


@dataclass(frozen=True)
class ScaleReliability:
    """Reliability of one scale in every group (first axis: group; second axis, where present: item).

    Attributes
    ----------
    n_respondents : numpy.ndarray
        Respondents with at least one answer (after the missing-data rule).
    n_complete : numpy.ndarray
        Respondents who answered every item.
    n_feldt : numpy.ndarray
        The ``n`` used by the Feldt interval (``n_complete`` listwise; the smallest pairwise ``n`` pairwise).
    raw_alpha, std_alpha : numpy.ndarray
        Cronbach's alpha from the covariance and from the correlation matrix (psych's raw_alpha, std.alpha).
    lambda6 : numpy.ndarray
        Guttman's lambda 6 (psych's G6(smc)).
    average_r : numpy.ndarray
        Mean inter-item correlation.
    feldt_lower, feldt_upper : numpy.ndarray
        Feldt, Woodruff & Salih (1987) confidence interval for raw alpha.
    omega_total : numpy.ndarray
        McDonald's omega total of the raw sum score from a one-factor maximum-likelihood fit.
    alpha_if_dropped : numpy.ndarray
        Groups x items: raw alpha of the other items.
    r_drop : numpy.ndarray
        Groups x items: corrected item-total correlation (item with the sum of the other items).
    item_n, item_mean, item_sd : numpy.ndarray
        Groups x items: answers, mean and SD of each item.
    loadings, uniquenesses : numpy.ndarray
        Groups x items: the one-factor fit behind omega (covariance scale).
    """

    n_respondents: IntArray
    n_complete: IntArray
    n_feldt: IntArray
    raw_alpha: FloatArray
    std_alpha: FloatArray
    lambda6: FloatArray
    average_r: FloatArray
    feldt_lower: FloatArray
    feldt_upper: FloatArray
    omega_total: FloatArray
    alpha_if_dropped: FloatArray
    r_drop: FloatArray
    item_n: IntArray
    item_mean: FloatArray
    item_sd: FloatArray
    loadings: FloatArray
    uniquenesses: FloatArray


@dataclass(frozen=True)
class GroupCovariance:
    """Per-group item covariance matrices.

    Attributes
    ----------
    covariance : numpy.ndarray
        Groups x items x items; entry ``(i, j)`` uses the respondents who answered both (pairwise deletion).
    n_pairs : numpy.ndarray
        Groups x items x items: respondents behind each entry.
    mean : numpy.ndarray
        Groups x items: item means over the respondents who answered the item.
    """

    covariance: FloatArray
    n_pairs: IntArray
    mean: FloatArray


def group_covariance(
    items: FloatArray, group_ids: IntArray | None = None, n_groups: int | None = None
) -> GroupCovariance:
    """Pairwise-complete covariance matrix of the items within every group.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items, NaN for missing.
    group_ids : numpy.ndarray of int, optional
        Group of each respondent; None puts everyone in one group.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).

    Returns
    -------
    GroupCovariance

    Notes
    -----
    With ``m`` the answered indicator and ``x`` centred on the overall item mean (for numerical accuracy),
    ``c_ij = (sum x_i x_j - (sum x_i m_j)(sum x_j m_i) / n_ij) / (n_ij - 1)`` over a group's respondents, with
    ``n_ij = sum m_i m_j``: the covariance over the respondents who answered both items, as R's
    ``cov(x, use = "pairwise.complete.obs")``. NaN where ``n_ij < 2``.

    References
    ----------
    R Core Team (2022). R: A language and environment for statistical computing, 4.2.2 (``stats::cov``).

    Examples
    --------
    >>> x = np.array([[1.0, 2.0], [2.0, np.nan], [3.0, 5.0], [4.0, 4.0]])
    >>> group_covariance(x).covariance[0]  # R: cov(x, use = "pairwise")
    array([[1.66666667, 1.83333333],
           [1.83333333, 2.33333333]])
    """
    x = as_response_matrix(items, "items")
    n, k = x.shape
    ids, g = as_group_ids(np.zeros(n, dtype=np.int64) if group_ids is None else group_ids, n, n_groups)
    answered = ~np.isnan(x)
    mask = answered.astype(np.float64)
    with np.errstate(invalid="ignore"):
        centre = np.where(answered.any(axis=0), np.nanmean(np.where(answered, x, np.nan), axis=0), 0.0)
    xc = np.where(answered, x - centre, 0.0)
    cross = group_sums((xc[:, :, None] * xc[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    partial = group_sums((xc[:, :, None] * mask[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    pairs = group_sums((mask[:, :, None] * mask[:, None, :]).reshape(n, k * k), ids, g).reshape(g, k, k)
    with np.errstate(invalid="ignore", divide="ignore"):
        covariance = (cross - partial * np.swapaxes(partial, 1, 2) / pairs) / (pairs - 1.0)
        diagonal = np.diagonal(partial, axis1=1, axis2=2) / np.diagonal(pairs, axis1=1, axis2=2)
    covariance = np.where(pairs >= 2, covariance, np.nan)
    return GroupCovariance(
        covariance=covariance, n_pairs=np.rint(pairs).astype(np.int64), mean=diagonal + centre[None, :]
    )


def scale_reliability(
    items: FloatArray,
    group_ids: IntArray | None = None,
    n_groups: int | None = None,
    options: ReliabilityOptions | None = None,
) -> ScaleReliability:
    """Cronbach's alpha, Guttman's lambda 6, omega and item statistics of one scale, in every group.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items of one scale, already reverse-keyed (:func:`reverse_key`), NaN for missing.
    group_ids : numpy.ndarray of int, optional
        Group of each respondent; None gives one group (the whole sample).
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).
    options : ReliabilityOptions, optional

    Returns
    -------
    ScaleReliability

    Notes
    -----
    From each group's item covariance matrix ``C`` (``k`` items) and correlation matrix ``R``:

    - raw alpha ``= k/(k-1) (1 - tr C / 1'C1)``; standardised alpha ``= k/(k-1) (1 - k / 1'R1)``;
    - average r ``= (1'R1 - k) / (k(k-1))``;
    - lambda 6 ``= 1 - sum_i (1 - smc_i) / 1'R1`` with ``smc_i = 1 - 1/(R^-1)_ii`` (clipped to [0, 1]);
    - alpha if item ``i`` is dropped: raw alpha of ``C`` without row and column ``i``;
    - ``r.drop_i = (C 1 - C_ii)_i / sqrt(C_ii (1'C1 - 2 (C1)_i + C_ii))``, the item's correlation with the sum
      of the other items;
    - Feldt interval: ``1 - (1 - alpha) F_{1-g/2}(n-1, (n-1)(k-1))`` to ``1 - (1 - alpha) F_{g/2}(...)``,
      with ``g = 1 - ci_level``;
    - omega total: see :func:`omega_total`.

    These are psych::alpha's formulas. psych's Feldt interval uses every row of the data it is given; here
    ``n`` is the number of complete respondents under listwise deletion, and, under pairwise deletion, the
    smallest number of respondents behind any covariance (psych would use all rows, pingouin too).

    References
    ----------
    Cronbach, L. J. (1951). Coefficient alpha and the internal structure of tests. *Psychometrika* 16,
    297-334. Guttman, L. (1945). A basis for analyzing test-retest reliability. *Psychometrika* 10, 255-282.
    Feldt, L. S., Woodruff, D. J., & Salih, F. A. (1987). Statistical inference for coefficient alpha.
    *Applied Psychological Measurement* 11, 93-103.
    Revelle, W. (2022). psych 2.2.9, ``alpha()``.

    Examples
    --------
    >>> x = np.array([[1, 2, 2], [2, 2, 3], [3, 4, 3], [4, 4, 5], [5, 4, 4], [2, 3, 2]], dtype=float)
    >>> rel = scale_reliability(x)
    >>> print(np.round([rel.raw_alpha[0], rel.std_alpha[0], rel.lambda6[0], rel.average_r[0]], 4))
    [0.9062 0.9159 0.9072 0.7841]

    R: ``psych::alpha(x)$total`` gives raw_alpha 0.91, std.alpha 0.92, G6(smc) 0.91, average_r 0.78.
    """
    opts = options or ReliabilityOptions()
    x = as_response_matrix(items, "items")
    n, k = x.shape
    if k < 2:
        raise ValueError(f"a scale needs at least 2 items for alpha, got {k}")
    ids, g = as_group_ids(np.zeros(n, dtype=np.int64) if group_ids is None else group_ids, n, n_groups)
    answered = ~np.isnan(x)
    complete = np.asarray(answered.all(axis=1))
    if opts.missing == "listwise":
        x, ids, answered = x[complete], ids[complete], answered[complete]
        complete = complete[complete]
    counts = group_sums(np.column_stack([answered.any(axis=1), complete]).astype(np.float64), ids, g)
    cov = group_covariance(x, ids, g)
    c = cov.covariance
    variance = np.diagonal(c, axis1=1, axis2=2)
    valid = np.all(np.isfinite(c), axis=(1, 2)) & np.all(variance > 0, axis=1)
    c = np.where(valid[:, None, None], c, np.eye(k)[None])
    variance = np.diagonal(c, axis1=1, axis2=2)
    sd = np.sqrt(variance)
    r = c / (sd[:, :, None] * sd[:, None, :])

    trace = variance.sum(axis=1)
    total = c.sum(axis=(1, 2))
    row_sum = c.sum(axis=2)
    sum_r = r.sum(axis=(1, 2))
    raw_alpha = (1.0 - trace / total) * k / (k - 1)
    std_alpha = (1.0 - k / sum_r) * k / (k - 1)
    average_r = (sum_r - k) / (k * (k - 1))
    inverse_diagonal = np.diagonal(np.linalg.pinv(r, hermitian=True), axis1=1, axis2=2)
    smc = np.clip(1.0 - 1.0 / inverse_diagonal, 0.0, 1.0)
    lambda6 = 1.0 - (k - smc.sum(axis=1)) / sum_r

    rest_total = total[:, None] - 2.0 * row_sum + variance
    with np.errstate(invalid="ignore", divide="ignore"):
        r_drop = (row_sum - variance) / np.sqrt(variance * rest_total)
        if k >= 3:
            alpha_if_dropped = (1.0 - (trace[:, None] - variance) / rest_total) * (k - 1) / (k - 2)
        else:
            alpha_if_dropped = np.full((g, k), np.nan)

    if opts.missing == "listwise":
        n_feldt = np.rint(counts[:, 1]).astype(np.int64)
    else:
        n_feldt = cov.n_pairs.min(axis=(1, 2))
    df1 = n_feldt - 1.0
    df2 = df1 * (k - 1)
    tail = (1.0 - opts.ci_level) / 2.0
    with np.errstate(invalid="ignore"):
        ok = valid & (df1 >= 1)
        f_high = np.where(ok, stats.f.ppf(1.0 - tail, np.maximum(df1, 1), np.maximum(df2, 1)), np.nan)
        f_low = np.where(ok, stats.f.ppf(tail, np.maximum(df1, 1), np.maximum(df2, 1)), np.nan)
    feldt_lower = 1.0 - (1.0 - raw_alpha) * f_high
    feldt_upper = 1.0 - (1.0 - raw_alpha) * f_low

    if k >= 3:
        fit = fit_one_factor(np.where(valid[:, None, None], c, np.nan), opts.omega_max_iter, opts.omega_tol)
        with np.errstate(invalid="ignore"):
            omega = fit.loadings.sum(axis=1) ** 2 / total
        loadings, uniquenesses = fit.loadings, fit.uniquenesses
    else:
        omega = np.full(g, np.nan)
        loadings = uniquenesses = np.full((g, k), np.nan)

    def masked(values: FloatArray) -> FloatArray:
        shape = (g,) + (1,) * (values.ndim - 1)
        return np.where(valid.reshape(shape), values, np.nan)

    item_n = np.diagonal(cov.n_pairs, axis1=1, axis2=2).copy()
    raw_variance = np.diagonal(cov.covariance, axis1=1, axis2=2)
    with np.errstate(invalid="ignore"):
        item_sd = np.sqrt(raw_variance)
    return ScaleReliability(
        n_respondents=np.rint(counts[:, 0]).astype(np.int64),
        n_complete=np.rint(counts[:, 1]).astype(np.int64),
        n_feldt=n_feldt,
        raw_alpha=masked(raw_alpha),
        std_alpha=masked(std_alpha),
        lambda6=masked(lambda6),
        average_r=masked(average_r),
        feldt_lower=masked(feldt_lower),
        feldt_upper=masked(feldt_upper),
        omega_total=masked(omega),
        alpha_if_dropped=masked(alpha_if_dropped),
        r_drop=masked(r_drop),
        item_n=item_n,
        item_mean=np.where(item_n > 0, cov.mean, np.nan),
        item_sd=item_sd,
        loadings=loadings,
        uniquenesses=uniquenesses,
    )


__all__ = [
    "GroupCovariance",
    "ReliabilityOptions",
    "ScaleReliability",
    "group_covariance",
    "scale_reliability",
]
