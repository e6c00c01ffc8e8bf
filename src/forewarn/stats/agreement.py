"""Within-group agreement and the case for aggregating individual answers to a group score.

ICC(1) and ICC(2) from a one-way ANOVA (Bliese 2000), rwg and rwg(j) against uniform and skewed null
distributions (James, Demaree & Wolf 1984; LeBreton & Senter 2008), Lindell's r*wg(j), Brown & Hauenstein's
awg, random-group resampling (Bliese & Halverson 2002), and a per-group aggregation report. Every statistic is
computed for all groups at once from per-group sums (one sparse indicator product). A group's random-group null
depends only on its size, so it is drawn once per distinct size (prefix sums along random orderings), not by
relabelling every respondent; only the scale-wide random-group statistics need full relabellings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import sparse, stats

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.reliability import ScaleSpec, as_group_ids, as_response_matrix, group_sums, key_responses

# Reason flags of AggregationReport.reason_flags (bit mask).
TOO_FEW_RESPONDENTS = 1
"""The group has fewer respondents with a scale score than ``min_respondents``."""
ICC1_NOT_ABOVE_RANDOM = 2
"""The scale's ICC(1) is not above the 95th percentile of ICC(1) over random groups (scale-wide)."""
RWG_J_NOT_ABOVE_RANDOM = 4
"""The group's rwg(j) is not above the 95th percentile of rwg(j) of random groups of its size."""
RWG_J_BELOW_THRESHOLD = 8
"""The group's rwg(j) is below the fixed ``min_rwg_j`` threshold."""
AGREEMENT_UNDEFINED = 16
"""rwg(j) cannot be computed (an item has fewer than two answers in the group)."""

_REASON_TEXT: tuple[tuple[int, str], ...] = (
    (TOO_FEW_RESPONDENTS, "too few respondents"),
    (ICC1_NOT_ABOVE_RANDOM, "ICC(1) not above random-group expectation"),
    (RWG_J_NOT_ABOVE_RANDOM, "rwg(j) not above the random-group 95th percentile"),
    (RWG_J_BELOW_THRESHOLD, "rwg(j) below the agreement threshold"),
    (AGREEMENT_UNDEFINED, "agreement cannot be estimated"),
)

# Relative tolerance for "the group mean sits on the scale end or on awg's admissibility bound": group means
# are sums divided by counts, so a mean that is exactly 5 in R can be 4.999999999999999 here.
_MEAN_TOLERANCE = 1e-9

# Largest number of (resample x respondent) entries summed in one sparse product, and the target size of its
# output block.
_MAX_CHUNK_ENTRIES = 20_000_000
_CACHE_BYTES = 1_000_000
# Largest (draw x pseudo-group member x item) block gathered at once, and largest (draw x group) comparison
# block: both bound memory whatever the group sizes and counts.
_DRAW_CHUNK_ENTRIES = 4_000_000
_COMPARE_ENTRIES = 4_000_000


@contextmanager
def _quiet_nan_warnings() -> Iterator[None]:
    """Silence numpy's "Mean of empty slice" / "All-NaN slice" warnings: all-NaN slices rightly give NaN."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


# ------------------------------------------------------------------------------------------------------------
# Group moments


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


def _moments_from_sums(
    count: FloatArray, total: FloatArray, squares: FloatArray, centre: FloatArray
) -> GroupMoments:
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, centre + total / count, np.nan)
        variance = np.where(count > 1, np.maximum(squares - total**2 / count, 0.0) / (count - 1), np.nan)
    return GroupMoments(n=np.rint(count).astype(np.int64), mean=mean, variance=variance)


def _centred(
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
    xc, centre = _centred(x, mask)
    return _moments_from_sums(
        group_sums(mask.astype(np.float64), ids, g),
        group_sums(xc, ids, g),
        group_sums(xc * xc, ids, g),
        centre,
    )


# ------------------------------------------------------------------------------------------------------------
# ICC(1), ICC(2)


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


def _icc_from_moments(moments: GroupMoments, group_size: Literal["mean", "n0"]) -> GroupICC:
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
    return _icc_from_moments(group_moments(x, group_ids, n_groups), group_size)


# ------------------------------------------------------------------------------------------------------------
# Null distributions, rwg, rwg(j), awg


@dataclass(frozen=True)
class NullDistribution:
    """A response distribution expected when raters do not agree, over equally spaced options.

    Attributes
    ----------
    name : str
        Label ("uniform", "slight_skew", ...).
    probabilities : tuple of float
        Probability of each response option, lowest first; they sum to 1.
    """

    name: str
    probabilities: tuple[float, ...]

    def __post_init__(self) -> None:
        p = np.asarray(self.probabilities, dtype=np.float64)
        if p.ndim != 1 or p.size < 2:
            raise ValueError(f"null {self.name!r} needs a probability for each of at least 2 options")
        if np.any(p < 0) or not np.isclose(p.sum(), 1.0, rtol=0, atol=1e-9):
            raise ValueError(f"null {self.name!r}: probabilities must be non-negative and sum to 1")

    @property
    def n_options(self) -> int:
        """Number of response options ``A``."""
        return len(self.probabilities)

    @property
    def variance(self) -> float:
        """Variance ``sum p_a (a - mu)^2`` with options scored 1 .. A (population variance, no n-1)."""
        p = np.asarray(self.probabilities, dtype=np.float64)
        options = np.arange(1, p.size + 1, dtype=np.float64)
        mean = float(p @ options)
        return float(p @ (options - mean) ** 2)

    @classmethod
    def uniform(cls, n_options: int) -> NullDistribution:
        """Rectangular null: every option equally likely; variance ``(A^2 - 1)/12``."""
        if n_options < 2:
            raise ValueError(f"a scale needs at least 2 response options, got {n_options}")
        return cls("uniform", tuple(1.0 / n_options for _ in range(n_options)))


LEBRETON_SENTER_5_POINT: tuple[NullDistribution, ...] = (
    NullDistribution("uniform", (0.20, 0.20, 0.20, 0.20, 0.20)),
    NullDistribution("slight_skew", (0.05, 0.15, 0.20, 0.35, 0.25)),
    NullDistribution("moderate_skew", (0.00, 0.10, 0.15, 0.40, 0.35)),
    NullDistribution("heavy_skew", (0.00, 0.00, 0.10, 0.40, 0.50)),
    NullDistribution("triangular", (0.11, 0.22, 0.34, 0.22, 0.11)),
    NullDistribution("normal", (0.07, 0.24, 0.38, 0.24, 0.07)),
)
"""The 5-point null distributions of LeBreton & Senter (2008, Table 3); variances 2.00, 1.34, 0.90, 0.44,
1.32, 1.04. The skewed ones lean towards the top of the scale (leniency)."""


def uniform_null_variance(n_options: int) -> float:
    """Variance of the uniform (rectangular) null over ``A`` options, ``(A^2 - 1)/12``.

    Parameters
    ----------
    n_options : int
        Number of response options ``A``.

    Returns
    -------
    float

    Notes
    -----
    For options ``1..A`` with probability ``1/A``: ``E[x^2] - E[x]^2 = (A+1)(2A+1)/6 - (A+1)^2/4 =
    (A^2 - 1)/12``.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). Estimating within-group interrater reliability with and
    without response bias. *Journal of Applied Psychology* 69, 85-98.

    Examples
    --------
    >>> uniform_null_variance(5)  # R: multilevel::rwg(..., ranvar = 2)
    2.0
    """
    if n_options < 2:
        raise ValueError(f"a scale needs at least 2 response options, got {n_options}")
    return (n_options**2 - 1) / 12.0


def rwg_j_from_variance(mean_variance: FloatArray, n_items: int, null_variance: float) -> FloatArray:
    """rwg(j) from the mean within-group item variance, truncated at 0 (multilevel's convention).

    Parameters
    ----------
    mean_variance : numpy.ndarray
        Mean of the items' within-group variances ``s^2``.
    n_items : int
        ``J``; 1 gives the single-item rwg.
    null_variance : float
        ``sigma_E^2``.

    Returns
    -------
    numpy.ndarray

    Notes
    -----
    ``rwg(j) = J (1 - s^2/sigma^2) / (J (1 - s^2/sigma^2) + s^2/sigma^2)``; when ``s^2 > sigma^2`` the
    variance is set to ``sigma^2`` so rwg(j) is 0 (James et al. 1984), as ``multilevel::rwg.j``. For ``J = 1``
    this is ``1 - s^2/sigma^2``.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). *Journal of Applied Psychology* 69, 85-98.

    Examples
    --------
    >>> rwg_j_from_variance(np.array([0.5, 3.0]), 11, 2.0)  # R: multilevel::rwg.j(x, g, ranvar = 2)
    array([0.97058824, 0.        ])
    """
    ratio = np.minimum(np.asarray(mean_variance, dtype=np.float64), null_variance) / null_variance
    with np.errstate(invalid="ignore", divide="ignore"):
        result: FloatArray = n_items * (1.0 - ratio) / (n_items * (1.0 - ratio) + ratio)
    return result


def awg_index(
    mean: FloatArray, variance: FloatArray, n: FloatArray | IntArray, response_min: float, response_max: float
) -> FloatArray:
    """Brown & Hauenstein's awg for each group (elementwise), as ``multilevel::awg``.

    Parameters
    ----------
    mean, variance : numpy.ndarray
        Group mean ``M`` and sample variance ``s^2`` (``n - 1`` denominator).
    n : numpy.ndarray
        Group size ``k``.
    response_min, response_max : float
        ``L`` and ``H``.

    Returns
    -------
    numpy.ndarray

    Notes
    -----
    ``awg = 1 - 2 s^2 / (((H + L) M - M^2 - H L) k / (k - 1))``: the denominator is the largest sample
    variance ``k`` answers with mean ``M`` can have (all at the two ends). NaN when ``k < 2`` and when ``M``
    lies closer to an end than ``(H - L)/k`` allows (``M < (L(k-1) + H)/k`` or ``M > (H(k-1) + L)/k``); 1 when
    ``M`` is ``L`` or ``H`` (everyone at one end), as multilevel.

    References
    ----------
    Brown, R. D., & Hauenstein, N. M. A. (2005). Interrater agreement reconsidered: An alternative to the rwg
    indices. *Organizational Research Methods* 8, 165-184.

    Examples
    --------
    >>> awg_index(np.array([3.0]), np.array([1.0]), np.array([10]), 1, 5)  # R: multilevel::awg(x, g, c(1, 5))
    array([0.55])
    """
    m = np.asarray(mean, dtype=np.float64)
    s2 = np.asarray(variance, dtype=np.float64)
    k = np.asarray(n, dtype=np.float64)
    high, low = float(response_max), float(response_min)
    tol = _MEAN_TOLERANCE * (high - low)
    with np.errstate(invalid="ignore", divide="ignore"):
        maximum = ((high + low) * m - m**2 - high * low) * (k / (k - 1))
        awg = 1.0 - 2.0 * s2 / maximum
        outside = (m < (low * (k - 1) + high) / k - tol) | (m > (high * (k - 1) + low) / k + tol)
    at_end = (np.abs(m - high) <= tol) | (np.abs(m - low) <= tol)
    result: FloatArray = np.where(at_end, 1.0, np.where(outside, np.nan, awg))
    return np.where(k >= 2, result, np.nan)


@dataclass(frozen=True)
class AgreementOptions:
    """Response range, null distributions and missing-data rule for the agreement indices.

    Attributes
    ----------
    response_min, response_max : float
        Lowest and highest option; options are the integers between them.
    nulls : tuple of NullDistribution
        Null distributions for rwg / rwg(j). Empty: uniform, plus LeBreton & Senter's slight and moderate skew
        on a 5-point scale.
    item_missing : {"available", "listwise"}
        "available": each item's variance uses the respondents who answered it. "listwise": only respondents
        who answered every item of the scale (``multilevel``'s ``na.exclude``).
    """

    response_min: float = 1.0
    response_max: float = 5.0
    nulls: tuple[NullDistribution, ...] = ()
    item_missing: Literal["available", "listwise"] = "available"

    def __post_init__(self) -> None:
        if not (np.isfinite(self.response_min) and np.isfinite(self.response_max)):
            raise ValueError("response_min and response_max must be finite")
        if self.response_min >= self.response_max:
            raise ValueError(
                f"response_min ({self.response_min}) must be below response_max ({self.response_max})"
            )
        span = self.response_max - self.response_min
        if span != round(span):
            raise ValueError("response_max - response_min must be a whole number of options apart")
        if self.item_missing not in ("available", "listwise"):
            raise ValueError(f"item_missing must be 'available' or 'listwise', got {self.item_missing!r}")
        names = [null.name for null in self.nulls]
        if len(set(names)) != len(names):
            raise ValueError(f"null distribution names must be unique, got {names}")
        for null in self.nulls:
            if null.n_options != self.n_options:
                raise ValueError(
                    f"null {null.name!r} has {null.n_options} options but the scale has {self.n_options}"
                )

    @property
    def n_options(self) -> int:
        """Number of response options ``A``."""
        return round(self.response_max - self.response_min) + 1

    def null_distributions(self) -> tuple[NullDistribution, ...]:
        """The nulls in use (the defaults when ``nulls`` is empty)."""
        if self.nulls:
            return self.nulls
        if self.n_options == 5:
            return LEBRETON_SENTER_5_POINT[:3]
        return (NullDistribution.uniform(self.n_options),)


@dataclass(frozen=True)
class GroupAgreement:
    """Within-group agreement on one scale's items, for every group.

    Attributes
    ----------
    n_respondents : numpy.ndarray
        Groups: respondents used (any answer, or every answer under listwise).
    item_n, item_mean, item_variance : numpy.ndarray
        Groups x items.
    mean_item_variance : numpy.ndarray
        Groups: ``s^2``, mean of the item variances (NaN unless every item has 2+ answers).
    null_names : tuple of str
        Names of the null distributions (first axis of the rwg arrays).
    null_variances : numpy.ndarray
        ``sigma_E^2`` of each null.
    rwg_j : numpy.ndarray
        Nulls x groups, truncated at 0.
    rwg_j_lindell : numpy.ndarray
        Nulls x groups, Lindell's ``r*wg(j) = 1 - s^2/sigma^2`` (not truncated; can be negative).
    rwg_item : numpy.ndarray
        Nulls x groups x items: single-item rwg, truncated at 0.
    awg_item : numpy.ndarray
        Groups x items: awg of each item.
    awg_j : numpy.ndarray
        Groups: mean of the defined item awg values.
    """

    n_respondents: IntArray
    item_n: IntArray
    item_mean: FloatArray
    item_variance: FloatArray
    mean_item_variance: FloatArray
    null_names: tuple[str, ...]
    null_variances: FloatArray
    rwg_j: FloatArray
    rwg_j_lindell: FloatArray
    rwg_item: FloatArray
    awg_item: FloatArray
    awg_j: FloatArray


def _mean_item_variance(item_variance: FloatArray) -> FloatArray:
    defined = np.all(np.isfinite(item_variance), axis=-1)
    return np.where(defined, np.nan_to_num(item_variance).mean(axis=-1), np.nan)


def _agreement_from_moments(
    n_respondents: IntArray, moments: GroupMoments, options: AgreementOptions
) -> GroupAgreement:
    nulls = options.null_distributions()
    null_variances = np.array([null.variance for null in nulls])
    n_items = moments.variance.shape[1]
    s2 = _mean_item_variance(moments.variance)
    rwg_j = np.stack([rwg_j_from_variance(s2, n_items, v) for v in null_variances])
    lindell = 1.0 - s2[None, :] / null_variances[:, None]
    rwg_item = np.stack([rwg_j_from_variance(moments.variance, 1, v) for v in null_variances])
    awg_item = awg_index(
        moments.mean, moments.variance, moments.n, options.response_min, options.response_max
    )
    defined = np.isfinite(awg_item)
    count = defined.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        awg_j = np.where(count > 0, np.where(defined, awg_item, 0.0).sum(axis=1) / count, np.nan)
    return GroupAgreement(
        n_respondents=n_respondents,
        item_n=moments.n,
        item_mean=moments.mean,
        item_variance=moments.variance,
        mean_item_variance=s2,
        null_names=tuple(null.name for null in nulls),
        null_variances=null_variances,
        rwg_j=rwg_j,
        rwg_j_lindell=lindell,
        rwg_item=rwg_item,
        awg_item=awg_item,
        awg_j=awg_j,
    )


def within_group_agreement(
    items: FloatArray,
    group_ids: IntArray,
    n_groups: int | None = None,
    options: AgreementOptions | None = None,
) -> GroupAgreement:
    """rwg, rwg(j), Lindell's r*wg(j) and awg of one scale's items, for all groups at once.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items of one scale (reverse-keyed), NaN for missing.
    group_ids : numpy.ndarray of int
        Group of each respondent.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).
    options : AgreementOptions, optional

    Returns
    -------
    GroupAgreement

    Notes
    -----
    See :func:`rwg_j_from_variance` and :func:`awg_index`; ``s^2`` is the mean of the ``J`` item variances
    within the group, ``r*wg(j) = 1 - s^2/sigma_E^2`` (Lindell, Brandt & Whitney 1999) and ``awg(j)`` is the
    mean of the items' awg (Brown & Hauenstein 2005). Groups of one respondent get NaN.

    References
    ----------
    James, L. R., Demaree, R. G., & Wolf, G. (1984). *Journal of Applied Psychology* 69, 85-98.
    Lindell, M. K., Brandt, C. J., & Whitney, D. J. (1999). A revised index of interrater agreement for
    multi-item ratings of a single target. *Applied Psychological Measurement* 23, 127-135.
    LeBreton, J. M., & Senter, J. L. (2008). Answers to 20 questions about interrater reliability and
    interrater agreement. *Organizational Research Methods* 11, 815-852.
    Brown, R. D., & Hauenstein, N. M. A. (2005). *Organizational Research Methods* 8, 165-184.

    Examples
    --------
    >>> x = np.array([[4, 5], [4, 4], [5, 5], [2, 3], [4, 1], [3, 5]], dtype=float)
    >>> res = within_group_agreement(x, np.array([0, 0, 0, 1, 1, 1]))
    >>> np.round(res.rwg_j[0], 6)  # R: multilevel::rwg.j(x, g, ranvar = 2)$rwg.j
    array([0.909091, 0.      ])
    """
    opts = options or AgreementOptions()
    x = as_response_matrix(items, "items")
    ids, g = as_group_ids(group_ids, x.shape[0], n_groups)
    answered = ~np.isnan(x)
    rows = np.asarray(answered.all(axis=1) if opts.item_missing == "listwise" else answered.any(axis=1))
    mask = answered & rows[:, None]
    _check_range(x, answered, opts.response_min, opts.response_max)
    xc, centre = _centred(x, mask, (opts.response_min + opts.response_max) / 2.0)
    moments = _moments_from_sums(
        group_sums(mask.astype(np.float64), ids, g),
        group_sums(xc, ids, g),
        group_sums(xc * xc, ids, g),
        centre,
    )
    n_respondents = np.rint(group_sums(rows[:, None].astype(np.float64), ids, g)[:, 0]).astype(np.int64)
    return _agreement_from_moments(n_respondents, moments, opts)


def _check_range(x: FloatArray, answered: BoolArray, low: float, high: float) -> None:
    if not answered.any():
        return
    smallest = np.min(x, initial=np.inf, where=answered)
    largest = np.max(x, initial=-np.inf, where=answered)
    if smallest < low or largest > high:
        raise ValueError(f"answers range from {smallest} to {largest}, outside the scale's {low}..{high}")


# ------------------------------------------------------------------------------------------------------------
# Random-group resampling


@dataclass(frozen=True)
class RandomGroupOptions:
    """Options of the random-group resampling.

    Attributes
    ----------
    n_resamples : int
        Random pseudo-groups drawn for each distinct group size: the null distribution against which each
        group's agreement is judged (0 switches resampling off in the report).
    seed : int
        Seed of the generator (same seed, same result).
    percentile : float
        Percentile of the random-group distribution a real group must exceed (95: a one-sided 5% test).
    n_permutations : int or None
        Full relabellings of all respondents behind the scale-wide statistics: ICC(1) and the mean within-group
        variance of the score (``rgr.agree``) in :func:`random_group_agreement`, and the report's ICC(1) check
        when :attr:`AggregationOptions.icc1_null` is "permutation". None: ``n_resamples``.
    """

    n_resamples: int = 200
    seed: int = 2002
    percentile: float = 95.0
    n_permutations: int | None = None

    def __post_init__(self) -> None:
        if self.n_resamples < 0:
            raise ValueError(f"n_resamples must be >= 0, got {self.n_resamples}")
        if not 50.0 <= self.percentile < 100.0:
            raise ValueError(f"percentile must lie in [50, 100), got {self.percentile}")
        if self.n_permutations is not None and self.n_permutations < 1:
            raise ValueError(f"n_permutations must be >= 1 (or None), got {self.n_permutations}")

    @property
    def permutation_count(self) -> int:
        """Full relabellings actually run: ``n_permutations``, or ``n_resamples`` when it is None."""
        return self.n_resamples if self.n_permutations is None else self.n_permutations


@dataclass(frozen=True)
class RandomGroupAgreement:
    """Real groups against random groups of the same sizes (Bliese & Halverson 2002).

    Attributes
    ----------
    n_resamples : int
        Random pseudo-groups drawn for each distinct group size.
    observed_item_variance : numpy.ndarray
        Groups: the real group's mean item variance ``s^2`` (rwg(j)'s input).
    random_item_variance_quantile : numpy.ndarray
        Groups: the ``(100 - percentile)``-th percentile of ``s^2`` over the random pseudo-groups of the
        group's size. A real group agrees beyond chance when its ``s^2`` is below it.
    item_variance_p_value : numpy.ndarray
        Groups: ``(1 + #{random s^2 <= observed}) / (1 + n_resamples)`` over the pseudo-groups of its size.
    null_names : tuple of str
        Names of the nulls (first axis of ``rwg_j_random_quantile``).
    rwg_j_random_quantile : numpy.ndarray
        Nulls x groups: rwg(j) at ``random_item_variance_quantile``, the random groups' ``percentile``-th
        percentile of rwg(j).
    mean_group_variance : float
        Mean over groups (2+ members) of the within-group variance of the score (``rgr.agree``'s AvGrpVar).
    random_mean_group_variance : numpy.ndarray
        Per full relabelling, the same mean over the random groups.
    random_group_variance_mean, random_group_variance_sd : float
        Mean and SD of all random-group variances (``rgr.agree``'s Av.RanGrp.Var and SD.Rangrp.Var).
    z_value : float
        ``(mean_group_variance - random mean) / (random SD / sqrt(G))`` as ``rgr.agree``.
    mean_variance_p_value : float
        ``(1 + #{random mean variance <= observed}) / (1 + n_permutations)``.
    icc1 : float
        ICC(1) of the score over the real groups.
    random_icc1 : numpy.ndarray
        ICC(1) of the score over the random groups, per full relabelling.
    icc1_random_quantile : float
        ``percentile``-th percentile of ``random_icc1``.
    icc1_p_value : float
        ``(1 + #{random ICC(1) >= observed}) / (1 + n_permutations)``.
    n_permutations : int
        Full relabellings behind the scale-wide fields (``random_mean_group_variance`` ... ``icc1_p_value``).
    pseudo_group_sizes : numpy.ndarray
        The distinct group sizes (2 or more) for which pseudo-groups were drawn, ascending.
    pseudo_group_item_variance : numpy.ndarray
        ``n_resamples`` x sizes: ``s^2`` of each random pseudo-group, the null of every group of that size.
    """

    n_resamples: int
    observed_item_variance: FloatArray
    random_item_variance_quantile: FloatArray
    item_variance_p_value: FloatArray
    null_names: tuple[str, ...]
    rwg_j_random_quantile: FloatArray
    mean_group_variance: float
    random_mean_group_variance: FloatArray
    random_group_variance_mean: float
    random_group_variance_sd: float
    z_value: float
    mean_variance_p_value: float
    icc1: float
    random_icc1: FloatArray
    icc1_random_quantile: float
    icc1_p_value: float
    n_permutations: int
    pseudo_group_sizes: IntArray
    pseudo_group_item_variance: FloatArray


def _random_streams(seed: int | Sequence[int]) -> tuple[np.random.Generator, np.random.Generator]:
    """Two independent generators from one seed: pseudo-groups, then full relabellings.

    Separate streams keep each part reproducible whatever the other draws (e.g. the report's ICC(1) rule).
    """
    pseudo, relabel = np.random.SeedSequence(seed).spawn(2)
    return np.random.default_rng(pseudo), np.random.default_rng(relabel)


def _resample_sums(
    columns: FloatArray, group_ids: IntArray, n_groups: int, n_resamples: int, rng: np.random.Generator
) -> FloatArray:
    """Per-group column sums for ``n_resamples`` random relabellings: resamples x groups x columns.

    Each resample permutes the group labels over the respondents, which keeps every group's size. All the
    resamples of a chunk are summed by one sparse product whose indicator has one entry per (respondent,
    resample): row ``resample * n_groups + label``.
    """
    n, p = columns.shape
    out = np.empty((n_resamples, n_groups, p))
    # Resamples per sparse product: the output block (chunk x groups x columns) should stay cache-sized, since
    # the product scatters into it at random; measured fastest near 1 MB.
    chunk = max(
        1, min(n_resamples, _CACHE_BYTES // max(8 * n_groups * p, 1), _MAX_CHUNK_ENTRIES // max(n, 1))
    )
    shuffled = group_ids.copy()
    labels = np.empty((n, chunk), dtype=np.int64)
    for start in range(0, n_resamples, chunk):
        r = min(chunk, n_resamples - start)
        for column in range(r):
            # Each in-place shuffle is a fresh uniform permutation, whatever order it starts from.
            rng.shuffle(shuffled)
            labels[:, column] = shuffled
        rows = labels[:, :r] + n_groups * np.arange(r, dtype=np.int64)[None, :]
        indicator = sparse.csc_array(
            (np.ones(n * r), rows.ravel(), np.arange(0, n * r + 1, r, dtype=np.int64)),
            shape=(r * n_groups, n),
        )
        out[start : start + r] = np.asarray(indicator @ columns).reshape(r, n_groups, p)
    return out


def _pseudo_group_sizes(sizes: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct group sizes of 2 or more (ascending) and each group's index among them (-1 below 2)."""
    distinct = np.unique(sizes[sizes >= 2])
    index = np.where(sizes >= 2, np.searchsorted(distinct, sizes), -1)
    return distinct.astype(np.int64), index.astype(np.int64)


def _pseudo_group_item_variance(
    item_centred: FloatArray,
    item_used: FloatArray,
    columns: IntArray,
    item_scale: IntArray,
    pool: IntArray | None,
    sizes: IntArray,
    n_draws: int,
    rng: np.random.Generator,
) -> FloatArray:
    """Mean item variance ``s^2`` of random pseudo-groups of every size: draws x sizes x scales.

    ``item_centred`` and ``item_used`` (respondents x items, answers minus a centre and 1/0 for a counted
    answer) are read only at ``columns``, whose scales ``item_scale`` numbers ``0 .. S-1``, and at the rows
    ``pool`` (None: every row). Draw ``r`` is one uniformly random ordering of ``max(sizes)`` distinct pool
    members; its first ``k`` form the size-``k`` pseudo-group, a uniformly random ``k``-subset (sampling
    without replacement, as a permutation of all respondents gives each group), so one cumulative sum along
    the ordering gives the pseudo-groups of every size. The cost is ``n_draws x max(sizes)`` rows, not
    ``n_draws x`` respondents.
    """
    n_scales = int(item_scale.max()) + 1 if item_scale.size else 0
    out = np.full((n_draws, sizes.size, n_scales), np.nan)
    if sizes.size == 0 or columns.size == 0:
        return out
    n_pool = item_centred.shape[0] if pool is None else pool.size
    longest = int(sizes[-1])
    last = sizes - 1
    chunk = max(1, min(n_draws, _DRAW_CHUNK_ENTRIES // (longest * columns.size)))
    for start in range(0, n_draws, chunk):
        r = min(chunk, n_draws - start)
        # Generator.choice without replacement is Floyd's algorithm (O(longest)) for small samples and a
        # partial shuffle for large ones; shuffle=True makes the order, hence every prefix, uniformly random.
        order = np.concatenate([rng.choice(n_pool, size=longest, replace=False) for _ in range(r)])
        picked = np.ix_(order if pool is None else pool[order], columns)
        values = item_centred[picked].reshape(r, longest, columns.size)
        count = np.cumsum(item_used[picked].reshape(r, longest, columns.size), axis=1)[:, last]
        total = np.cumsum(values, axis=1)[:, last]
        squares = np.cumsum(values * values, axis=1)[:, last]
        with np.errstate(invalid="ignore", divide="ignore"):
            variance = np.where(count > 1, np.maximum(squares - total**2 / count, 0.0) / (count - 1), np.nan)
        for scale in range(n_scales):
            out[start : start + r, :, scale] = _mean_item_variance(variance[..., item_scale == scale])
    return out


def _null_by_size(
    random_s2: FloatArray, size_index: IntArray, observed: FloatArray, percentile: float
) -> tuple[FloatArray, FloatArray]:
    """Each group's ``(100 - percentile)``-th percentile and p-value from its size's pseudo-groups.

    ``random_s2`` is draws x sizes, ``size_index`` each group's column (-1: no null, the group is under 2).
    """
    n_draws = random_s2.shape[0]
    has_null = size_index >= 0
    column = np.maximum(size_index, 0)
    if random_s2.shape[1] == 0:
        nothing = np.full(size_index.shape, np.nan)
        return nothing, nothing.copy()
    by_size = _nan_quantile(random_s2, 1.0 - percentile / 100.0)
    quantile = np.where(has_null, by_size[column], np.nan)
    hits = np.zeros(size_index.shape)
    # Blocks of groups bound the draws x groups comparison (NaN draws never count as at most the observed).
    block = max(1, _COMPARE_ENTRIES // max(n_draws, 1))
    for start in range(0, size_index.size, block):
        stop = start + block
        hits[start:stop] = (random_s2[:, column[start:stop]] <= observed[None, start:stop]).sum(axis=0)
    p_value = np.where(has_null & np.isfinite(observed), (1.0 + hits) / (1.0 + n_draws), np.nan)
    return quantile, p_value


def _upper_p_value(observed: FloatArray, random: FloatArray, at_least: bool) -> FloatArray:
    hits = (random >= observed) if at_least else (random <= observed)
    result: FloatArray = (1.0 + hits.sum(axis=0)) / (1.0 + random.shape[0])
    return result


def _relabelled_score_moments(
    scores: FloatArray, ids: IntArray, n_groups: int, n_permutations: int, rng: np.random.Generator
) -> tuple[GroupMoments, GroupMoments]:
    """Score moments over the real groups (groups x S) and over ``n_permutations`` full relabellings
    (relabellings x groups x S); ``scores`` (respondents x S) has no NaN."""
    n_scales = scores.shape[1]
    sizes = np.bincount(ids, minlength=n_groups).astype(np.float64)
    centre = scores.mean(axis=0) if scores.shape[0] else np.zeros(n_scales)
    sc = scores - centre
    columns = np.column_stack([sc, sc * sc])
    del sc

    def moments(sums: FloatArray) -> GroupMoments:
        count = np.broadcast_to(sizes[:, None], (*sums.shape[:-1], n_scales))
        return _moments_from_sums(count, sums[..., :n_scales], sums[..., n_scales:], centre)

    real = moments(group_sums(columns, ids, n_groups))
    return real, moments(_resample_sums(columns, ids, n_groups, n_permutations, rng))


def _random_icc1(random: GroupMoments, scale: int, group_size: Literal["mean", "n0"]) -> FloatArray:
    """ICC(1) of one scale in each relabelling (relabellings play the role of variables)."""
    moments = GroupMoments(
        n=random.n[..., scale].T, mean=random.mean[..., scale].T, variance=random.variance[..., scale].T
    )
    return _icc_from_moments(moments, group_size).icc1


def random_group_agreement(
    items: FloatArray,
    group_ids: IntArray,
    n_groups: int | None = None,
    scores: FloatArray | None = None,
    agreement: AgreementOptions | None = None,
    options: RandomGroupOptions | None = None,
) -> RandomGroupAgreement:
    """Compare real groups with random groups of the same sizes, all vectorised.

    Parameters
    ----------
    items : numpy.ndarray
        Respondents x items of one scale (reverse-keyed), NaN for missing.
    group_ids : numpy.ndarray of int
        Group of each respondent.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).
    scores : numpy.ndarray, optional
        Scale score of each respondent (default: mean of the answered items). Respondents with a NaN score are
        left out before any random grouping.
    agreement : AgreementOptions, optional
        Nulls and missing-data rule (as :func:`within_group_agreement`).
    options : RandomGroupOptions, optional
        Pseudo-groups per size, full relabellings, seed and percentile (``n_resamples`` must be at least 1).

    Returns
    -------
    RandomGroupAgreement

    Notes
    -----
    Random groups are formed by random assignment with the sizes of the real groups (Bliese & Halverson's
    random-group resampling, ``multilevel::rgr.agree`` with ``mix.data``'s shuffle).

    Per group, the null of the mean item variance ``s^2`` (so of rwg(j), which falls as ``s^2`` rises): in a
    random relabelling the pseudo-group of a group of size ``k`` is a uniformly random ``k``-subset of the
    pooled respondents, so its null depends only on ``k`` and the pooled answers. For every distinct size
    ``n_resamples`` such subsets are drawn (without replacement, the prefixes of one random ordering per
    draw), which costs ``n_resamples x max(k)`` respondents instead of ``n_resamples x N``; every group of
    that size is judged against them. A real group agrees beyond chance when its ``s^2`` is below the
    ``(100 - percentile)``-th percentile.

    Scale-wide, from ``n_permutations`` full relabellings of the score: the mean within-group variance over
    groups and its random distribution (``rgr.agree``'s z-value), and ICC(1) and its random distribution (near
    ``-1/(k - 1)``-ish under random grouping); a real ICC(1) above the ``percentile``-th percentile shows group
    membership matters. These need the joint grouping, so they are not drawn per size.

    References
    ----------
    Bliese, P. D., & Halverson, R. R. (2002). Using random group resampling in multilevel research: An
    example of the buffering effects of leadership climate. *The Leadership Quarterly* 13, 53-68.
    Bliese, P. D. (2022). multilevel 2.7 (``rgr.agree``, ``mix.data``).
    Floyd, R. W., & Bentley, J. (1987). Programming pearls: A sample of brilliance. *Communications of the
    ACM* 30, 754-757 (sampling without replacement).

    Examples
    --------
    >>> rng = np.random.default_rng(1)
    >>> g = np.repeat(np.arange(20), 10)
    >>> x = np.clip(np.round(3 + rng.normal(0, 1, 20)[g][:, None] + rng.normal(0, 0.6, (200, 4))), 1, 5)
    >>> res = random_group_agreement(x, g, options=RandomGroupOptions(n_resamples=99, seed=7))
    >>> round(res.mean_group_variance, 4), bool(res.z_value < -1.645), bool(res.icc1 > res.icc1_random_quantile)
    (0.1149, True, True)

    ``summary(multilevel::rgr.agree(rowMeans(x), g, 2000))`` gives the same Av.RealGrp.Var (0.1149) and a
    z-value far below -1.645 (its random part depends on R's generator).
    """
    opts = options or RandomGroupOptions()
    if opts.n_resamples < 1:
        raise ValueError("random_group_agreement needs n_resamples >= 1")
    agree = agreement or AgreementOptions()
    x = as_response_matrix(items, "items")
    ids, g = as_group_ids(group_ids, x.shape[0], n_groups)
    answered = ~np.isnan(x)
    _check_range(x, answered, agree.response_min, agree.response_max)
    if scores is None:
        with np.errstate(invalid="ignore", divide="ignore"):
            score = np.where(answered, x, 0.0).sum(axis=1) / answered.sum(axis=1)
    else:
        score = np.asarray(scores, dtype=np.float64)
        if score.shape != (x.shape[0],):
            raise ValueError(f"scores must have one value per respondent ({x.shape[0]}), got {score.shape}")
    keep = ~np.isnan(score)
    x, answered, score, ids = x[keep], answered[keep], score[keep], ids[keep]
    rows: BoolArray = answered.all(axis=1) if agree.item_missing == "listwise" else answered.any(axis=1)
    mask = answered & rows[:, None]
    centred, centre = _centred(x, mask, (agree.response_min + agree.response_max) / 2.0)
    used = mask.astype(np.float64)
    n_items = x.shape[1]
    sums = group_sums(np.column_stack([used, centred, centred * centred]), ids, g)
    item_moments = _moments_from_sums(
        sums[:, :n_items], sums[:, n_items : 2 * n_items], sums[:, 2 * n_items :], centre
    )
    observed = _mean_item_variance(item_moments.variance)

    pseudo_rng, relabel_rng = _random_streams(opts.seed)
    sizes, size_index = _pseudo_group_sizes(np.bincount(ids, minlength=g))
    random_s2 = _pseudo_group_item_variance(
        centred,
        used,
        np.arange(n_items),
        np.zeros(n_items, dtype=np.int64),
        None,
        sizes,
        opts.n_resamples,
        pseudo_rng,
    )[..., 0]
    quantile, p_value = _null_by_size(random_s2, size_index, observed, opts.percentile)
    nulls = agree.null_distributions()
    rwg_quantile = np.stack([rwg_j_from_variance(quantile, n_items, null.variance) for null in nulls])

    n_permutations = opts.permutation_count
    real, random = _relabelled_score_moments(score[:, None], ids, g, n_permutations, relabel_rng)
    real_var = real.variance[:, 0]
    random_var = random.variance[..., 0]
    with _quiet_nan_warnings():
        mean_var = float(np.nanmean(real_var))
        random_mean_var = np.nanmean(random_var, axis=1)
    pooled = random_var[np.isfinite(random_var)]
    pooled_mean = float(pooled.mean()) if pooled.size else float("nan")
    pooled_sd = float(pooled.std(ddof=1)) if pooled.size > 1 else float("nan")
    n_real = int(np.isfinite(real_var).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        z_value = float((mean_var - pooled_mean) / (pooled_sd / np.sqrt(n_real)))
    variance_p = float(_upper_p_value(np.array(mean_var), random_mean_var, at_least=False))

    icc1 = float(_icc_from_moments(real, "mean").icc1[0])
    random_icc1 = _random_icc1(random, 0, "mean")
    icc1_quantile = float(_nan_quantile(random_icc1[:, None], opts.percentile / 100.0)[0])
    icc1_p = (
        float(_upper_p_value(np.array(icc1), random_icc1, at_least=True)) if np.isfinite(icc1) else np.nan
    )
    return RandomGroupAgreement(
        n_resamples=opts.n_resamples,
        observed_item_variance=observed,
        random_item_variance_quantile=quantile,
        item_variance_p_value=p_value,
        null_names=tuple(null.name for null in nulls),
        rwg_j_random_quantile=rwg_quantile,
        mean_group_variance=mean_var,
        random_mean_group_variance=random_mean_var,
        random_group_variance_mean=pooled_mean,
        random_group_variance_sd=pooled_sd,
        z_value=z_value,
        mean_variance_p_value=variance_p,
        icc1=icc1,
        random_icc1=random_icc1,
        icc1_random_quantile=icc1_quantile,
        icc1_p_value=icc1_p,
        n_permutations=n_permutations,
        pseudo_group_sizes=sizes,
        pseudo_group_item_variance=random_s2,
    )


def _nan_quantile(values: FloatArray, q: float) -> FloatArray:
    """Quantile of each column ignoring NaN, as ``np.nanquantile(..., axis=0)`` (linear, R's type 7),
    vectorised.

    numpy's nanquantile with an axis loops over columns in Python; sorting once and interpolating is the same
    definition for all columns at once.
    """
    ordered = np.sort(values, axis=0)
    count = np.isfinite(values).sum(axis=0)
    position = q * np.maximum(count - 1, 0)
    below = np.floor(position).astype(np.int64)
    above = np.minimum(below + 1, np.maximum(count - 1, 0))
    columns = np.arange(values.shape[1])
    low = ordered[below, columns]
    high = ordered[above, columns]
    result: FloatArray = np.where(count > 0, low + (position - below) * (high - low), np.nan)
    return result


def _f_distribution_icc1_quantile(icc: GroupICC, percentile: float = 95.0) -> FloatArray:
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
    >>> print(np.round(_f_distribution_icc1_quantile(group_icc(y, g)), 6))
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


# ------------------------------------------------------------------------------------------------------------
# Aggregation report


@dataclass(frozen=True)
class AggregationOptions:
    """Rules of :func:`aggregation_report`.

    Attributes
    ----------
    min_respondents : int
        Fewest respondents with a scale score for a group to be aggregated (at least 2).
    ci_level : float
        Coverage of the t interval of each group mean.
    nulls : tuple of NullDistribution
        Null distributions for rwg(j) (empty: uniform, plus slight and moderate skew on a 5-point scale).
    item_missing : {"available", "listwise"}
        Missing-answer rule of the agreement indices (see :class:`AgreementOptions`).
    verdict_null : str
        Null whose rwg(j) the verdict uses.
    min_rwg_j : float or None
        Optional fixed rwg(j) threshold (e.g. 0.70); None applies none.
    icc_group_size : {"mean", "n0"}
        Group size in ICC(1) (see :func:`group_icc`).
    resampling : RandomGroupOptions
        Random-group resampling; ``n_resamples = 0`` skips the two random-group checks.
    icc1_null : {"f_distribution", "permutation"}
        Random-grouping distribution of ICC(1) for the scale-wide check: "f_distribution" (default) reads its
        percentile off ``F(G - 1, N - G)`` (:func:`_f_distribution_icc1_quantile`; no relabelling, the ANOVA
        F test); "permutation" relabels all respondents ``resampling.permutation_count`` times.
    """

    min_respondents: int = 5
    ci_level: float = 0.95
    nulls: tuple[NullDistribution, ...] = ()
    item_missing: Literal["available", "listwise"] = "available"
    verdict_null: str = "uniform"
    min_rwg_j: float | None = None
    icc_group_size: Literal["mean", "n0"] = "mean"
    resampling: RandomGroupOptions = field(default_factory=RandomGroupOptions)
    icc1_null: Literal["f_distribution", "permutation"] = "f_distribution"

    def __post_init__(self) -> None:
        if self.min_respondents < 2:
            raise ValueError(f"min_respondents must be at least 2, got {self.min_respondents}")
        if not 0.0 < self.ci_level < 1.0:
            raise ValueError(f"ci_level must lie strictly between 0 and 1, got {self.ci_level}")
        if self.min_rwg_j is not None and not 0.0 <= self.min_rwg_j <= 1.0:
            raise ValueError(f"min_rwg_j must lie in [0, 1], got {self.min_rwg_j}")
        if self.icc_group_size not in ("mean", "n0"):
            raise ValueError(f"icc_group_size must be 'mean' or 'n0', got {self.icc_group_size!r}")
        if self.icc1_null not in ("f_distribution", "permutation"):
            raise ValueError(f"icc1_null must be 'f_distribution' or 'permutation', got {self.icc1_null!r}")


@dataclass(frozen=True)
class AggregationReport:
    """Per scale and group: the group score, its agreement, and whether to aggregate (arrays scales x groups).

    Attributes
    ----------
    scale_names, null_names : tuple of str
        Labels of the scale axis and of the null axis of ``rwg_j``.
    n : numpy.ndarray
        Respondents with a scale score (the service applies any small-number suppression).
    mean, sd, ci_lower, ci_upper : numpy.ndarray
        Mean and SD of the scale score and the t interval of the mean.
    rwg_j, rwg_j_lindell : numpy.ndarray
        Scales x nulls x groups.
    awg_j : numpy.ndarray
        Mean item awg.
    icc1, icc2, icc_p_value : numpy.ndarray
        Per scale, from the scale scores.
    n_resamples : int
        Random pseudo-groups per group size behind the next fields (0: not run, fields NaN).
    icc1_random_quantile : numpy.ndarray
        Per scale: the random groups' percentile of ICC(1) (see :attr:`AggregationOptions.icc1_null`).
    rwg_j_random_quantile : numpy.ndarray
        Scales x groups: the random pseudo-groups' percentile of rwg(j) (verdict null) for groups of that size.
    rwg_j_p_value : numpy.ndarray
        Scales x groups: share of random groups at least as agreeing (see :class:`RandomGroupAgreement`).
    aggregate : numpy.ndarray
        True where every check passes.
    reason_flags : numpy.ndarray
        Bit mask of :data:`TOO_FEW_RESPONDENTS`, :data:`ICC1_NOT_ABOVE_RANDOM`,
        :data:`RWG_J_NOT_ABOVE_RANDOM`, :data:`RWG_J_BELOW_THRESHOLD`, :data:`AGREEMENT_UNDEFINED`.
    verdict : numpy.ndarray
        "aggregate" or "do not aggregate".
    reason : numpy.ndarray
        The failed checks in words ("" when aggregating).
    """

    scale_names: tuple[str, ...]
    null_names: tuple[str, ...]
    n: IntArray
    mean: FloatArray
    sd: FloatArray
    ci_lower: FloatArray
    ci_upper: FloatArray
    rwg_j: FloatArray
    rwg_j_lindell: FloatArray
    awg_j: FloatArray
    icc1: FloatArray
    icc2: FloatArray
    icc_p_value: FloatArray
    n_resamples: int
    icc1_random_quantile: FloatArray
    rwg_j_random_quantile: FloatArray
    rwg_j_p_value: FloatArray
    aggregate: BoolArray
    reason_flags: IntArray
    verdict: NDArray[np.str_]
    reason: NDArray[np.str_]


def _identical_columns(flags: BoolArray) -> IntArray:
    """For each column, the index of the first column equal to it (a handful of scales: pairwise checks)."""
    first = np.arange(flags.shape[1], dtype=np.int64)
    for column in range(flags.shape[1]):
        for earlier in range(column):
            if first[earlier] == earlier and np.array_equal(flags[:, earlier], flags[:, column]):
                first[column] = earlier
                break
    return first


def _reason_text(flags: IntArray) -> NDArray[np.str_]:
    # Few distinct flag combinations occur: word each once, then index.
    distinct, inverse = np.unique(flags, return_inverse=True)
    words = ["; ".join(text for bit, text in _REASON_TEXT if value & bit) for value in distinct.tolist()]
    return np.asarray(words, dtype=np.str_)[inverse].reshape(flags.shape)


def aggregation_report(
    responses: FloatArray,
    spec: ScaleSpec,
    group_ids: IntArray,
    n_groups: int | None = None,
    options: AggregationOptions | None = None,
) -> AggregationReport:
    """Score every scale, summarise every group, and say whether each group's answers may be aggregated.

    Parameters
    ----------
    responses : numpy.ndarray
        Respondents x items (raw answers, before reverse-keying), NaN for a missing answer.
    spec : ScaleSpec
        Scales, reverse keys, response range and minimum answers.
    group_ids : numpy.ndarray of int
        Group (organisation, team, ward...) of each respondent.
    n_groups : int, optional
        Number of groups (default ``max(group_ids) + 1``).
    options : AggregationOptions, optional

    Returns
    -------
    AggregationReport

    Notes
    -----
    For each scale: scale scores (:func:`score_scales`); per group ``n``, mean, SD and ``mean +- t_{n-1} sd /
    sqrt(n)``; rwg(j) under each null and awg(j) (:func:`within_group_agreement`) over the respondents with a
    score; ICC(1), ICC(2) of the scores (:func:`group_icc`). A group is aggregated when

    1. it has at least ``min_respondents`` scored respondents and a defined rwg(j);
    2. the scale's ICC(1) is above the ``percentile``-th percentile of ICC(1) over random groups (Bliese &
       Halverson 2002): group membership explains more variance than chance. By default that percentile comes
       from the F distribution (the one-way ANOVA F test, Pitman 1937), else from full relabellings;
    3. the group's rwg(j) is above the ``percentile``-th percentile of rwg(j) of random pseudo-groups of the
       same size (its mean item variance below theirs): ``resampling.n_resamples`` pseudo-groups per distinct
       size, drawn from the pooled scored respondents (see :func:`random_group_agreement`);
    4. rwg(j) is at least ``min_rwg_j`` when set.

    Checks 2 and 3 are made when ``resampling.n_resamples > 0``. Everything is a fixed number of passes over
    the data for all groups and scales at once; the pseudo-groups cost ``n_resamples x`` the largest group
    size in respondents, not ``n_resamples x N``.

    References
    ----------
    Bliese, P. D. (2000). In Klein & Kozlowski (Eds.), *Multilevel theory, research, and methods in
    organizations* (pp. 349-381). Jossey-Bass.
    Bliese, P. D., & Halverson, R. R. (2002). *The Leadership Quarterly* 13, 53-68.
    LeBreton, J. M., & Senter, J. L. (2008). *Organizational Research Methods* 11, 815-852.
    Brown, R. D., & Hauenstein, N. M. A. (2005). *Organizational Research Methods* 8, 165-184.
    Pitman, E. J. G. (1937). *Biometrika* 29, 322-335.

    Examples
    --------
    >>> rng = np.random.default_rng(3)
    >>> g = np.repeat(np.arange(30), 12)
    >>> x = np.clip(np.round(3 + rng.normal(0, 1, 30)[g][:, None] + rng.normal(0, 0.5, (360, 4))), 1, 5)
    >>> spec = ScaleSpec((0, 0, 0, 0), (False,) * 4, 1, 5, (3,))
    >>> rep = aggregation_report(x, spec, g, options=AggregationOptions(resampling=RandomGroupOptions(99)))
    >>> int(rep.n[0, 0]), bool(rep.icc1[0] > rep.icc1_random_quantile[0])  # R: multilevel::ICC1, rgr.agree
    (12, True)
    """
    opts = options or AggregationOptions()
    x = as_response_matrix(responses)
    ids, g = as_group_ids(group_ids, x.shape[0], n_groups)
    agree = AgreementOptions(spec.response_min, spec.response_max, opts.nulls, opts.item_missing)
    nulls = agree.null_distributions()
    null_names = tuple(null.name for null in nulls)
    if opts.verdict_null not in null_names:
        raise ValueError(f"verdict_null {opts.verdict_null!r} is not one of the nulls {null_names}")
    verdict_index = null_names.index(opts.verdict_null)
    n_scales = spec.n_scales

    keyed = key_responses(x, spec)
    score = keyed.scores.score
    has_score = ~np.isnan(score)
    midpoint = keyed.midpoint
    sc = np.where(has_score, score - midpoint, 0.0)
    score_moments = _moments_from_sums(
        group_sums(has_score.astype(np.float64), ids, g),
        group_sums(sc, ids, g),
        group_sums(sc * sc, ids, g),
        np.asarray(midpoint),
    )
    icc = _icc_from_moments(score_moments, opts.icc_group_size)

    item_scale = np.asarray(spec.item_scale)
    columns = np.flatnonzero(item_scale >= 0)
    scale_of = item_scale[columns]
    every_column = columns.size == x.shape[1]
    centred = keyed.centred if every_column else keyed.centred[:, columns]
    answered = keyed.answered if every_column else keyed.answered[:, columns]
    if opts.item_missing == "listwise":
        sizes = np.bincount(scale_of, minlength=n_scales)
        used = has_score & (keyed.scores.n_answered == sizes[None, :])
    else:
        used = has_score
    if not used.all():
        # centred and answered belong to this call: blank, in place, the answers of unscored respondents.
        unused = ~used[:, scale_of]
        np.copyto(centred, 0.0, where=unused)
        np.copyto(answered, 0.0, where=unused)
        del unused
    squares = centred * centred
    item_moments = _moments_from_sums(
        group_sums(answered, ids, g),
        group_sums(centred, ids, g),
        group_sums(squares, ids, g),
        np.asarray(midpoint),
    )
    del squares
    n_used = np.rint(group_sums(used.astype(np.float64), ids, g)).astype(np.int64)

    n = score_moments.n.T
    mean = score_moments.mean.T
    with np.errstate(invalid="ignore"):
        sd = np.sqrt(score_moments.variance.T)
    t_quantile = np.full(n.shape, np.nan)
    enough = n >= 2
    t_quantile[enough] = stats.t.ppf(0.5 + opts.ci_level / 2.0, n[enough] - 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        half_width = t_quantile * sd / np.sqrt(n)

    rwg_j = np.full((n_scales, len(nulls), g), np.nan)
    lindell = np.full((n_scales, len(nulls), g), np.nan)
    awg_j = np.full((n_scales, g), np.nan)
    random_quantile = np.full((n_scales, g), np.nan)
    p_value = np.full((n_scales, g), np.nan)
    icc1_quantile = np.full(n_scales, np.nan)
    not_above_random = np.zeros((n_scales, g), dtype=bool)
    icc1_not_above = np.zeros(n_scales, dtype=bool)
    resamples = opts.resampling.n_resamples
    mean_item_variance = np.full((n_scales, g), np.nan)
    for scale in range(n_scales):
        chosen = scale_of == scale
        moments = GroupMoments(
            n=item_moments.n[:, chosen],
            mean=item_moments.mean[:, chosen],
            variance=item_moments.variance[:, chosen],
        )
        agreement = _agreement_from_moments(n_used[:, scale], moments, agree)
        rwg_j[scale] = agreement.rwg_j
        lindell[scale] = agreement.rwg_j_lindell
        awg_j[scale] = agreement.awg_j
        mean_item_variance[scale] = agreement.mean_item_variance

    if resamples > 0:
        percentile = opts.resampling.percentile
        if opts.icc1_null == "f_distribution":
            icc1_quantile = _f_distribution_icc1_quantile(icc, percentile)
        verdict_variance = nulls[verdict_index].variance
        # Scales scored for the same respondents share one pool, hence one set of pseudo-groups.
        pattern = _identical_columns(has_score)
        for shared in np.unique(pattern).tolist():
            scales = np.flatnonzero(pattern == shared)
            keep = has_score[:, scales[0]]
            pool = None if keep.all() else np.flatnonzero(keep)
            in_scales = np.isin(scale_of, scales)
            pseudo_rng, relabel_rng = _random_streams((opts.resampling.seed, shared))
            sizes, size_index = _pseudo_group_sizes(n[scales[0]])
            random_s2 = _pseudo_group_item_variance(
                centred,
                answered,
                np.flatnonzero(in_scales),
                np.searchsorted(scales, scale_of[in_scales]),
                pool,
                sizes,
                resamples,
                pseudo_rng,
            )
            for local, scale in enumerate(scales.tolist()):
                observed = mean_item_variance[scale]
                quantile, p_value[scale] = _null_by_size(
                    random_s2[..., local], size_index, observed, percentile
                )
                scale_items = int((scale_of == scale).sum())
                random_quantile[scale] = rwg_j_from_variance(quantile, scale_items, verdict_variance)
                not_above_random[scale] = ~(observed < quantile) & np.isfinite(observed)
            if opts.icc1_null == "permutation":
                pooled_scores = score[:, scales] if pool is None else score[np.ix_(pool, scales)]
                pooled_ids = ids if pool is None else ids[pool]
                count = opts.resampling.permutation_count
                _, random = _relabelled_score_moments(pooled_scores, pooled_ids, g, count, relabel_rng)
                for local, scale in enumerate(scales.tolist()):
                    random_icc1 = _random_icc1(random, local, opts.icc_group_size)
                    icc1_quantile[scale] = _nan_quantile(random_icc1[:, None], percentile / 100.0)[0]
        icc1_not_above = ~(icc.icc1 > icc1_quantile)

    chosen_rwg = rwg_j[:, verdict_index, :]
    few = n < opts.min_respondents
    flags = np.where(few, TOO_FEW_RESPONDENTS, 0)
    flags |= np.where(~few & np.isnan(chosen_rwg), AGREEMENT_UNDEFINED, 0)
    flags |= np.where(icc1_not_above[:, None], ICC1_NOT_ABOVE_RANDOM, 0)
    flags |= np.where(not_above_random, RWG_J_NOT_ABOVE_RANDOM, 0)
    if opts.min_rwg_j is not None:
        flags |= np.where(chosen_rwg < opts.min_rwg_j, RWG_J_BELOW_THRESHOLD, 0)
    flags = flags.astype(np.int64)
    aggregate = flags == 0
    names = spec.scale_names or tuple(f"scale_{i}" for i in range(n_scales))
    return AggregationReport(
        scale_names=names,
        null_names=null_names,
        n=n,
        mean=mean,
        sd=sd,
        ci_lower=mean - half_width,
        ci_upper=mean + half_width,
        rwg_j=rwg_j,
        rwg_j_lindell=lindell,
        awg_j=awg_j,
        icc1=icc.icc1,
        icc2=icc.icc2,
        icc_p_value=icc.p_value,
        n_resamples=resamples,
        icc1_random_quantile=icc1_quantile,
        rwg_j_random_quantile=random_quantile,
        rwg_j_p_value=p_value,
        aggregate=aggregate,
        reason_flags=flags,
        verdict=np.where(aggregate, "aggregate", "do not aggregate"),
        reason=_reason_text(flags),
    )
