"""ICC(1) and ICC(2) of group means from a one-way ANOVA (Bliese 2000; R ``multilevel::ICC1``, ``ICC2``),
from per-group moments computed for all groups at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums


@dataclass(frozen=True)
class GroupMoments:
    """Count, mean and variance of each column within each group (groups x columns).

    Attributes
    ----------
    n : numpy.ndarray
        Non-missing values.
    mean : numpy.ndarray
        Mean (NaN for an empty group).
    variance : numpy.ndarray
        Sample variance with ``n - 1`` denominator (NaN when ``n < 2``).
    """

    n: IntArray
    mean: FloatArray
    variance: FloatArray


def moments_from_sums(
    count: FloatArray, total: FloatArray, squares: FloatArray, centre: FloatArray
) -> GroupMoments:
    """Group moments from per-group counts, sums and sums of squares of values centred at ``centre``."""
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, centre + total / count, np.nan)
        variance = np.where(count > 1, np.maximum(squares - total**2 / count, 0.0) / (count - 1), np.nan)
    return GroupMoments(n=np.rint(count).astype(np.int64), mean=mean, variance=variance)


def centred_answers(
    values: FloatArray, mask: BoolArray, centre: float | None = None
) -> tuple[FloatArray, FloatArray]:
    """Values minus a centre (default: column mean over ``mask``), zero outside ``mask``.

    Centring keeps one-pass sums of squares accurate; a whole-number centre (a scale's midpoint) keeps integer
    answers integer, so their sums are exact.
    """
    kept = np.where(mask, values, 0.0)
    if centre is None:
        count = mask.sum(axis=0)
        centres = np.where(count > 0, kept.sum(axis=0) / np.maximum(count, 1), 0.0)
    else:
        centres = np.full(values.shape[1], centre)
    kept -= centres
    kept[~mask] = 0.0
    return kept, centres


def group_moments(values: FloatArray, group_ids: IntArray, n_groups: int | None = None) -> GroupMoments:
    """Per-group count, mean and variance of every column, skipping NaN, for all groups at once.

    Parameters
    ----------
    values : numpy.ndarray
        Respondents x columns (a 1-D array is one column), NaN for missing.
    group_ids : numpy.ndarray of int
        Group of each respondent, ``0 .. n_groups - 1``.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).

    Returns
    -------
    GroupMoments

    Notes
    -----
    With ``x`` centred on the column mean ``c``, ``mean = c + S1/n`` and ``var = (S2 - S1^2/n)/(n - 1)``,
    where ``S1, S2`` are the per-group sums of ``x`` and ``x^2`` from one sparse indicator product each.

    References
    ----------
    Chan, T. F., Golub, G. H., & LeVeque, R. J. (1983). Algorithms for computing the sample variance. *The
    American Statistician* 37, 242-247.

    Examples
    --------
    >>> m = group_moments(np.array([1.0, 2.0, 4.0, np.nan]), np.array([0, 0, 1, 1]))
    >>> m.n.ravel(), m.mean.ravel(), m.variance.ravel()  # R: tapply(x, g, var, na.rm = TRUE)
    (array([2, 1]), array([1.5, 4. ]), array([0.5, nan]))
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    x = as_response_matrix(x, "values")
    ids, g = as_group_ids(group_ids, x.shape[0], n_groups)
    mask = ~np.isnan(x)
    xc, centre = centred_answers(x, mask)
    return moments_from_sums(
        group_sums(mask.astype(np.float64), ids, g),
        group_sums(xc, ids, g),
        group_sums(xc * xc, ids, g),
        centre,
    )


@dataclass(frozen=True)
class GroupICC:
    """One-way random-effects ICC(1) and ICC(2) of each variable (arrays of length n_variables).

    Attributes
    ----------
    icc1 : numpy.ndarray
        Share of variance due to group membership.
    icc2 : numpy.ndarray
        Reliability of the group means.
    f_value, p_value : numpy.ndarray
        One-way ANOVA F test of group differences.
    ms_between, ms_within : numpy.ndarray
        Mean squares.
    df_between, df_within : numpy.ndarray
        Degrees of freedom (groups with a value - 1; respondents - groups).
    n_respondents : numpy.ndarray
        Non-missing values.
    group_size : numpy.ndarray
        The ``k`` in ICC(1): mean group size (multilevel) or ``n0``.
    """

    icc1: FloatArray
    icc2: FloatArray
    f_value: FloatArray
    p_value: FloatArray
    ms_between: FloatArray
    ms_within: FloatArray
    df_between: FloatArray
    df_within: FloatArray
    n_respondents: IntArray
    group_size: FloatArray


def icc_from_moments(moments: GroupMoments, group_size: Literal["mean", "n0"]) -> GroupICC:
    """ICC(1) and ICC(2) from group moments (one-way ANOVA), for real or random groups alike."""
    n = moments.n.astype(np.float64)
    present = n > 0
    total_n = n.sum(axis=0)
    groups = present.sum(axis=0).astype(np.float64)
    mean = np.where(present, moments.mean, 0.0)
    within = np.where(n > 1, (n - 1) * np.nan_to_num(moments.variance), 0.0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        grand = (n * mean).sum(axis=0) / total_n
        between = (n * (mean - grand) ** 2).sum(axis=0)
        df_between = groups - 1
        df_within = total_n - groups
        msb = between / df_between
        msw = within / df_within
        if group_size == "mean":
            k = total_n / groups
        else:
            k = (total_n - (n**2).sum(axis=0) / total_n) / df_between
        icc1 = (msb - msw) / (msb + (k - 1) * msw)
        icc2 = (msb - msw) / msb
        f_value = msb / msw
    ok = (df_between >= 1) & (df_within >= 1)
    p_value = np.full(f_value.shape, np.nan)
    good = ok & np.isfinite(f_value)
    p_value[good] = stats.f.sf(f_value[good], df_between[good], df_within[good])

    def only_ok(values: FloatArray) -> FloatArray:
        return np.where(ok, values, np.nan)

    return GroupICC(
        icc1=only_ok(icc1),
        icc2=only_ok(icc2),
        f_value=only_ok(f_value),
        p_value=p_value,
        ms_between=only_ok(msb),
        ms_within=only_ok(msw),
        df_between=df_between,
        df_within=df_within,
        n_respondents=np.rint(total_n).astype(np.int64),
        group_size=k,
    )


def group_icc(
    values: FloatArray,
    group_ids: IntArray,
    n_groups: int | None = None,
    group_size: Literal["mean", "n0"] = "mean",
) -> GroupICC:
    """ICC(1) and ICC(2) from a one-way ANOVA with unequal group sizes, for many variables at once.

    Parameters
    ----------
    values : numpy.ndarray
        Respondents (1-D) or respondents x variables; NaN values are left out (as ``aov``'s ``na.omit``).
    group_ids : numpy.ndarray of int
        Group of each respondent.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``); empty groups do not count.
    group_size : {"mean", "n0"}
        ``k`` in ICC(1): "mean" is ``N / G`` as ``multilevel::ICC1``; "n0" is ANOVA's
        ``(N - sum n_g^2 / N) / (G - 1)``, the unbiased choice for unequal group sizes.

    Returns
    -------
    GroupICC

    Notes
    -----
    ``ICC(1) = (MSB - MSW) / (MSB + (k - 1) MSW)`` and ``ICC(2) = (MSB - MSW) / MSB`` with ``MSB = sum n_g
    (m_g - m)^2 / (G - 1)`` and ``MSW = sum (n_g - 1) s_g^2 / (N - G)``.

    References
    ----------
    Bliese, P. D. (2000). Within-group agreement, non-independence, and reliability: Implications for data
    aggregation and analysis. In K. J. Klein & S. W. J. Kozlowski (Eds.), *Multilevel theory, research, and
    methods in organizations* (pp. 349-381). Jossey-Bass.
    Bliese, P. D. (2022). multilevel: Multilevel functions, R package 2.7 (``ICC1``, ``ICC2``).

    Examples
    --------
    >>> y = np.array([3.0, 4, 4, 2, 3, 2, 5, 5, 4, 4])
    >>> g = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    >>> res = group_icc(y, g)
    >>> print(np.round([res.icc1[0], res.icc2[0]], 6))  # R: multilevel::ICC1(aov(y ~ as.factor(g)))
    [0.769053 0.917355]
    """
    x = np.asarray(values, dtype=np.float64)
    if x.ndim == 1:
        x = x[:, None]
    if group_size not in ("mean", "n0"):
        raise ValueError(f"group_size must be 'mean' or 'n0', got {group_size!r}")
    return icc_from_moments(group_moments(x, group_ids, n_groups), group_size)


def f_distribution_icc1_quantile(icc: GroupICC, percentile: float = 95.0) -> FloatArray:
    """ICC(1) at the ``percentile``-th percentile of its random-grouping distribution, from the F distribution.

    Parameters
    ----------
    icc : GroupICC
        ICC(1) of each variable with its degrees of freedom and ``k`` (:func:`group_icc`).
    percentile : float
        In ``[50, 100)``.

    Returns
    -------
    numpy.ndarray
        One value per variable (NaN where ICC(1) is undefined).

    Notes
    -----
    ``ICC(1) = (F - 1) / (F + k - 1)`` with ``F = MSB / MSW`` rises with ``F``, and a random assignment with
    the real sizes leaves ``k`` unchanged, so the percentile of ICC(1) over random groups is this function of
    the percentile of ``F``. Under random assignment ``F`` is approximately ``F(G - 1, N - G)``: exactly so for
    normal scores, and for any scores the randomisation distribution of ``SSB / SST`` has the same mean as
    the Beta((G-1)/2, (N-G)/2) this implies and close variance (Pitman 1937), the approximation improving with
    ``N`` (Box & Andersen 1955). ``ICC(1)`` above this value is the one-way ANOVA F test at level
    ``1 - percentile/100``; the mean of ICC(1) over random groups is near ``0`` (its floor ``-1/(k - 1)``).

    References
    ----------
    Pitman, E. J. G. (1937). Significance tests which may be applied to samples from any populations. III.
    The analysis of variance test. *Biometrika* 29, 322-335.
    Box, G. E. P., & Andersen, S. L. (1955). Permutation theory in the derivation of robust criteria and the
    study of departures from assumption. *Journal of the Royal Statistical Society B* 17, 1-34.
    Bliese, P. D. (2000). In Klein & Kozlowski (Eds.), *Multilevel theory, research, and methods in
    organizations* (pp. 349-381). Jossey-Bass.

    Examples
    --------
    >>> y = np.array([3.0, 4, 4, 2, 3, 2, 5, 5, 4, 4])
    >>> g = np.array([0, 0, 0, 1, 1, 1, 2, 2, 2, 2])
    >>> print(np.round(f_distribution_icc1_quantile(group_icc(y, g)), 6))
    [0.528574]

    In R: ``f <- qf(0.95, 2, 7); k <- 10 / 3; (f - 1) / (f + k - 1)``.
    """
    if not 50.0 <= percentile < 100.0:
        raise ValueError(f"percentile must lie in [50, 100), got {percentile}")
    ok = (icc.df_between >= 1) & (icc.df_within >= 1) & np.isfinite(icc.group_size)
    f_quantile = np.full(icc.df_between.shape, np.nan)
    f_quantile[ok] = stats.f.ppf(percentile / 100.0, icc.df_between[ok], icc.df_within[ok])
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = (f_quantile - 1.0) / (f_quantile + icc.group_size - 1.0)
    return result


__all__ = ["GroupICC", "GroupMoments", "group_icc", "group_moments"]
