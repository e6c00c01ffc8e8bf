"""Power and sample size for individual, cluster and stepped-wedge designs.

Individual designs use statsmodels' ``NormalIndPower`` (z test) and ``TTestIndPower`` (t test) directly: the
effect is a standardised difference (Cohen's d), ``n_per_arm`` the size of the first arm and ``ratio`` the second
arm's size over the first's, as statsmodels has them.

A cluster design multiplies the individually randomised sample size by the design effect ``1 + (m - 1) ICC``
(Donner & Klar 2000): with ``k`` clusters of ``m`` per arm, a cluster-level analysis has the power of an individual
design with ``k m / DE`` per arm. This is exact for the difference of cluster means when every cluster has ``m``
members (the variance of a cluster mean is ``sigma^2 DE / m``), which the tests check by direct derivation and by
simulation. ``test="t"`` uses a t distribution on ``2k - 2`` degrees of freedom, a better guide with few clusters.

A stepped-wedge design uses Hussey & Hughes (2007), equation (8): the variance of the treatment effect in a
cross-sectional design with a random cluster intercept (variance ``tau2``) and fixed period effects, where
``sigma2`` is the variance of a cluster-period mean (an individual's variance over the cluster-period size).
The tests match the ``swCRTdesign`` README (J. Hughes' own package): 24 clusters in four steps of six, 120 per
cluster-period, 5% against 3.5%, tau 0.01, power 0.786190.

>>> round(individual_power(0.5, 64), 4)  # Cohen (1988): d = 0.5 needs 64 a group for 80% power
0.8015
>>> round(design_effect(20, 0.05), 2)
1.95
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
from scipy import stats

Test = Literal["z", "t"]
Alternative = Literal["two-sided", "larger", "smaller"]

__all__ = [
    "PowerResult",
    "cluster_clusters_needed",
    "cluster_power",
    "design_effect",
    "individual_power",
    "individual_sample_size",
    "stepped_wedge_design",
    "stepped_wedge_power",
    "stepped_wedge_variance",
]


@dataclass(frozen=True)
class PowerResult:
    """A design's power or size, with everything that produced it (for the registry and ``--json``)."""

    design: str
    power: float
    alpha: float
    effect: float
    detail: dict[str, float | int | str] = field(default_factory=dict)

    def to_dict(self) -> dict[str, object]:
        return {
            "design": self.design,
            "power": self.power,
            "alpha": self.alpha,
            "effect": self.effect,
            **self.detail,
        }


def _solver(test: Test):  # type: ignore[no-untyped-def]
    from statsmodels.stats.power import NormalIndPower, TTestIndPower

    return NormalIndPower() if test == "z" else TTestIndPower()


def individual_power(
    effect_size: float,
    n_per_arm: float,
    alpha: float = 0.05,
    *,
    ratio: float = 1.0,
    test: Test = "t",
    alternative: Alternative = "two-sided",
) -> float:
    """Power of a two-arm individually randomised comparison of means (statsmodels' solvers)."""
    if n_per_arm <= 1:
        raise ValueError("n_per_arm must be more than 1")
    return float(
        _solver(test).power(
            effect_size=effect_size, nobs1=n_per_arm, alpha=alpha, ratio=ratio, alternative=alternative
        )
    )


def individual_sample_size(
    effect_size: float,
    power: float = 0.8,
    alpha: float = 0.05,
    *,
    ratio: float = 1.0,
    test: Test = "t",
    alternative: Alternative = "two-sided",
) -> float:
    """Size of the first arm (unrounded) for ``power`` against a standardised ``effect_size``."""
    if effect_size == 0:
        raise ValueError("no sample size detects an effect of zero")
    return float(
        _solver(test).solve_power(
            effect_size=effect_size,
            nobs1=None,
            alpha=alpha,
            power=power,
            ratio=ratio,
            alternative=alternative,
        )
    )


def design_effect(cluster_size: float, icc: float) -> float:
    """``1 + (m - 1) ICC``: how many times more individuals a cluster design needs for the same power."""
    if cluster_size < 1:
        raise ValueError("cluster_size must be at least 1")
    if not 0 <= icc <= 1:
        raise ValueError("icc must be between 0 and 1")
    return 1.0 + (cluster_size - 1.0) * icc


def cluster_power(
    effect_size: float,
    clusters_per_arm: int,
    cluster_size: float,
    icc: float,
    alpha: float = 0.05,
    *,
    test: Test = "z",
) -> PowerResult:
    """Power of a parallel cluster-randomised comparison of means, two-sided.

    ``test="z"`` is the individual z-test power at the effective size ``k m / DE`` per arm; ``test="t"`` refers
    the same non-centrality to a t distribution on ``2k - 2`` degrees of freedom.
    """
    if clusters_per_arm < 2:
        raise ValueError("a cluster design needs at least two clusters an arm")
    de = design_effect(cluster_size, icc)
    effective = clusters_per_arm * cluster_size / de
    if test == "z":
        power = individual_power(effect_size, effective, alpha, test="z")
    else:
        ncp = abs(effect_size) * math.sqrt(effective / 2.0)
        df = 2 * clusters_per_arm - 2
        crit = stats.t.ppf(1 - alpha / 2, df)
        power = float(stats.nct.sf(crit, df, ncp) + stats.nct.cdf(-crit, df, ncp))
    return PowerResult(
        "cluster",
        power,
        alpha,
        effect_size,
        {
            "clusters_per_arm": clusters_per_arm,
            "cluster_size": cluster_size,
            "icc": icc,
            "design_effect": de,
            "effective_n_per_arm": effective,
            "test": test,
        },
    )


def cluster_clusters_needed(
    effect_size: float, cluster_size: float, icc: float, power: float = 0.8, alpha: float = 0.05
) -> PowerResult:
    """Clusters an arm for ``power``: the z-test individual size times the design effect, over ``m``, rounded up.

    The Donner & Klar recipe; the result's power is recomputed with the t distribution on ``2k - 2`` degrees of
    freedom so that a design with few clusters shows what it really buys.
    """
    n_individual = individual_sample_size(effect_size, power, alpha, test="z")
    de = design_effect(cluster_size, icc)
    clusters = max(2, math.ceil(n_individual * de / cluster_size))
    achieved = cluster_power(effect_size, clusters, cluster_size, icc, alpha, test="t")
    return PowerResult(
        "cluster",
        achieved.power,
        alpha,
        effect_size,
        {
            **achieved.detail,
            "target_power": power,
            "n_individual_per_arm": n_individual,
            "n_clustered_per_arm": n_individual * de,
        },
    )


def stepped_wedge_design(clusters_per_step: Sequence[int], baseline_periods: int = 1) -> np.ndarray:
    """The 0/1 treatment matrix (clusters x periods) of a standard stepped wedge.

    ``clusters_per_step[s]`` clusters cross over at step ``s``; every cluster starts with ``baseline_periods``
    control periods and the design ends one period after the last step (``swCRTdesign::swDsn`` likewise).

    >>> stepped_wedge_design([1, 1]).tolist()
    [[0.0, 1.0, 1.0], [0.0, 0.0, 1.0]]
    """
    if baseline_periods < 1 or not clusters_per_step or min(clusters_per_step) < 1:
        raise ValueError("need at least one baseline period and one cluster a step")
    steps = len(clusters_per_step)
    periods = baseline_periods + steps
    rows = []
    for s, count in enumerate(clusters_per_step):
        row = np.zeros(periods)
        row[baseline_periods + s :] = 1.0
        rows.extend([row] * count)
    return np.array(rows)


def stepped_wedge_variance(design: np.ndarray, sigma2: float, tau2: float) -> float:
    """Hussey & Hughes (2007) equation (8): the variance of the treatment effect.

    ``design`` is clusters x periods of 0/1; ``sigma2`` the variance of a cluster-period mean; ``tau2`` the
    variance of the cluster intercept.
    """
    x = np.asarray(design, dtype=float)
    n_clusters, n_periods = x.shape
    u = x.sum()
    w = float((x.sum(axis=0) ** 2).sum())
    v = float((x.sum(axis=1) ** 2).sum())
    numerator = n_clusters * sigma2 * (sigma2 + n_periods * tau2)
    denominator = (n_clusters * u - w) * sigma2 + (
        u**2 + n_clusters * n_periods * u - n_periods * w - n_clusters * v
    ) * tau2
    if denominator <= 0:
        raise ValueError("this design cannot estimate a treatment effect (no within-period contrast)")
    return float(numerator / denominator)


def stepped_wedge_power(
    effect: float,
    design: np.ndarray,
    *,
    individual_variance: float,
    cluster_period_size: float,
    tau2: float,
    alpha: float = 0.05,
) -> PowerResult:
    """Power of a cross-sectional stepped wedge (Hussey & Hughes 2007, normal approximation, two-sided).

    For a proportion, pass ``individual_variance = p(1 - p)`` at the mean of the two proportions and ``effect``
    their difference (as ``swCRTdesign::swPwr(distn="binomial")`` does).
    """
    sigma2 = individual_variance / cluster_period_size
    variance = stepped_wedge_variance(design, sigma2, tau2)
    z = abs(effect) / math.sqrt(variance)
    crit = stats.norm.ppf(1 - alpha / 2)
    power = float(stats.norm.cdf(z - crit) + stats.norm.cdf(-z - crit))
    clusters, periods = np.asarray(design).shape
    return PowerResult(
        "stepped_wedge",
        power,
        alpha,
        effect,
        {
            "clusters": int(clusters),
            "periods": int(periods),
            "cluster_period_size": cluster_period_size,
            "tau2": tau2,
            "individual_variance": individual_variance,
            "variance": variance,
        },
    )
