"""The case for aggregating individual answers to a group score, group by group: enough respondents,
ICC(1) above random groups, rwg(j) above its random-group percentile and a fixed threshold, with the reasons
when a group's score should not be shown as a group property.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from scipy import stats

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.psychometrics.agreement import (
    AgreementOptions,
    NullDistribution,
    agreement_from_moments,
    rwg_j_from_variance,
)
from forewarn.stats.psychometrics.group_icc import (
    GroupMoments,
    f_distribution_icc1_quantile,
    icc_from_moments,
    moments_from_sums,
)
from forewarn.stats.psychometrics.random_groups import (
    RandomGroupOptions,
    nan_quantile,
    null_by_size,
    pseudo_group_item_variance,
    pseudo_group_sizes,
    random_group_icc1,
    random_streams,
    relabelled_score_moments,
)
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums
from forewarn.stats.psychometrics.scales import ScaleSpec, key_responses

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
        percentile off ``F(G - 1, N - G)`` (:func:`f_distribution_icc1_quantile`; no relabelling, the ANOVA
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
    score_moments = moments_from_sums(
        group_sums(has_score.astype(np.float64), ids, g),
        group_sums(sc, ids, g),
        group_sums(sc * sc, ids, g),
        np.asarray(midpoint),
    )
    icc = icc_from_moments(score_moments, opts.icc_group_size)

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
    item_moments = moments_from_sums(
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
        agreement = agreement_from_moments(n_used[:, scale], moments, agree)
        rwg_j[scale] = agreement.rwg_j
        lindell[scale] = agreement.rwg_j_lindell
        awg_j[scale] = agreement.awg_j
        mean_item_variance[scale] = agreement.mean_item_variance

    if resamples > 0:
        percentile = opts.resampling.percentile
        if opts.icc1_null == "f_distribution":
            icc1_quantile = f_distribution_icc1_quantile(icc, percentile)
        verdict_variance = nulls[verdict_index].variance
        # Scales scored for the same respondents share one pool, hence one set of pseudo-groups.
        pattern = _identical_columns(has_score)
        for shared in np.unique(pattern).tolist():
            scales = np.flatnonzero(pattern == shared)
            keep = has_score[:, scales[0]]
            pool = None if keep.all() else np.flatnonzero(keep)
            in_scales = np.isin(scale_of, scales)
            pseudo_rng, relabel_rng = random_streams((opts.resampling.seed, shared))
            sizes, size_index = pseudo_group_sizes(n[scales[0]])
            random_s2 = pseudo_group_item_variance(
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
                quantile, p_value[scale] = null_by_size(
                    random_s2[..., local], size_index, observed, percentile
                )
                scale_items = int((scale_of == scale).sum())
                random_quantile[scale] = rwg_j_from_variance(quantile, scale_items, verdict_variance)
                not_above_random[scale] = ~(observed < quantile) & np.isfinite(observed)
            if opts.icc1_null == "permutation":
                pooled_scores = score[:, scales] if pool is None else score[np.ix_(pool, scales)]
                pooled_ids = ids if pool is None else ids[pool]
                count = opts.resampling.permutation_count
                _, random = relabelled_score_moments(pooled_scores, pooled_ids, g, count, relabel_rng)
                for local, scale in enumerate(scales.tolist()):
                    random_icc1 = random_group_icc1(random, local, opts.icc_group_size)
                    icc1_quantile[scale] = nan_quantile(random_icc1[:, None], percentile / 100.0)[0]
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


__all__ = [
    "AGREEMENT_UNDEFINED",
    "ICC1_NOT_ABOVE_RANDOM",
    "RWG_J_BELOW_THRESHOLD",
    "RWG_J_NOT_ABOVE_RANDOM",
    "TOO_FEW_RESPONDENTS",
    "AggregationOptions",
    "AggregationReport",
    "aggregation_report",
]
