"""The normal random-effects model across units: DerSimonian-Laird tau^2 and each unit's posterior.

Ranks, funnels and change detection share one model of how organisations differ: each unit's estimate y_i is
its true value theta_i plus error of variance v_i, and the theta_i vary around mu with variance tau^2. Rank
intervals drawn from the posterior of theta_i (rather than from N(y_i, v_i)) are honest about both.

References
----------
DerSimonian, R. & Laird, N. (1986). Meta-analysis in clinical
trials. Control Clin Trials 7, 177-188 (the moment estimator of tau^2).
Spiegelhalter, D. J. et al. (2012). Statistical methods for healthcare regulation: rating, screening and
surveillance. J R Stat Soc A 175, 1-47, section 3 (random-effects models for ranking; shrinkage).
Marshall, E. C. & Spiegelhalter, D. J. (1998). Reliability of league tables of in vitro fertilisation clinics.
BMJ 316, 1701-1705 (rank intervals under a random-effects model).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike

from forewarn.stats.arrays import FloatArray


@dataclass(frozen=True)
class RandomEffectsPosterior:
    """Per unit: posterior mean and standard deviation of theta_i; per group: mu and tau^2.

    Attributes
    ----------
    mean, sd : ndarray (units,)
        ``mu + B_i (y_i - mu)`` and ``sqrt(B_i v_i)`` with shrinkage ``B_i = tau^2 / (tau^2 + v_i)``; where
        tau^2 is 0 (no difference beyond chance) every unit's posterior is mu with variance ``1 / sum w``.
    mu, tau2 : ndarray (groups,)
        The random-effects mean and the DerSimonian-Laird between-unit variance of each group.
    """

    mean: FloatArray
    sd: FloatArray
    mu: FloatArray
    tau2: FloatArray


def random_effects_posterior(
    estimate: ArrayLike, variance: ArrayLike, group: ArrayLike | None = None
) -> RandomEffectsPosterior:
    """DerSimonian-Laird tau^2 per group and the normal-normal posterior of every unit, all groups at once.

    Parameters
    ----------
    estimate : array_like (units,)
        Estimates y_i on a scale where they are roughly normal.
    variance : array_like (units,)
        Their error variances v_i, > 0.
    group : array_like of int or None
        Group (league table) of each unit, 0..G-1; None: one group.

    Returns
    -------
    RandomEffectsPosterior

    Notes
    -----
    With ``w_i = 1/v_i``, ``ybar = sum w y / sum w``, ``Q = sum w (y - ybar)^2`` over the k units of a group,
    ``tau^2 = max(0, (Q - (k - 1)) / (sum w - sum w^2 / sum w))`` (DerSimonian & Laird 1986) and
    ``mu = sum w* y / sum w*`` with ``w* = 1/(v + tau^2)``. The posterior of theta_i given mu and tau^2 is
    normal with mean ``mu + B_i (y_i - mu)`` and variance ``B_i v_i``, ``B_i = tau^2/(tau^2 + v_i)``
    (empirical Bayes; the uncertainty of mu itself is added when tau^2 = 0).

    Examples
    --------
    Three units with v = 1: Q = 8 on 2 degrees of freedom, sum w - sum w^2/sum w = 2, so tau^2 = 3 and each
    unit keeps three quarters of its distance from the mean:

    >>> post = random_effects_posterior([0.0, 2.0, 4.0], [1.0, 1.0, 1.0])
    >>> post.tau2, post.mu
    (array([3.]), array([2.]))
    >>> post.mean, post.sd
    (array([0.5, 2. , 3.5]), array([0.866025, 0.866025, 0.866025]))
    """
    y = np.asarray(estimate, dtype=np.float64)
    v = np.asarray(variance, dtype=np.float64)
    if y.ndim != 1 or v.shape != y.shape:
        raise ValueError("estimate and variance must be 1-D arrays of the same length")
    if not (np.isfinite(y).all() and np.isfinite(v).all() and (v > 0).all()):
        raise ValueError("estimates must be finite and variances finite and > 0")
    g = np.zeros(y.size, dtype=np.int64) if group is None else np.asarray(group, dtype=np.int64)
    if g.shape != y.shape or (g.size and g.min() < 0):
        raise ValueError("group must hold one non-negative integer per unit")
    n_groups = int(g.max()) + 1 if g.size else 0

    def total(values: FloatArray) -> FloatArray:
        return np.asarray(np.bincount(g, weights=values, minlength=n_groups), dtype=np.float64)

    w = 1.0 / v
    sum_w = total(w)
    ybar = total(w * y) / np.where(sum_w > 0, sum_w, 1.0)
    q = total(w * (y - ybar[g]) ** 2)
    k = np.bincount(g, minlength=n_groups).astype(np.float64)
    scale = sum_w - total(w * w) / np.where(sum_w > 0, sum_w, 1.0)
    with np.errstate(invalid="ignore", divide="ignore"):
        tau2 = np.where((k > 1) & (scale > 0), np.maximum(0.0, (q - (k - 1)) / scale), 0.0)
    w_star = 1.0 / (v + tau2[g])
    sum_w_star = total(w_star)
    mu = total(w_star * y) / np.where(sum_w_star > 0, sum_w_star, 1.0)
    shrink = tau2[g] / (tau2[g] + v)
    mean = mu[g] + shrink * (y - mu[g])
    posterior_variance = np.where(tau2[g] > 0, shrink * v, 1.0 / sum_w_star[g])
    return RandomEffectsPosterior(mean=mean, sd=np.sqrt(posterior_variance), mu=mu, tau2=tau2)


__all__ = ["RandomEffectsPosterior", "random_effects_posterior"]
