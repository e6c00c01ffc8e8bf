"""Nearest-neighbour matching of treated units to comparison units on a few pre-period features.

Used to build the comparison group of an intervention: units not intervened on that looked like the treated one
before it started (its level, its trend, how noisy it is). Distances are Euclidean on features divided by a scale
(by default the pooled standard deviation of each feature over the candidates), the diagonal form of the
Mahalanobis metric; matching is with replacement, so one good comparison unit may serve several treated units
(Abadie & Imbens 2006; Stuart 2010).

References
----------
Abadie A, Imbens GW (2006). Large sample properties of matching estimators for average treatment effects.
Econometrica 74:235-267.
Stuart EA (2010). Matching methods for causal inference: a review and a look forward. Stat Sci 25:1-21.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import FloatArray, IntArray


@dataclass(frozen=True)
class Matches:
    """For each treated row, the indices of its ``k`` nearest candidates (closest first) and their distances.

    ``index`` is -1 (and ``distance`` NaN) where fewer than ``k`` candidates had every feature.
    """

    index: IntArray
    distance: FloatArray


def feature_scale(candidates: ArrayLike) -> FloatArray:
    """Standard deviation of each feature over the candidates (1 where it is 0 or undefined).

    >>> feature_scale([[0.0, 1.0], [2.0, 1.0]]).tolist()
    [1.4142135623730951, 1.0]
    """
    x = np.asarray(candidates, dtype=np.float64)
    x = x.reshape(x.shape[0], -1)
    finite = np.isfinite(x).all(axis=1)
    if finite.sum() < 2:
        return np.ones(x.shape[1])
    sd = x[finite].std(axis=0, ddof=1)
    out: FloatArray = np.where(np.isfinite(sd) & (sd > 0), sd, 1.0)
    return out


def nearest_neighbours(
    treated: ArrayLike, candidates: ArrayLike, k: int, *, scale: ArrayLike | None = None
) -> Matches:
    """The ``k`` nearest candidates of every treated row, with replacement.

    Parameters
    ----------
    treated : array_like (t, p)
        Features of the treated units.
    candidates : array_like (c, p)
        Features of the candidate comparison units; rows with a missing feature are never chosen.
    k : int
        Neighbours per treated unit (>= 1).
    scale : array_like (p,), optional
        Divisor of each feature; default ``feature_scale(candidates)``.

    Returns
    -------
    Matches
        ``index`` (t, k) into ``candidates``, ``distance`` (t, k). Ties go to the lower index.

    Examples
    --------
    >>> m = nearest_neighbours([[0.0], [10.0]], [[1.0], [9.0], [-3.0], [12.0]], 2, scale=[1.0])
    >>> m.index.tolist(), m.distance.tolist()
    ([[0, 2], [1, 3]], [[1.0, 3.0], [1.0, 2.0]])
    """
    if k < 1:
        raise ValueError(f"k must be at least 1; got {k!r}")
    t = np.asarray(treated, dtype=np.float64)
    c = np.asarray(candidates, dtype=np.float64)
    t = t.reshape(t.shape[0], -1)
    c = c.reshape(c.shape[0], -1)
    if t.shape[1] != c.shape[1]:
        raise ValueError("treated and candidates need the same features")
    s = feature_scale(c) if scale is None else np.asarray(scale, dtype=np.float64).reshape(-1)
    if s.size != t.shape[1] or not (np.isfinite(s).all() and (s > 0).all()):
        raise ValueError("scale must be one positive number per feature")
    usable = np.isfinite(c).all(axis=1)
    distance = np.sqrt((((t[:, None, :] - c[None, :, :]) / s) ** 2).sum(axis=2))
    distance[:, ~usable] = np.inf
    distance[~np.isfinite(t).all(axis=1)] = np.inf
    order = np.argsort(distance, axis=1, kind="stable")[:, :k]
    chosen = np.take_along_axis(distance, order, axis=1)
    if order.shape[1] < k:
        pad = k - order.shape[1]
        order = np.pad(order, ((0, 0), (0, pad)), constant_values=-1)
        chosen = np.pad(chosen, ((0, 0), (0, pad)), constant_values=np.inf)
    missing = ~np.isfinite(chosen)
    return Matches(
        index=np.where(missing, -1, order).astype(np.int64), distance=np.where(missing, np.nan, chosen)
    )
