"""Statistical neighbours: the organisations most alike in context, by a weighted distance over standardised
attributes, with CIPFA-style fixed weights or weights learnt from how well each attribute predicts an outcome, and
the stability of each neighbour under bootstrap resampling.

The context of ``n`` organisations is given as two arrays:

- ``numeric`` (n, p): numbers (size, deprivation ...), NaN where unknown. Each column is standardised to mean 0
  and standard deviation 1 (a missing value becomes 0, the mean); a column of one value throughout becomes 0.
  A strictly positive column with a skewness above 1 (a size) is first put on the log scale when that makes it
  less skewed (:func:`log_where_skewed`).
- ``categorical`` (n, m): integer codes ``0..levels-1`` (type, region ...), -1 where unknown. Each becomes one
  0/1 column per level, so two organisations of different levels differ by 1 in two columns: a squared
  difference of 2, the average squared difference of a standardised number between two organisations chosen at
  random. A missing level against a known one differs in one column (half a mismatch).

With attribute weights ``w_a`` (non-negative, summing to 1), the distance between organisations i and j is

    d(i, j) = sqrt( sum_a w_a sum_{c in a} (x_ic - x_jc)^2 )

so two organisations drawn at random are about sqrt(2) apart, whatever the weights. Everything is matrix
arithmetic: squared distances of a block of query rows to every candidate as ``|q|^2 + |c|^2 - 2 q.c`` (one
matrix product), the k smallest by ``np.argpartition``, and the k distances recomputed exactly from the
differences, so ten thousand organisations take well under a second.

References
----------
CIPFA Nearest Neighbours Model (2019 technical notes): a weighted Euclidean distance over standardised context
variables, the weights fixed by an expert panel. NFER children's services statistical neighbours (Benton et al.
2007): variables and weights chosen by how well they predict outcomes. Hastie, Tibshirani and Friedman (2009),
*The Elements of Statistical Learning*, sections 3.4 (ridge regression) and 7.10 (cross-validation). Efron and
Tibshirani (1993), *An Introduction to the Bootstrap*.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

DEFAULT_K = 12
"""Neighbours per organisation: within the 10-15 of the CIPFA (15) and NFER (10) models."""
QUERY_BLOCK_ROWS = 256
"""Query rows per distance block: 256 x 10,000 candidates is 20 MB of float64."""
TIE_TOLERANCE = 1e-9
"""Relative rounding of the squared distances from the matrix product, within which candidates are re-ranked
by their exact distance."""
TIE_DECIMALS = 10
"""Distances equal to this many decimals are ties, which go to the lower row."""
RIDGE_ALPHAS = tuple(float(a) for a in np.logspace(-3, 4, 15))
"""Penalties the outcome regression chooses among (by efficient leave-one-out cross-validation)."""
SKEWNESS_TO_LOG = 1.0


@dataclass(frozen=True)
class Design:
    """The distance's columns: standardised numbers, then one 0/1 column per level of each categorical attribute.

    ``attribute`` gives the attribute (0..p+m-1, numeric first) of each column; ``mean`` and ``sd`` the
    standardisation of the numeric columns.
    """

    columns: FloatArray  # (n, c)
    attribute: IntArray  # (c,)
    mean: FloatArray  # (p,)
    sd: FloatArray  # (p,)

    @property
    def n_attributes(self) -> int:
        return int(self.attribute.max()) + 1 if self.attribute.size else 0


@dataclass(frozen=True)
class NeighbourSet:
    """The k nearest candidates of each query row, nearest first (ties by row), with their distances."""

    query: IntArray  # (q,) rows of the organisations asked about
    index: IntArray  # (q, k) rows of their neighbours
    distance: FloatArray  # (q, k)


@dataclass(frozen=True)
class OutcomeWeights:
    """Attribute weights learnt from an outcome, and how well the context predicts it.

    ``weights[a]`` is the variance (over the organisations with an outcome) of attribute a's part of the ridge
    regression's prediction, divided by the sum over attributes; ``r2_cv`` the cross-validated R^2 of the
    regression (the penalty chosen inside each fold); ``informative`` whether that R^2 is above 0 (else the
    context does not predict the outcome and the weights mean nothing).
    """

    weights: FloatArray  # (p + m,)
    coefficients: FloatArray  # (c,) on the design's columns
    alpha: float
    r2_cv: float
    r2_fold_sd: float
    n: int

    @property
    def informative(self) -> bool:
        return bool(np.isfinite(self.r2_cv) and self.r2_cv > 0 and self.weights.sum() > 0)


def log_where_skewed(numeric: ArrayLike) -> tuple[FloatArray, BoolArray]:
    """Put strictly positive columns whose skewness exceeds 1 on the log scale when that lowers |skewness|.

    Returns the transformed array and which columns were logged.

    >>> values, logged = log_where_skewed([[1.0, 5.0], [10.0, 6.0], [100.0, 7.0], [1000.0, 5.5], [10000.0, 6.5]])
    >>> logged.tolist()
    [True, False]
    """
    x = np.array(numeric, dtype=np.float64, ndmin=2)
    logged = np.zeros(x.shape[1], dtype=bool)
    for j in range(x.shape[1]):  # attributes: a handful
        col = x[:, j]
        seen = col[np.isfinite(col)]
        if seen.size < 3 or np.any(seen <= 0):
            continue
        raw, log = _skewness(seen), _skewness(np.log(seen))
        if raw > SKEWNESS_TO_LOG and abs(log) < abs(raw):
            x[:, j] = np.log(col)
            logged[j] = True
    return x, logged


def _skewness(values: FloatArray) -> float:
    sd = values.std()
    return float(((values - values.mean()) ** 3).mean() / sd**3) if sd > 0 else 0.0


def design(numeric: ArrayLike, categorical: ArrayLike, *, rows: ArrayLike | None = None) -> Design:
    """Standardised numeric columns and 0/1 level columns (see the module's description).

    ``rows``: the organisations whose means and standard deviations standardise the numbers (a bootstrap
    sample; repeated rows count as often as they appear); default all.

    >>> d = design([[1.0], [3.0], [np.nan]], [[0], [1], [-1]])
    >>> d.columns.tolist(), d.attribute.tolist()
    ([[-1.0, 1.0, 0.0], [1.0, 0.0, 1.0], [0.0, 0.0, 0.0]], [0, 1, 1])
    """
    num = _as_matrix(numeric, np.float64, "numeric")
    cat = _as_matrix(categorical, np.int64, "categorical")
    n = max(num.shape[0], cat.shape[0])
    if num.shape[0] == 0 and num.shape[1] == 0:
        num = np.zeros((n, 0))
    if cat.shape[0] == 0 and cat.shape[1] == 0:
        cat = np.zeros((n, 0), dtype=np.int64)
    if num.shape[0] != cat.shape[0]:
        raise ValueError(f"numeric has {num.shape[0]} rows but categorical {cat.shape[0]}")
    if np.any(cat < -1):
        raise ValueError("categorical codes must be 0, 1, ... or -1 for unknown")
    sample = num if rows is None else num[np.asarray(rows, dtype=np.int64)]
    seen = np.isfinite(sample)
    count = seen.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean = np.where(count > 0, np.where(seen, sample, 0.0).sum(axis=0) / count, 0.0)
        var = np.where(count > 0, (np.where(seen, sample - mean, 0.0) ** 2).sum(axis=0) / count, 0.0)
    sd = np.sqrt(var)
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(np.isfinite(num) & (sd > 0), (num - mean) / np.where(sd > 0, sd, 1.0), 0.0)
    blocks = [z]
    attribute = [np.arange(num.shape[1])]
    for j in range(cat.shape[1]):
        levels = int(cat[:, j].max()) + 1 if cat.shape[0] else 0
        dummies = np.zeros((n, levels))
        known = cat[:, j] >= 0
        dummies[np.flatnonzero(known), cat[known, j]] = 1.0
        blocks.append(dummies)
        attribute.append(np.full(levels, num.shape[1] + j))
    return Design(
        columns=np.hstack(blocks) if blocks else np.zeros((n, 0)),
        attribute=np.concatenate(attribute).astype(np.int64),
        mean=mean,
        sd=sd,
    )


def _as_matrix(values: ArrayLike, dtype: type, name: str) -> NDArray[Any]:
    array: NDArray[Any] = np.asarray(values, dtype=dtype)
    if array.ndim == 1 and array.size == 0:
        return array.reshape(0, 0)
    if array.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array (organisations x attributes), got shape {array.shape}")
    return array


def normalised_weights(weights: ArrayLike, n_attributes: int) -> FloatArray:
    """Attribute weights as given, checked (finite, non-negative, one per attribute) and scaled to sum to 1."""
    w = np.asarray(weights, dtype=np.float64)
    if w.shape != (n_attributes,):
        raise ValueError(f"expected {n_attributes} attribute weights, got shape {w.shape}")
    if not np.all(np.isfinite(w)) or np.any(w < 0):
        raise ValueError("attribute weights must be finite and non-negative")
    total = float(w.sum())
    if total <= 0:
        raise ValueError("at least one attribute weight must be positive")
    scaled: FloatArray = w / total
    return scaled


def nearest(
    d: Design,
    weights: ArrayLike,
    k: int = DEFAULT_K,
    *,
    query: ArrayLike | None = None,
    candidates: ArrayLike | None = None,
) -> NeighbourSet:
    """The ``k`` nearest candidates of each query row by the weighted distance (self excluded).

    Parameters
    ----------
    d : Design
        The columns (:func:`design`).
    weights : array_like, shape (attributes,)
        Attribute weights (scaled to sum to 1).
    k : int
        Neighbours per query row; fewer when there are fewer candidates.
    query : array_like of int, optional
        Rows to find neighbours for; default every row.
    candidates : array_like of bool (n,) or int, optional
        Rows that may be neighbours; default every row.

    Returns
    -------
    NeighbourSet
        Nearest first; distances equal to 10 decimals in row order.

    Examples
    --------
    Four organisations, one number and one category with weights 3:1 (so 0.75 and 0.25). Standardised, the
    numbers 0, 1, 2, 3 are (x - 1.5)/sqrt(1.25); organisation 0 (level a) against 1 (a), 2 (b), 3 (b):
    d^2 = 0.75 * (1/1.25) = 0.6, 0.75 * (4/1.25) + 0.25 * 2 = 2.9 and 0.75 * (9/1.25) + 0.5 = 5.9.

    >>> d = design([[0.0], [1.0], [2.0], [3.0]], [[0], [0], [1], [1]])
    >>> found = nearest(d, [3, 1], k=2, query=[0])
    >>> found.index.tolist(), (found.distance**2).round(12).tolist()
    ([[1, 2]], [[0.6, 2.9]])
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    w = normalised_weights(weights, d.n_attributes)
    n = d.columns.shape[0]
    rows = np.arange(n) if query is None else np.asarray(query, dtype=np.int64).ravel()
    allowed = _candidate_mask(candidates, n)
    cand = np.flatnonzero(allowed)
    # An organisation is not its own neighbour: a query row among the candidates has one fewer to choose from.
    k_eff = int(min(k, cand.size - 1 if allowed[rows].any() else cand.size)) if rows.size else 0
    index = np.zeros((rows.size, max(k_eff, 0)), dtype=np.int64)
    distance = np.zeros((rows.size, max(k_eff, 0)))
    if k_eff <= 0:
        return NeighbourSet(query=rows, index=index, distance=distance)
    scaled = d.columns * np.sqrt(w[d.attribute])
    c = scaled[cand]
    c_sq = np.einsum("ij,ij->i", c, c)
    for start in range(0, rows.size, QUERY_BLOCK_ROWS):
        block = rows[start : start + QUERY_BLOCK_ROWS]
        q = scaled[block]
        d2 = np.einsum("ij,ij->i", q, q)[:, None] + c_sq[None, :] - 2.0 * (q @ c.T)
        np.maximum(d2, 0.0, out=d2)
        at = np.minimum(np.searchsorted(cand, block), cand.size - 1)
        own = np.flatnonzero(cand[at] == block)
        d2[own, at[own]] = np.inf
        # The k places go to everything below the k-th smallest squared distance, then to those tied with it
        # (within rounding of the matrix product) in row order; the k are then ordered by exact distance.
        kth = np.partition(d2, k_eff - 1, axis=1)[:, k_eff - 1]
        tolerance = TIE_TOLERANCE * np.maximum(kth, 1.0)
        chosen = d2 <= (kth + tolerance)[:, None]
        crowded = np.flatnonzero(chosen.sum(axis=1) > k_eff)
        if crowded.size:
            inside = d2[crowded] < (kth - tolerance)[crowded, None]
            tied = chosen[crowded] & ~inside
            room = k_eff - inside.sum(axis=1)
            chosen[crowded] = inside | (tied & (np.cumsum(tied, axis=1) <= room[:, None]))
        r, col = np.nonzero(chosen)
        exact = np.sqrt(((c[col] - q[r]) ** 2).sum(axis=1))
        order = np.lexsort((col, np.round(exact, TIE_DECIMALS), r))
        index[start : start + block.size] = cand[col[order]].reshape(block.size, k_eff)
        distance[start : start + block.size] = exact[order].reshape(block.size, k_eff)
    return NeighbourSet(query=rows, index=index, distance=distance)


def _candidate_mask(candidates: ArrayLike | None, n: int) -> BoolArray:
    if candidates is None:
        return np.ones(n, dtype=bool)
    given = np.asarray(candidates)
    if given.dtype == bool:
        if given.shape != (n,):
            raise ValueError(f"candidates mask must have {n} entries")
        return given.copy()
    mask = np.zeros(n, dtype=bool)
    mask[given.astype(np.int64)] = True
    return mask


def outcome_weights(
    d: Design,
    outcome: ArrayLike,
    *,
    rows: ArrayLike | None = None,
    folds: int = 5,
    seed: int = 0,
    alpha: float | None = None,
    sample_weight: ArrayLike | None = None,
) -> OutcomeWeights:
    """Attribute weights from a ridge regression of the outcome on the context (the design's columns).

    The penalty is chosen by efficient leave-one-out cross-validation among :data:`RIDGE_ALPHAS` (scikit-learn's
    ``RidgeCV``) unless ``alpha`` is given; ``r2_cv`` is the out-of-fold R^2 over ``folds`` shuffled folds, the
    penalty chosen again inside each fold, so it is an honest estimate of how well context predicts the outcome.
    An attribute's weight is the variance of its part of the prediction (for a standardised number, its
    coefficient squared), divided by their sum: attributes that do not predict the outcome get no weight.

    ``rows``: the organisations with an outcome (repeats allowed, for a bootstrap sample); default every row with
    a finite outcome. ``sample_weight``: one per organisation, e.g. the precision 1/(s^2 + tau^2) of a noisy
    level (:func:`precision_weights`), so that a small organisation's chance swing counts for less; the R^2 and
    the weights' variances are then weighted too.
    """
    from sklearn.linear_model import Ridge, RidgeCV
    from sklearn.model_selection import KFold

    y_all = np.asarray(outcome, dtype=np.float64)
    if y_all.shape != (d.columns.shape[0],):
        raise ValueError(f"outcome must have one value per organisation ({d.columns.shape[0]})")
    use = np.flatnonzero(np.isfinite(y_all)) if rows is None else np.asarray(rows, dtype=np.int64)
    sw_all = np.ones(y_all.shape) if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
    use = use[np.isfinite(y_all[use]) & np.isfinite(sw_all[use]) & (sw_all[use] > 0)]
    x, y, sw = d.columns[use], y_all[use], sw_all[use]
    n_attr = d.n_attributes
    if use.size < max(folds, 3) * 2 or np.ptp(y) == 0:
        return OutcomeWeights(
            weights=np.zeros(n_attr),
            coefficients=np.zeros(d.columns.shape[1]),
            alpha=float("nan"),
            r2_cv=float("nan"),
            r2_fold_sd=float("nan"),
            n=int(use.size),
        )
    if alpha is None:
        model = RidgeCV(alphas=RIDGE_ALPHAS).fit(x, y, sample_weight=sw)
        chosen = float(model.alpha_)
    else:
        chosen = float(alpha)
        model = Ridge(alpha=chosen).fit(x, y, sample_weight=sw)
    coef = np.asarray(model.coef_, dtype=np.float64)
    parts = x * coef[None, :]
    contribution = np.zeros((use.size, n_attr))
    np.add.at(contribution.T, d.attribute, parts.T)
    share = sw / sw.sum()
    centred = contribution - share @ contribution
    var = share @ (centred * centred)
    weights = var / var.sum() if var.sum() > 0 else np.zeros(n_attr)
    r2_cv, r2_sd = float("nan"), float("nan")
    if alpha is None:
        fold_r2 = []
        residual = np.zeros(use.size)
        for train, test in KFold(folds, shuffle=True, random_state=seed).split(x):
            fit = RidgeCV(alphas=RIDGE_ALPHAS).fit(x[train], y[train], sample_weight=sw[train])
            residual[test] = y[test] - fit.predict(x[test])
            fold_r2.append(_weighted_r2(y[test], residual[test], sw[test]))
        r2_cv = _weighted_r2(y, residual, sw)
        r2_sd = float(np.nanstd(fold_r2, ddof=1))
    return OutcomeWeights(
        weights=weights, coefficients=coef, alpha=chosen, r2_cv=r2_cv, r2_fold_sd=r2_sd, n=int(use.size)
    )


def _weighted_r2(y: FloatArray, residual: FloatArray, w: FloatArray) -> float:
    mean = float((w * y).sum() / w.sum())
    total = float((w * (y - mean) ** 2).sum())
    return 1.0 - float((w * residual**2).sum()) / total if total > 0 else float("nan")


def precision_weights(level: ArrayLike, sampling_variance: ArrayLike) -> FloatArray:
    """1 / (s_i^2 + tau^2) for levels with sampling variances s_i^2, tau^2 the between-organisation variance by
    the method of moments (variance of the levels minus the mean sampling variance, at least 0); NaN where a
    level or its variance is unknown. Where tau^2 is 0 and a variance is 0, the weight is capped at 1e12.

    >>> precision_weights([1.0, 3.0, 5.0], [1.0, 1.0, 1.0]).round(4).tolist()  # var 4 (ddof 1), tau^2 = 3
    [0.25, 0.25, 0.25]
    """
    y = np.asarray(level, dtype=np.float64)
    v = np.asarray(sampling_variance, dtype=np.float64)
    ok = np.isfinite(y) & np.isfinite(v) & (v >= 0)
    if ok.sum() < 2:
        return np.where(ok, 1.0, np.nan)
    tau2 = max(0.0, float(np.var(y[ok], ddof=1) - v[ok].mean()))
    return np.where(ok, 1.0 / np.maximum(v + tau2, 1e-12), np.nan)


def neighbour_stability(
    numeric: ArrayLike,
    categorical: ArrayLike,
    found: NeighbourSet,
    *,
    weights: ArrayLike | None = None,
    outcome: ArrayLike | None = None,
    alpha: float | None = None,
    sample_weight: ArrayLike | None = None,
    candidates: ArrayLike | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> FloatArray:
    """How often each neighbour in ``found`` stays among the k nearest when the organisations are resampled.

    Each replicate draws the candidate organisations with replacement, standardises the numbers with the
    sample's means and standard deviations and, for outcome weights (``outcome`` given instead of ``weights``),
    refits the ridge regression on the sample (at ``alpha``, the penalty of the full fit); then it finds the k
    nearest of every query row among all candidates with those columns and weights. The result, shape (q, k),
    is the share of replicates in which each neighbour is found again: 1 for a neighbour that does not depend on
    who happens to be in the population, near 0 for one at the edge of the set.
    """
    if (weights is None) == (outcome is None):
        raise ValueError("give either fixed weights or an outcome to learn them from")
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    k = found.index.shape[1]
    kept = np.zeros(found.index.shape)
    if k == 0:
        return kept
    full = design(numeric, categorical)
    n = full.columns.shape[0]
    allowed = _candidate_mask(candidates, n)
    pool = np.flatnonzero(allowed)
    if outcome is not None:
        y = np.asarray(outcome, dtype=np.float64)
        pool_y = pool[np.isfinite(y[pool])]
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        if outcome is None:
            sample = rng.choice(pool, size=pool.size, replace=True)
            rep = design(numeric, categorical, rows=sample)
            w = np.asarray(weights, dtype=np.float64)
        else:
            sample = rng.choice(pool_y, size=pool_y.size, replace=True)
            rep = design(numeric, categorical, rows=sample)
            learnt = outcome_weights(rep, y, rows=sample, alpha=alpha, sample_weight=sample_weight)
            if learnt.weights.sum() <= 0:
                continue  # counted as "not found again" for every neighbour
            w = learnt.weights
        again = nearest(rep, w, k, query=found.query, candidates=allowed)
        kept += (again.index[:, :, None] == found.index[:, None, :]).any(axis=1)
    return kept / replicates


__all__ = [
    "DEFAULT_K",
    "Design",
    "NeighbourSet",
    "OutcomeWeights",
    "design",
    "log_where_skewed",
    "nearest",
    "neighbour_stability",
    "normalised_weights",
    "outcome_weights",
    "precision_weights",
]
