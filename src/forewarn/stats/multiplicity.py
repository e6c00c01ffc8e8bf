"""False-discovery-rate control for many simultaneous flags, vectorised over families of tests.

A surveillance scan tests every organisation on every indicator; at 99.8% limits, 50,000 organisations give
about 100 flags by chance alone. The Benjamini-Hochberg step-up procedure (and the Benjamini-Yekutieli
variant, valid under any dependence) adjusts the p-values so that flagging those with adjusted p <= alpha
controls the expected share of false flags. Families (e.g. one per indicator) are adjusted separately in one
call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import BoolArray, FloatArray, IntArray

FdrMethod = Literal["BH", "BY"]


@dataclass(frozen=True)
class FdrResult:
    """Result of :func:`fdr_adjust`.

    Attributes
    ----------
    adjusted : numpy.ndarray, shape (n,)
        Adjusted p-values (q-values), NaN where the p-value was NaN; R's ``p.adjust`` values.
    rejected : numpy.ndarray of bool, shape (n,)
        ``adjusted <= alpha``: the flags kept at false-discovery rate alpha.
    n_tests : numpy.ndarray of int, shape (k,)
        Non-missing p-values per family (the m of the procedure).
    n_rejected : numpy.ndarray of int, shape (k,)
        Rejections per family.
    """

    adjusted: FloatArray
    rejected: BoolArray
    n_tests: IntArray
    n_rejected: IntArray


def fdr_adjust(
    p_values: ArrayLike,
    family_id: ArrayLike | None = None,
    *,
    alpha: float = 0.05,
    method: FdrMethod = "BH",
    n_families: int | None = None,
) -> FdrResult:
    """Benjamini-Hochberg or Benjamini-Yekutieli adjusted p-values, separately within each family.

    Parameters
    ----------
    p_values : array_like, shape (n,)
        P-values in [0, 1]; NaN marks a missing test, which is left out (as R's ``p.adjust`` does).
    family_id : array_like of int, shape (n,), optional
        Family of each test, ``0..k-1`` (e.g. the indicator); default one family.
    alpha : float
        False-discovery rate for ``rejected``, in (0, 1).
    method : {"BH", "BY"}
        ``"BH"`` (independent or positively dependent tests) or ``"BY"`` (any dependence).
    n_families : int, optional
        k, when trailing families may be empty; default ``max(family_id) + 1``.

    Returns
    -------
    FdrResult
        Adjusted p-values, rejections, and per-family test and rejection counts.

    Raises
    ------
    ValueError
        If a p-value is outside [0, 1] or infinite, lengths differ, family ids are not non-negative
        integers, ``alpha`` is not in (0, 1) or ``method`` is unknown (the message names the first offender).

    Notes
    -----
    Within a family of m tests with ordered p-values p_(1) <= ... <= p_(m), the adjusted value of p_(i) is

        p~_(i) = min(1, min_{j >= i} c(m) m p_(j) / j),

    with c(m) = 1 for BH and c(m) = sum_{l=1}^m 1/l for BY. Rejecting every p~ <= alpha is the step-up
    procedure: reject the i* smallest, i* = max{i : p_(i) <= i alpha / (c(m) m)}. The running minimum is taken
    per family in one pass over the tests sorted by (family, p), on integer ranks, so families never mix and
    no precision is lost.

    References
    ----------
    .. [1] Benjamini Y, Hochberg Y (1995). Controlling the false discovery rate: a practical and powerful
       approach to multiple testing. JRSS B 57:289-300. doi:10.1111/j.2517-6161.1995.tb02031.x
    .. [2] Benjamini Y, Yekutieli D (2001). The control of the false discovery rate in multiple testing under
       dependency. Annals of Statistics 29:1165-1188. doi:10.1214/aos/1013699998

    Examples
    --------
    R's ``p.adjust(c(0.01, 0.04, 0.03, 0.005), method = "BH")`` gives 0.02, 0.04, 0.04, 0.02:

    >>> fdr_adjust([0.01, 0.04, 0.03, 0.005]).adjusted
    array([0.02, 0.04, 0.04, 0.02])

    Two families at once; ``p.adjust(c(0.01, 0.02), "BY")`` is 0.03, 0.03:

    >>> fdr_adjust([0.01, 0.02, 0.01, 0.02], [0, 0, 1, 1], method="BY").adjusted
    array([0.03, 0.03, 0.03, 0.03])
    """
    if method not in ("BH", "BY"):
        raise ValueError(f"method must be 'BH' or 'BY'; got {method!r}")
    if not (isinstance(alpha, int | float) and 0.0 < float(alpha) < 1.0):
        raise ValueError(f"alpha must be in (0, 1); got {alpha!r}")
    p = np.asarray(p_values, dtype=np.float64)
    if p.ndim != 1:
        raise ValueError(f"p_values must be one-dimensional; got shape {p.shape}")
    out_of_range = ~np.isnan(p) & ~((p >= 0.0) & (p <= 1.0))
    if np.any(out_of_range):
        bad = int(np.flatnonzero(out_of_range)[0])
        raise ValueError(f"p_values[{bad}] = {p[bad]}: p-values must lie in [0, 1] (NaN for a missing test)")
    fid, k = _family_ids(family_id, p.shape[0], n_families)

    present = ~np.isnan(p)
    n_tests = np.bincount(fid[present], minlength=k).astype(np.int64)
    adjusted = np.full(p.shape, np.nan)
    if np.any(present):
        adjusted[present] = _step_up(p[present], fid[present], n_tests, method)
    rejected = adjusted <= alpha
    n_rejected = np.bincount(fid, weights=rejected, minlength=k).astype(np.int64)
    return FdrResult(adjusted=adjusted, rejected=rejected, n_tests=n_tests, n_rejected=n_rejected)


def expected_false_flags(n_tests: ArrayLike, alpha: ArrayLike) -> FloatArray:
    """Number of flags expected by chance alone when every null hypothesis is true.

    Parameters
    ----------
    n_tests : array_like
        Number of tests (e.g. organisations in a funnel), >= 0.
    alpha : array_like
        Two-sided false-positive rate of each test, in [0, 1]: 0.05 for 95% limits, 0.002 for 99.8% limits.

    Returns
    -------
    numpy.ndarray
        n_tests * alpha, broadcast.

    Raises
    ------
    ValueError
        If a count is negative or not finite, or alpha is outside [0, 1].

    Notes
    -----
    Under the null each test flags with probability alpha, so the number of flags is Binomial(m, alpha) with
    mean m alpha (by linearity of expectation, whatever the dependence between tests).

    References
    ----------
    .. [1] Spiegelhalter DJ, Sherlaw-Johnson C, Bardsley M, et al. (2012). Statistical methods for healthcare
       regulation: rating, screening and surveillance. JRSS A 175:1-47. doi:10.1111/j.1467-985X.2011.01010.x

    Examples
    --------
    50,000 organisations against 99.8% limits (R: ``50000 * 0.002``):

    >>> expected_false_flags(50000, 0.002)
    array(100.)
    """
    m = np.asarray(n_tests, dtype=np.float64)
    a = np.asarray(alpha, dtype=np.float64)
    if np.any(~(np.isfinite(m) & (m >= 0))):
        raise ValueError(f"n_tests must be finite and >= 0; got {m[~(np.isfinite(m) & (m >= 0))].flat[0]}")
    if np.any(~((a >= 0) & (a <= 1))):
        raise ValueError(f"alpha must lie in [0, 1]; got {a[~((a >= 0) & (a <= 1))].flat[0]}")
    expected: FloatArray = np.asarray(m * a, dtype=np.float64)
    return expected


def _family_ids(family_id: ArrayLike | None, n: int, n_families: int | None) -> tuple[IntArray, int]:
    if family_id is None:
        fid = np.zeros(n, dtype=np.int64)
    else:
        raw = np.asarray(family_id)
        if raw.ndim != 1 or raw.shape[0] != n:
            raise ValueError(f"family_id must have one value per p-value ({n}); got shape {raw.shape}")
        if raw.dtype.kind not in "iu" and not (
            raw.dtype.kind == "f" and np.all(np.isfinite(raw)) and np.all(raw == np.round(raw))
        ):
            raise ValueError(f"family_id must hold integers; got dtype {raw.dtype}")
        fid = raw.astype(np.int64)
        if np.any(fid < 0):
            bad = int(np.flatnonzero(fid < 0)[0])
            raise ValueError(f"family_id[{bad}] = {fid[bad]}: family ids must be >= 0")
    top = int(fid.max()) + 1 if n else 0
    if n_families is None:
        return fid, max(top, 1)
    if not (isinstance(n_families, int | np.integer) and n_families >= max(top, 1)):
        raise ValueError(
            f"n_families must be an integer >= max(family_id) + 1 = {max(top, 1)}; got {n_families!r}"
        )
    return fid, int(n_families)


def _step_up(p: FloatArray, fid: IntArray, n_tests: IntArray, method: FdrMethod) -> FloatArray:
    n = p.shape[0]
    # Sort by family, then p descending, so the running minimum runs from the largest p of each family down.
    # Two-pass lexsort: p descending, then a stable sort on the family (a radix sort when ids fit 16 bits).
    by_p = np.argsort(-p)
    key = fid[by_p]
    if n_tests.shape[0] <= np.iinfo(np.int16).max:
        key = key.astype(np.int16)
    order = by_p[np.argsort(key, kind="stable")]
    fid_sorted = fid[order]
    m = n_tests[fid_sorted].astype(np.float64)
    ends = np.cumsum(n_tests)
    starts = ends - n_tests
    # Rank i of p_(i) within its family, ascending: the first (largest) of a family has i = m.
    rank = m - (np.arange(n) - starts[fid_sorted])
    scale = np.ones(n)
    if method == "BY":
        harmonic = np.concatenate(([0.0], np.cumsum(1.0 / np.arange(1, int(n_tests.max()) + 1))))
        scale = harmonic[n_tests[fid_sorted]]
    raw = np.minimum(1.0, scale * m * p[order] / rank)
    # Segmented running minimum without mixing families: take it on integer ranks of the values, offset per
    # family so each family's keys lie below every earlier family's, then map the ranks back to values.
    by_value = np.argsort(raw)
    value_rank = np.empty(n, dtype=np.int64)
    value_rank[by_value] = np.arange(n)
    offset = (fid_sorted.max() - fid_sorted) * n
    running = np.minimum.accumulate(value_rank + offset) - offset
    adjusted = np.empty(n)
    adjusted[order] = raw[by_value[running]]
    return adjusted
