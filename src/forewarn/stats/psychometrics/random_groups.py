"""Random-group resampling (Bliese & Halverson 2002): is agreement or ICC(1) above what groups of the same
sizes drawn at random would show?

A group's random-group null depends only on its size, so it is drawn once per distinct size (prefix sums along
random orderings), not by relabelling every respondent; only the scale-wide random-group statistics need full
relabellings.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import sparse

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray
from forewarn.stats.psychometrics.agreement import (
    AgreementOptions,
    check_range,
    mean_item_variance,
    rwg_j_from_variance,
)
from forewarn.stats.psychometrics.group_icc import (
    GroupMoments,
    centred_answers,
    icc_from_moments,
    moments_from_sums,
)
from forewarn.stats.psychometrics.responses import as_group_ids, as_response_matrix, group_sums

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


def random_streams(seed: int | Sequence[int]) -> tuple[np.random.Generator, np.random.Generator]:
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


def pseudo_group_sizes(sizes: IntArray) -> tuple[IntArray, IntArray]:
    """The distinct group sizes of 2 or more (ascending) and each group's index among them (-1 below 2)."""
    distinct = np.unique(sizes[sizes >= 2])
    index = np.where(sizes >= 2, np.searchsorted(distinct, sizes), -1)
    return distinct.astype(np.int64), index.astype(np.int64)


def pseudo_group_item_variance(
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
            out[start : start + r, :, scale] = mean_item_variance(variance[..., item_scale == scale])
    return out


def null_by_size(
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
    by_size = nan_quantile(random_s2, 1.0 - percentile / 100.0)
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


def relabelled_score_moments(
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
        return moments_from_sums(count, sums[..., :n_scales], sums[..., n_scales:], centre)

    real = moments(group_sums(columns, ids, n_groups))
    return real, moments(_resample_sums(columns, ids, n_groups, n_permutations, rng))


def random_group_icc1(random: GroupMoments, scale: int, group_size: Literal["mean", "n0"]) -> FloatArray:
    """ICC(1) of one scale in each relabelling (relabellings play the role of variables)."""
    moments = GroupMoments(
        n=random.n[..., scale].T, mean=random.mean[..., scale].T, variance=random.variance[..., scale].T
    )
    return icc_from_moments(moments, group_size).icc1


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
    check_range(x, answered, agree.response_min, agree.response_max)
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
    centred, centre = centred_answers(x, mask, (agree.response_min + agree.response_max) / 2.0)
    used = mask.astype(np.float64)
    n_items = x.shape[1]
    sums = group_sums(np.column_stack([used, centred, centred * centred]), ids, g)
    item_moments = moments_from_sums(
        sums[:, :n_items], sums[:, n_items : 2 * n_items], sums[:, 2 * n_items :], centre
    )
    observed = mean_item_variance(item_moments.variance)

    pseudo_rng, relabel_rng = random_streams(opts.seed)
    sizes, size_index = pseudo_group_sizes(np.bincount(ids, minlength=g))
    random_s2 = pseudo_group_item_variance(
        centred,
        used,
        np.arange(n_items),
        np.zeros(n_items, dtype=np.int64),
        None,
        sizes,
        opts.n_resamples,
        pseudo_rng,
    )[..., 0]
    quantile, p_value = null_by_size(random_s2, size_index, observed, opts.percentile)
    nulls = agree.null_distributions()
    rwg_quantile = np.stack([rwg_j_from_variance(quantile, n_items, null.variance) for null in nulls])

    n_permutations = opts.permutation_count
    real, random = relabelled_score_moments(score[:, None], ids, g, n_permutations, relabel_rng)
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

    icc1 = float(icc_from_moments(real, "mean").icc1[0])
    random_icc1 = random_group_icc1(random, 0, "mean")
    icc1_quantile = float(nan_quantile(random_icc1[:, None], opts.percentile / 100.0)[0])
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


def nan_quantile(values: FloatArray, q: float) -> FloatArray:
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


__all__ = ["RandomGroupAgreement", "RandomGroupOptions", "random_group_agreement"]
