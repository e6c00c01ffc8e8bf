"""Within-group agreement: rwg and rwg(j) against uniform and skewed null distributions (James, Demaree &
Wolf 1984; LeBreton & Senter 2008), Lindell's r*wg(j) and Brown & Hauenstein's awg (R ``multilevel``), for every
group at once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.psychometrics.group_icc import GroupMoments, centred_answers, moments_from_sums
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums

# Relative tolerance for "the group mean sits on the scale end or on awg's admissibility bound": group means
# are sums divided by counts, so a mean that is exactly 5 in R can be 4.999999999999999 here.
_MEAN_TOLERANCE = 1e-9


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


def mean_item_variance(item_variance: FloatArray) -> FloatArray:
    """Mean over the items (last axis) of the within-group item variances; NaN where any is undefined."""
    defined = np.all(np.isfinite(item_variance), axis=-1)
    return np.where(defined, np.nan_to_num(item_variance).mean(axis=-1), np.nan)


def agreement_from_moments(
    n_respondents: IntArray, moments: GroupMoments, options: AgreementOptions
) -> GroupAgreement:
    """rwg(j), r*wg(j) and awg of every group from its item moments (shared with the aggregation report)."""
    nulls = options.null_distributions()
    null_variances = np.array([null.variance for null in nulls])
    n_items = moments.variance.shape[1]
    s2 = mean_item_variance(moments.variance)
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
    check_range(x, answered, opts.response_min, opts.response_max)
    xc, centre = centred_answers(x, mask, (opts.response_min + opts.response_max) / 2.0)
    moments = moments_from_sums(
        group_sums(mask.astype(np.float64), ids, g),
        group_sums(xc, ids, g),
        group_sums(xc * xc, ids, g),
        centre,
    )
    n_respondents = np.rint(group_sums(rows[:, None].astype(np.float64), ids, g)[:, 0]).astype(np.int64)
    return agreement_from_moments(n_respondents, moments, opts)


def check_range(x: FloatArray, answered: BoolArray, low: float, high: float) -> None:
    """A clear error when an answer lies outside the response range [low, high]."""
    if not answered.any():
        return
    smallest = np.min(x, initial=np.inf, where=answered)
    largest = np.max(x, initial=-np.inf, where=answered)
    if smallest < low or largest > high:
        raise ValueError(f"answers range from {smallest} to {largest}, outside the scale's {low}..{high}")


__all__ = [
    "LEBRETON_SENTER_5_POINT",
    "AgreementOptions",
    "GroupAgreement",
    "NullDistribution",
    "awg_index",
    "rwg_j_from_variance",
    "uniform_null_variance",
    "within_group_agreement",
]
