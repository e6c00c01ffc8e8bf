"""How far two ways of choosing neighbours agree, and how much a neighbour set depends on which attributes
describe the organisations.

- :func:`set_overlap`: for each organisation, how many neighbours two sets share and their Jaccard index
  ``|A & B| / |A | B|`` (Jaccard 1901), row by row over whole arrays.
- :func:`attribute_bootstrap`: each replicate draws the attributes with replacement (an attribute drawn twice
  weighs twice, one not drawn weighs nothing) and finds the k nearest again with the same distance
  (:func:`forewarn.stats.neighbours.nearest`); a neighbour's stability is the share of replicates in which it is
  found again, a set's the mean Jaccard index between the replicate's set and the full one. It asks how much the
  set rests on a few attributes, where :func:`~forewarn.stats.neighbours.neighbour_stability` (resampling the
  organisations) asks how much it rests on who is in the population. Resampling variables rather than cases is
  the bootstrap of Efron and Tibshirani (1993) applied to the columns, as phylogenetics resamples sites
  (Felsenstein 1985) to ask how much a tree rests on the characters chosen.

References
----------
Jaccard, P. (1901). Distribution de la flore alpine dans le bassin des Dranses et dans quelques régions voisines.
*Bulletin de la Société Vaudoise des Sciences Naturelles* 37, 241-272. Efron, B. and Tibshirani, R. (1993). *An
Introduction to the Bootstrap*. Felsenstein, J. (1985). Confidence limits on phylogenies: an approach using the
bootstrap. *Evolution* 39, 783-791.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import FloatArray, IntArray
from forewarn.stats.neighbours import Design, NeighbourSet, nearest, normalised_weights


@dataclass(frozen=True)
class SetOverlap:
    """Row by row: neighbours in both sets, and the Jaccard index (NaN where both sets are empty)."""

    shared: IntArray  # (q,)
    jaccard: FloatArray  # (q,)


@dataclass(frozen=True)
class AttributeBootstrap:
    """Stability of each neighbour (q, k) and mean Jaccard index of each set (q,) over the replicates."""

    stability: FloatArray
    jaccard: FloatArray
    replicates: int


def set_overlap(a: ArrayLike, b: ArrayLike) -> SetOverlap:
    """Shared neighbours and Jaccard index of two neighbour sets per row.

    ``a`` (q, ka) and ``b`` (q, kb) hold row indices; -1 marks an empty place (a set shorter than the others).

    >>> found = set_overlap([[1, 2, 3], [4, 5, -1]], [[3, 2, 9], [6, 7, 8]])
    >>> found.shared.tolist(), found.jaccard.round(4).tolist()
    ([2, 0], [0.5, 0.0])
    """
    left = np.asarray(a, dtype=np.int64)
    right = np.asarray(b, dtype=np.int64)
    if left.ndim != 2 or right.ndim != 2 or left.shape[0] != right.shape[0]:
        raise ValueError(
            f"neighbour sets must be (rows, k) arrays of the same rows, got {left.shape} and {right.shape}"
        )
    same = (left[:, :, None] == right[:, None, :]) & (left[:, :, None] >= 0)
    shared = same.any(axis=2).sum(axis=1)
    union = (left >= 0).sum(axis=1) + (right >= 0).sum(axis=1) - shared
    with np.errstate(invalid="ignore", divide="ignore"):
        jaccard = np.where(union > 0, shared / np.where(union > 0, union, 1), np.nan)
    return SetOverlap(shared=shared.astype(np.int64), jaccard=jaccard)


def random_jaccard(k: int, n: int) -> float:
    """Expected Jaccard index of two sets of ``k`` drawn at random from the same ``n``: the baseline a
    neighbour set's agreement is read against. The shared count is hypergeometric,
    ``P(s) = C(k, s) C(n - k, k - s) / C(n, k)``, and the index ``s / (2k - s)``.

    >>> round(random_jaccard(2, 4), 6)  # P(0) = 1/6, P(1) = 4/6, P(2) = 1/6: (4/6)(1/3) + (1/6)(1)
    0.388889
    """
    if not 0 < k <= n:
        raise ValueError(f"need 0 < k <= n, got k={k}, n={n}")
    total = math.comb(n, k)
    return sum(math.comb(k, s) * math.comb(n - k, k - s) / total * s / (2 * k - s) for s in range(k + 1))


def attribute_bootstrap(
    d: Design,
    found: NeighbourSet,
    *,
    weights: ArrayLike | None = None,
    candidates: ArrayLike | None = None,
    replicates: int = 200,
    seed: int = 0,
) -> AttributeBootstrap:
    """How often each neighbour in ``found`` stays among the k nearest when the attributes are resampled.

    Each replicate draws ``p`` attributes with replacement, with probabilities ``weights`` (default equal), and
    uses the draw counts as the attribute weights of :func:`~forewarn.stats.neighbours.nearest` (so the expected
    weights are the full ones); the design's columns are not re-standardised (the organisations are the same).

    >>> from forewarn.stats.neighbours import design
    >>> d = design([[0.0, 0.0], [1.0, 1.0], [5.0, 5.0], [6.0, 6.0]], [])
    >>> found = nearest(d, [1, 1], k=1)
    >>> attribute_bootstrap(d, found, replicates=20).stability.ravel().tolist()
    [1.0, 1.0, 1.0, 1.0]
    """
    if replicates < 1:
        raise ValueError("replicates must be at least 1")
    p = d.n_attributes
    probability = normalised_weights(np.ones(p) if weights is None else weights, p)
    k = found.index.shape[1]
    kept = np.zeros(found.index.shape)
    jaccard = np.zeros(found.query.size)
    if k == 0 or p == 0:
        return AttributeBootstrap(
            stability=kept, jaccard=np.full(found.query.size, np.nan), replicates=replicates
        )
    rng = np.random.default_rng(seed)
    for _ in range(replicates):
        counts = rng.multinomial(p, probability).astype(np.float64)
        again = nearest(d, counts, k, query=found.query, candidates=candidates)
        hit = again.index[:, :, None] == found.index[:, None, :]
        kept += hit.any(axis=1)
        jaccard += set_overlap(again.index, found.index).jaccard
    return AttributeBootstrap(
        stability=kept / replicates, jaccard=jaccard / replicates, replicates=replicates
    )


__all__ = ["AttributeBootstrap", "SetOverlap", "attribute_bootstrap", "random_jaccard", "set_overlap"]
