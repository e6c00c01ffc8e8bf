"""Difference-in-differences: did the treated change more than comparable units that were not treated?

A before/after comparison of units selected for a bad score credits them with the regression to the mean their
selection built in (Barnett, van der Pols & Dobson 2005). Comparing their change with the change of a comparison
group that was as bad before, and not treated, removes what both share (Angrist & Pischke 2009, ch. 5).

Two forms, both ordinary least squares (statsmodels) with cluster-robust standard errors (CR1, clustered by unit so
that a unit's months, or a comparison unit used in several stacks, count once; Bertrand, Duflo & Mullainathan 2004)
and t intervals on G - 1 degrees of freedom (G clusters; Cameron & Miller 2015):

- ``did_panel``: the textbook two-group, two-period regression ``y = a + b treated + c post + d treated x post``
  on a long table (one row per unit and period, or per unit and month).
- ``stacked_did``: one row per (stack, unit) holding the unit's change (after mean - before mean); a stack is one
  treated unit with its own matched comparison units, aligned on the treated unit's start (Cengiz, Dube, Lindner &
  Zipperer 2019). ``change = stack effect + d treated [+ b' covariates]``. With one treated unit and the same
  number of comparison units in every stack, ``d`` is the mean of the stacks' own differences in differences.

``mean_change`` is the naive before/after estimate (the mean change of the treated) with the same errors.

References
----------
Angrist JD, Pischke J-S (2009). Mostly Harmless Econometrics, ch. 5. Princeton University Press.
Barnett AG, van der Pols JC, Dobson AJ (2005). Regression to the mean. Int J Epidemiol 34:215-220.
Bertrand M, Duflo E, Mullainathan S (2004). How much should we trust differences-in-differences estimates?
Q J Econ 119:249-275.
Cameron AC, Miller DL (2015). A practitioner's guide to cluster-robust inference. J Hum Resour 50:317-372.
Cengiz D, Dube A, Lindner A, Zipperer B (2019). The effect of minimum wages on low-wage jobs. Q J Econ
134:1405-1454.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import FloatArray


@dataclass(frozen=True)
class DidResult:
    """An estimated effect with its cluster-robust standard error and confidence interval.

    Attributes
    ----------
    estimate : float
        The difference in differences (or, for ``mean_change``, the mean change).
    standard_error : float
        CR1 cluster-robust standard error.
    ci_low, ci_high : float
        ``level`` confidence interval, t on ``df`` degrees of freedom.
    p_value : float
        Two-sided p-value of no effect.
    df : int
        Degrees of freedom of the t reference: clusters - 1.
    n_treated, n_comparison : int
        Treated and comparison rows (units, or stack members).
    n_clusters : int
        Distinct clusters.
    level : float
        Confidence level.
    """

    estimate: float
    standard_error: float
    ci_low: float
    ci_high: float
    p_value: float
    df: int
    n_treated: int
    n_comparison: int
    n_clusters: int
    level: float

    def covers(self, value: float) -> bool:
        """Whether the interval holds ``value``."""
        return self.ci_low <= value <= self.ci_high

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _vector(name: str, values: ArrayLike, n: int | None = None) -> FloatArray:
    out = np.asarray(values, dtype=np.float64).reshape(-1)
    if n is not None and out.size != n:
        raise ValueError(f"{name} has {out.size} values; expected {n}")
    return out


def _codes(name: str, values: ArrayLike, n: int) -> np.ndarray[Any, Any]:
    out = np.asarray(values).reshape(-1)
    if out.size != n:
        raise ValueError(f"{name} has {out.size} values; expected {n}")
    _, codes = np.unique(out, return_inverse=True)
    return codes.reshape(-1)


def _fit(
    y: FloatArray, X: FloatArray, clusters: np.ndarray[Any, Any], column: int, level: float
) -> tuple[float, float, float, float, float, int]:
    from statsmodels.regression.linear_model import OLS

    if not 0.0 < level < 1.0:
        raise ValueError(f"level must be in (0, 1); got {level!r}")
    n_clusters = int(np.unique(clusters).size)
    if n_clusters < 2:
        raise ValueError("need at least two clusters for a cluster-robust standard error")
    fit = OLS(y, X).fit(cov_type="cluster", cov_kwds={"groups": clusters}, use_t=True)
    estimate = float(fit.params[column])
    se = float(fit.bse[column])
    low, high = (float(v) for v in fit.conf_int(alpha=1.0 - level)[column])
    return estimate, se, low, high, float(fit.pvalues[column]), int(fit.df_resid_inference)


def did_panel(
    y: ArrayLike, treated: ArrayLike, post: ArrayLike, unit: ArrayLike, *, level: float = 0.95
) -> DidResult:
    """Two-group, two-period difference in differences by OLS, clustered by unit.

    Parameters
    ----------
    y : array_like (rows,)
        Outcome, one row per unit and period (or month).
    treated : array_like of bool (rows,)
        The row's unit is in the treated group.
    post : array_like of bool (rows,)
        The row is after the start.
    unit : array_like (rows,)
        Unit identifier: the clusters.
    level : float
        Confidence level of the interval.

    Returns
    -------
    DidResult
        ``d`` of ``y = a + b treated + c post + d treated x post``.

    Examples
    --------
    Two treated and two comparison units: the treated rose by 3 and 5, the comparison by 1 and 1, so the
    difference in differences is 4 - 1 = 3.

    >>> r = did_panel([1, 4, 2, 7, 1, 2, 3, 4], [1, 1, 1, 1, 0, 0, 0, 0], [0, 1, 0, 1, 0, 1, 0, 1],
    ...               [1, 1, 2, 2, 3, 3, 4, 4])
    >>> round(r.estimate, 12)
    3.0
    """
    values = _vector("y", y)
    n = values.size
    t = _vector("treated", treated, n)
    p = _vector("post", post, n)
    clusters = _codes("unit", unit, n)
    keep = np.isfinite(values)
    X = np.column_stack([np.ones(n), t, p, t * p])[keep]
    estimate, se, low, high, p_value, df = _fit(values[keep], X, clusters[keep], 3, level)
    units_t = np.unique(clusters[keep][t[keep] > 0]).size
    units_c = np.unique(clusters[keep][t[keep] == 0]).size
    return DidResult(
        estimate, se, low, high, p_value, df, units_t, units_c, int(np.unique(clusters[keep]).size), level
    )


def stacked_did(
    change: ArrayLike,
    treated: ArrayLike,
    stack: ArrayLike,
    cluster: ArrayLike,
    *,
    covariates: ArrayLike | None = None,
    level: float = 0.95,
) -> DidResult:
    """Stacked difference in differences of per-unit changes, with a fixed effect per stack, clustered.

    Parameters
    ----------
    change : array_like (rows,)
        Each stack member's change: mean after the treated unit's start minus mean before.
    treated : array_like of bool (rows,)
        The member is the stack's treated unit.
    stack : array_like (rows,)
        Stack identifier (one treated unit and its comparison units).
    cluster : array_like (rows,)
        Unit identifier: a comparison unit used in several stacks, or a unit treated twice, is one cluster.
    covariates : array_like (rows, p), optional
        Regression adjustment for what matching left unequal (e.g. the level before): the change is
        regressed on them within stacks (Abadie & Imbens 2011's bias correction, in regression form).
    level : float
        Confidence level.

    Returns
    -------
    DidResult
        The coefficient of ``treated``. Stacks without a treated member or without a comparison member are
        dropped (they identify nothing).

    Examples
    --------
    Two stacks: treated +3 against comparisons +1 and +1; treated +2 against 0 and +2. Each stack's own
    difference is 2 and 1; the stacked estimate is their mean.

    >>> r = stacked_did([3, 1, 1, 2, 0, 2], [1, 0, 0, 1, 0, 0], [1, 1, 1, 2, 2, 2], [1, 3, 4, 2, 3, 5])
    >>> round(r.estimate, 12)
    1.5
    """
    values = _vector("change", change)
    n = values.size
    t = _vector("treated", treated, n)
    stacks = _codes("stack", stack, n)
    clusters = _codes("cluster", cluster, n)
    extra = None
    if covariates is not None:
        extra = np.asarray(covariates, dtype=np.float64).reshape(n, -1)
    keep = np.isfinite(values)
    if extra is not None:
        keep &= np.isfinite(extra).all(axis=1)
    n_stacks = int(stacks.max()) + 1 if n else 0
    has_t = np.bincount(stacks[keep], weights=(t[keep] > 0), minlength=n_stacks) > 0
    has_c = np.bincount(stacks[keep], weights=(t[keep] == 0), minlength=n_stacks) > 0
    keep &= (has_t & has_c)[stacks] if n else keep
    if not keep.any():
        raise ValueError("no stack has both a treated and a comparison member")
    _, s = np.unique(stacks[keep], return_inverse=True)
    dummies = np.zeros((int(keep.sum()), int(s.max()) + 1))
    dummies[np.arange(s.size), s] = 1.0
    parts = [t[keep][:, None], dummies]
    if extra is not None:
        within = extra[keep] - (dummies @ np.linalg.lstsq(dummies, extra[keep], rcond=None)[0])
        parts.append(within)
    X = np.column_stack(parts)
    estimate, se, low, high, p_value, df = _fit(values[keep], X, clusters[keep], 0, level)
    return DidResult(
        estimate,
        se,
        low,
        high,
        p_value,
        df,
        int((t[keep] > 0).sum()),
        int((t[keep] == 0).sum()),
        int(np.unique(clusters[keep]).size),
        level,
    )


def mean_change(change: ArrayLike, cluster: ArrayLike, *, level: float = 0.95) -> DidResult:
    """The naive before/after estimate: the treated units' mean change, clustered by unit.

    Examples
    --------
    >>> r = mean_change([0.2, 0.4, 0.3, 0.1], [1, 2, 3, 4])
    >>> round(r.estimate, 12), round(r.standard_error, 6)
    (0.25, 0.064550)
    """
    values = _vector("change", change)
    n = values.size
    clusters = _codes("cluster", cluster, n)
    keep = np.isfinite(values)
    estimate, se, low, high, p_value, df = _fit(
        values[keep], np.ones((int(keep.sum()), 1)), clusters[keep], 0, level
    )
    return DidResult(
        estimate, se, low, high, p_value, df, int(keep.sum()), 0, int(np.unique(clusters[keep]).size), level
    )
