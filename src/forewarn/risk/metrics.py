"""How well a ranking of organisations by risk foresaw failure: the figures a regulator reads, with intervals.

Every figure is computed over (organisation, origin) cases: a score given at an origin date and whether the
organisation failed within the horizon after it. Discrimination (AUC), calibration (Brier score and its skill
against the base rate), and what a regulator with capacity for a tenth or a fifth of the portfolio would catch
(recall and precision in the riskiest 10% and 20% of each origin). Intervals come from a bootstrap that resamples
organisations, not cases, because one organisation's cases at successive origins are not independent.

References
----------
Hanley, J. A. & McNeil, B. J. (1982). The meaning and use of the area under a receiver operating characteristic
curve. Radiology 143, 29-36.
Brier, G. W. (1950). Verification of forecasts expressed in terms of probability. Monthly Weather Review 78, 1-3.
Field, C. A. & Welsh, A. H. (2007). Bootstrapping clustered data. J R Stat Soc B 69, 369-390 (resampling whole
clusters).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike
from scipy.stats import rankdata

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray


@dataclass(frozen=True)
class Cases:
    """Scored cases: organisation, origin (any sortable code), score, and the outcome within the horizon."""

    organisation: IntArray
    origin: IntArray
    score: FloatArray
    event: BoolArray

    @classmethod
    def of(cls, organisation: ArrayLike, origin: ArrayLike, score: ArrayLike, event: ArrayLike) -> Cases:
        cases = cls(
            organisation=np.asarray(organisation, dtype=np.int64),
            origin=np.asarray(origin, dtype=np.int64),
            score=np.asarray(score, dtype=np.float64),
            event=np.asarray(event, dtype=bool),
        )
        n = cases.score.shape[0]
        if any(a.shape != (n,) for a in (cases.organisation, cases.origin, cases.event)):
            raise ValueError("organisation, origin, score and event must be 1-D arrays of one length")
        if not np.isfinite(cases.score).all():
            raise ValueError("scores must be finite")
        return cases

    def take(self, rows: IntArray) -> Cases:
        return Cases(self.organisation[rows], self.origin[rows], self.score[rows], self.event[rows])


def auc(event: BoolArray, score: FloatArray) -> float:
    """The area under the ROC curve as the Mann-Whitney statistic (Hanley & McNeil 1982): the chance that a case
    with the event scores above one without, ties counting a half; NaN without both kinds of case.

    The same number as ``sklearn.metrics.roc_auc_score`` (its trapezoids over the ROC curve are this statistic),
    without its input validation, which cost about 15 ms a call: the bootstrap asks for thousands of AUCs. Twice
    the midranks are whole numbers, so their sum is exact and the only rounding is the final division.

    >>> auc(np.array([True, False, True, False]), np.array([0.9, 0.2, 0.6, 0.6]))
    0.875
    """
    n_events = int(event.sum())
    n_others = event.size - n_events
    if n_events == 0 or n_others == 0:
        return float("nan")
    twice_ranks = np.rint(2 * rankdata(score, method="average")).astype(np.int64)
    twice_u = int(twice_ranks[event].sum()) - n_events * (n_events + 1)
    return twice_u / (2 * n_events * n_others)


def _rank_within_origin(score: FloatArray, origin: IntArray) -> tuple[IntArray, IntArray]:
    """Each case's rank at its origin (0 the riskiest; ties by position) and the number of cases there: one sort
    serves every share (the bootstrap asks for two shares of each of its thousands of replicates)."""
    # Sort by origin, then by score descending (stable: earlier rows first among ties).
    order = np.lexsort((np.arange(score.size), -score, origin))
    sorted_origin = origin[order]
    starts = np.flatnonzero(np.r_[True, sorted_origin[1:] != sorted_origin[:-1]])
    counts = np.diff(np.r_[starts, score.size])
    rank = np.empty(score.size, dtype=np.int64)
    rank[order] = np.arange(score.size) - np.repeat(starts, counts)
    size = np.empty(score.size, dtype=np.int64)
    size[order] = np.repeat(counts, counts)
    return rank, size


def top_share(
    score: FloatArray, origin: IntArray, share: float, ranked: tuple[IntArray, IntArray] | None = None
) -> BoolArray:
    """The riskiest ``share`` of cases at each origin (ceil(share x n) of them; ties broken by position);
    ``ranked`` is :func:`_rank_within_origin` of the same cases when the caller already has it.

    >>> top_share(np.array([0.1, 0.9, 0.5, 0.7]), np.array([0, 0, 0, 0]), 0.5)
    array([False,  True, False,  True])
    """
    if not 0 < share <= 1:
        raise ValueError(f"share must be in (0, 1]; got {share!r}")
    rank, size = ranked if ranked is not None else _rank_within_origin(score, origin)
    return np.asarray(rank < np.ceil(share * size), dtype=bool)


def point_metrics(cases: Cases, probability: bool = True) -> dict[str, float]:
    """AUC, Brier score and skill (when ``score`` is a probability), recall and precision in the top 10% and 20%.

    Brier skill is ``1 - Brier / Brier(base rate)``: 0 is no better than giving everyone the base rate.

    Examples
    --------
    >>> cases = Cases.of([1, 2, 3, 4], [0, 0, 0, 0], [0.9, 0.2, 0.6, 0.1], [True, False, True, False])
    >>> figures = point_metrics(cases)
    >>> figures["auc"], figures["brier"], figures["recall_at_20"]
    (1.0, 0.055, 0.5)
    """
    event = cases.event
    n_events = int(event.sum())
    out: dict[str, float] = {"n_cases": float(event.size), "n_events": float(n_events)}
    both = 0 < n_events < event.size
    out["auc"] = auc(event, cases.score) if both else float("nan")
    if probability:
        # The Brier score is the mean squared difference between the probability and the outcome (0 or 1).
        brier = float(np.mean((np.clip(cases.score, 0.0, 1.0) - event) ** 2))
        base = event.mean()
        reference = float(base * (1 - base))
        out["brier"] = brier
        out["brier_skill"] = 1.0 - brier / reference if reference > 0 else float("nan")
    ranked = _rank_within_origin(cases.score, cases.origin)
    for share, name in ((0.1, "10"), (0.2, "20")):
        top = top_share(cases.score, cases.origin, share, ranked)
        caught = int((top & event).sum())
        out[f"recall_at_{name}"] = caught / n_events if n_events else float("nan")
        out[f"precision_at_{name}"] = caught / int(top.sum()) if top.any() else float("nan")
    return out


@dataclass(frozen=True)
class _Clusters:
    """Each organisation's rows, laid out so a resample of organisations becomes row indices in one step."""

    rows: IntArray
    starts: IntArray
    counts: IntArray
    cluster: IntArray  # each row's organisation (an index into counts)

    @classmethod
    def of(cls, organisation: IntArray) -> _Clusters:
        _, inverse = np.unique(organisation, return_inverse=True)
        inverse = inverse.astype(np.int64).ravel()
        counts = np.bincount(inverse).astype(np.int64)
        return cls(np.argsort(inverse, kind="stable"), np.r_[0, np.cumsum(counts)[:-1]], counts, inverse)

    def draw(self, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
        """One resample of organisations: how many times each row is drawn, and the resample's rows in order
        (the organisations in the order drawn, each one's rows in their order)."""
        chosen = rng.integers(0, self.counts.size, self.counts.size)
        sizes = self.counts[chosen]
        offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        rows = np.asarray(self.rows[np.repeat(self.starts[chosen], sizes) + offsets], dtype=np.int64)
        weight = np.bincount(chosen, minlength=self.counts.size)[self.cluster]
        return weight.astype(np.int64), rows


def _counts(groups: IntArray, n_groups: int, weight: IntArray) -> IntArray:
    """The sum of integer weights in each group (exact: float sums of whole numbers below 2**53)."""
    return np.rint(np.bincount(groups, weights=weight, minlength=n_groups)).astype(np.int64)


@dataclass(frozen=True)
class _Ties:
    """One score's cases grouped by equal score (ascending), for the AUC of any resample without a sort."""

    group: IntArray
    n_groups: int

    @classmethod
    def of(cls, score: FloatArray) -> _Ties:
        values, group = np.unique(score, return_inverse=True)
        return cls(group.astype(np.int64).ravel(), int(values.size))

    def auc(self, event: BoolArray, weight: IntArray) -> float:
        """:func:`auc` of the resample that holds each case ``weight`` times (the same number, to the bit).

        Twice the Mann-Whitney U is ``sum over score groups g of E_g (2 N_<g + N_g)``, with ``E_g`` and ``N_g``
        the copies with and without the event scoring ``g`` and ``N_<g`` those without it scoring lower: the
        events' midrank sum less ``n_e (n_e + 1)``, as :func:`auc` computes it, in whole numbers."""
        events = _counts(self.group, self.n_groups, np.where(event, weight, 0))
        others = _counts(self.group, self.n_groups, np.where(event, 0, weight))
        n_events, n_others = int(events.sum()), int(others.sum())
        if n_events == 0 or n_others == 0:
            return float("nan")
        below = np.cumsum(others) - others
        twice_u = int((events * (2 * below + others)).sum())
        return twice_u / (2 * n_events * n_others)


@dataclass(frozen=True)
class _Replicates:
    """The cases laid out once so that each bootstrap replicate's figures (:func:`point_metrics` of the
    resample) come from weighted counts in one pass, without sorting the resample: the AUC from the score's tie
    groups (:class:`_Ties`), the riskiest shares from the groups of equal score within each origin, riskiest
    first (whole groups above the cut; in the group the cut falls in, the copies first in the resample, as
    :func:`top_share` breaks ties by position). Every figure equals :func:`point_metrics` of ``cases.take(rows)``
    to the bit (``tests/risk/test_metrics.py``)."""

    cases: Cases
    ties: _Ties
    squared: FloatArray  # each case's squared error (for the Brier score)
    origin: IntArray  # each case's origin (an index)
    n_origins: int
    ranked: IntArray  # each case's (origin, score) group; groups by origin, then score descending
    group_origin: IntArray  # each group's origin
    n_groups: int
    group_cases: IntArray  # the cases in each group

    @classmethod
    def of(cls, cases: Cases) -> _Replicates:
        _, origin = np.unique(cases.origin, return_inverse=True)
        origin = origin.astype(np.int64).ravel()
        order = np.lexsort((-cases.score, origin))
        ordered_origin, ordered_score = origin[order], cases.score[order]
        new = np.r_[
            True, (ordered_origin[1:] != ordered_origin[:-1]) | (ordered_score[1:] != ordered_score[:-1])
        ]
        ranked = np.empty(cases.score.size, dtype=np.int64)
        ranked[order] = np.cumsum(new) - 1
        return cls(
            cases=cases,
            ties=_Ties.of(cases.score),
            squared=(np.clip(cases.score, 0.0, 1.0) - cases.event) ** 2,
            origin=origin,
            n_origins=int(origin.max()) + 1 if origin.size else 0,
            ranked=ranked,
            group_origin=ordered_origin[new],
            n_groups=int(new.sum()),
            group_cases=np.bincount(ranked, minlength=int(new.sum())),
        )

    def metrics(self, weight: IntArray, rows: IntArray, probability: bool) -> dict[str, float]:
        event = self.cases.event
        n_events = int(event[rows].sum())
        out: dict[str, float] = {"n_cases": float(rows.size), "n_events": float(n_events)}
        out["auc"] = self.ties.auc(event, weight) if 0 < n_events < rows.size else float("nan")
        if probability:
            brier = float(np.mean(self.squared[rows]))
            base = event[rows].mean()
            reference = float(base * (1 - base))
            out["brier"] = brier
            out["brier_skill"] = 1.0 - brier / reference if reference > 0 else float("nan")
        copies = _counts(self.ranked, self.n_groups, weight)
        event_copies = _counts(self.ranked, self.n_groups, np.where(event, weight, 0))
        size = np.bincount(self.group_origin, weights=copies, minlength=self.n_origins).astype(np.int64)
        through = np.cumsum(copies)  # copies in every group up to this one (all origins before it too)
        origin_start = np.cumsum(size) - size
        through = through - origin_start[self.group_origin]  # within its origin
        before = through - copies
        for share, name in ((0.1, "10"), (0.2, "20")):
            take = np.ceil(share * size)[self.group_origin]  # the copies in the riskiest share of its origin
            caught = int(event_copies[through <= take].sum())
            for group in np.flatnonzero((before < take) & (through > take)):  # at most one an origin
                wanted = int(take[group]) - int(before[group])
                if self.group_cases[group] == 1:  # copies of one case: all events or none
                    caught += wanted if event_copies[group] else 0
                    continue
                cut = self.ranked[rows] == group
                caught += int(event[rows[cut]][:wanted].sum())
            chosen = int(np.ceil(share * size).sum())
            out[f"recall_at_{name}"] = caught / n_events if n_events else float("nan")
            out[f"precision_at_{name}"] = caught / chosen if chosen else float("nan")
        return out


def bootstrap_intervals(
    cases: Cases, *, probability: bool = True, n_boot: int = 500, level: float = 0.95, seed: int = 20260101
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every figure of :func:`point_metrics`, resampling whole organisations.

    Each replicate's figures are :func:`point_metrics` of the resample, computed from weighted counts over the
    cases laid out once (:class:`_Replicates`) rather than by sorting every resample: the same numbers."""
    rng = np.random.default_rng(seed)
    clusters = _Clusters.of(cases.organisation)
    replicates = _Replicates.of(cases)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):  # replicates, each one vectorised over its cases
        weight, rows = clusters.draw(rng)
        for name, value in replicates.metrics(weight, rows, probability).items():
            draws.setdefault(name, []).append(value)
    alpha = (1 - level) / 2
    return {
        name: (float(np.nanquantile(v, alpha)), float(np.nanquantile(v, 1 - alpha)))
        for name, v in draws.items()
        if name not in ("n_cases", "n_events")
    }


def paired_auc_difference(
    first: Cases, second: Cases, *, n_boot: int = 500, level: float = 0.95, seed: int = 20260101
) -> tuple[float, tuple[float, float]]:
    """AUC of ``first`` minus AUC of ``second`` on the same cases, with a paired organisation bootstrap interval
    (e.g. the risk model with and without soft measures)."""
    if not (
        np.array_equal(first.organisation, second.organisation)
        and np.array_equal(first.origin, second.origin)
        and np.array_equal(first.event, second.event)
    ):
        raise ValueError("the two sets of cases must be the same cases in the same order")
    rng = np.random.default_rng(seed)
    clusters = _Clusters.of(first.organisation)
    ties_first, ties_second = _Ties.of(first.score), _Ties.of(second.score)
    delta = auc(first.event, first.score) - auc(second.event, second.score)
    draws = []
    for _ in range(n_boot):
        weight, rows = clusters.draw(rng)
        n_events = int(first.event[rows].sum())
        if 0 < n_events < rows.size:
            draws.append(ties_first.auc(first.event, weight) - ties_second.auc(first.event, weight))
    alpha = (1 - level) / 2
    return delta, (float(np.quantile(draws, alpha)), float(np.quantile(draws, 1 - alpha)))


def calibration_by_decile(probability: FloatArray, event: BoolArray) -> dict[str, list[float]]:
    """Mean predicted probability and observed event rate in each tenth of the predictions (a calibration
    curve), with the number of cases in each.

    >>> curve = calibration_by_decile(np.linspace(0.05, 0.95, 10), np.array([False] * 5 + [True] * 5))
    >>> curve["observed"]
    [0.0, 0.0, 0.0, 0.0, 0.0, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    order = np.argsort(probability, kind="stable")
    groups = np.array_split(order, 10)
    return {
        "predicted": [float(probability[g].mean()) for g in groups if g.size],
        "observed": [float(event[g].mean()) for g in groups if g.size],
        "n": [float(g.size) for g in groups if g.size],
    }


__all__ = [
    "Cases",
    "auc",
    "bootstrap_intervals",
    "calibration_by_decile",
    "paired_auc_difference",
    "point_metrics",
    "top_share",
]
