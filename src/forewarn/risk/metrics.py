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

    @classmethod
    def of(cls, organisation: IntArray) -> _Clusters:
        _, inverse = np.unique(organisation, return_inverse=True)
        counts = np.bincount(inverse).astype(np.int64)
        return cls(np.argsort(inverse, kind="stable"), np.r_[0, np.cumsum(counts)[:-1]], counts)

    def resample(self, rng: np.random.Generator) -> IntArray:
        chosen = rng.integers(0, self.counts.size, self.counts.size)
        sizes = self.counts[chosen]
        offsets = np.arange(int(sizes.sum())) - np.repeat(np.cumsum(sizes) - sizes, sizes)
        return np.asarray(self.rows[np.repeat(self.starts[chosen], sizes) + offsets], dtype=np.int64)


def bootstrap_intervals(
    cases: Cases, *, probability: bool = True, n_boot: int = 500, level: float = 0.95, seed: int = 20260101
) -> dict[str, tuple[float, float]]:
    """Percentile intervals of every figure of :func:`point_metrics`, resampling whole organisations."""
    rng = np.random.default_rng(seed)
    clusters = _Clusters.of(cases.organisation)
    draws: dict[str, list[float]] = {}
    for _ in range(n_boot):  # replicates, each one vectorised over its cases
        rows = clusters.resample(rng)
        for name, value in point_metrics(cases.take(rows), probability).items():
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
    delta = auc(first.event, first.score) - auc(second.event, second.score)
    draws = []
    for _ in range(n_boot):
        rows = clusters.resample(rng)
        event = first.event[rows]
        if 0 < event.sum() < event.size:
            draws.append(auc(event, first.score[rows]) - auc(event, second.score[rows]))
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
