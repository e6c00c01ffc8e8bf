"""Power and sample size: statsmodels and Cohen's table (individual), an exact derivation and a simulation (cluster),
the swCRTdesign README and a generalised-least-squares derivation (stepped wedge, Hussey & Hughes 2007)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy import stats
from statsmodels.stats.power import NormalIndPower, TTestIndPower

from forewarn.stats.experiments.power import (
    cluster_clusters_needed,
    cluster_power,
    design_effect,
    individual_power,
    individual_sample_size,
    stepped_wedge_design,
    stepped_wedge_power,
    stepped_wedge_variance,
)


@pytest.mark.parametrize(
    ("d", "n", "ratio"), [(0.2, 50, 1.0), (0.5, 64, 1.0), (0.8, 20, 2.0), (0.3, 120, 0.5)]
)
def test_individual_power_is_statsmodels(d: float, n: int, ratio: float) -> None:
    assert individual_power(d, n, ratio=ratio) == pytest.approx(
        TTestIndPower().power(effect_size=d, nobs1=n, alpha=0.05, ratio=ratio), rel=1e-12
    )
    assert individual_power(d, n, ratio=ratio, test="z") == pytest.approx(
        NormalIndPower().power(effect_size=d, nobs1=n, alpha=0.05, ratio=ratio), rel=1e-12
    )


def test_individual_sample_size_matches_cohens_table() -> None:
    # Cohen (1988), Table 2.4.1 (two-sided alpha 0.05, power 0.80): 26 a group for d = 0.8, 64 for 0.5, 393 for 0.2
    # (Cohen's table rounds an approximation; the exact noncentral-t answer for d = 0.2 is 393.4).
    assert math.ceil(individual_sample_size(0.8)) == 26
    assert math.ceil(individual_sample_size(0.5)) == 64
    assert individual_sample_size(0.2) == pytest.approx(393, abs=1)


def test_z_sample_size_is_the_textbook_formula() -> None:
    # n = 2 (z_{1-a/2} + z_{1-b})^2 / d^2, ignoring the far tail (below 1e-6 here).
    d = 0.4
    expected = 2 * (stats.norm.ppf(0.975) + stats.norm.ppf(0.9)) ** 2 / d**2
    assert individual_sample_size(d, 0.9, test="z") == pytest.approx(expected, rel=1e-6)


def test_design_effect() -> None:
    assert design_effect(1, 0.3) == 1.0
    assert design_effect(21, 0.05) == pytest.approx(2.0)
    with pytest.raises(ValueError, match="icc"):
        design_effect(10, 1.5)


def test_cluster_power_is_the_power_of_cluster_means() -> None:
    # Exact derivation: with m members a cluster and total variance 1, a cluster mean has variance
    # ICC + (1 - ICC)/m = DE/m, so the z test on k cluster means an arm has non-centrality d / sqrt(2 DE / (k m)).
    d, k, m, icc = 0.4, 12, 25, 0.04
    ncp = d / math.sqrt(2 * (icc + (1 - icc) / m) / k)
    z = stats.norm.ppf(0.975)
    expected = stats.norm.cdf(ncp - z) + stats.norm.cdf(-ncp - z)
    assert cluster_power(d, k, m, icc).power == pytest.approx(expected, rel=1e-9)
    # ... and the t version is the noncentral t on 2k - 2 degrees of freedom.
    crit = stats.t.ppf(0.975, 2 * k - 2)
    t_expected = stats.nct.sf(crit, 2 * k - 2, ncp) + stats.nct.cdf(-crit, 2 * k - 2, ncp)
    assert cluster_power(d, k, m, icc, test="t").power == pytest.approx(t_expected, rel=1e-9)


def test_cluster_power_agrees_with_simulated_trials() -> None:
    """Trials simulated from a random-intercept model, analysed by Student's t on cluster means."""
    d, k, m, icc = 0.5, 8, 20, 0.1
    rng = np.random.default_rng(20260601)
    sims = 4000
    cluster_effects = rng.normal(0, math.sqrt(icc), size=(sims, 2, k))
    noise_means = rng.normal(0, math.sqrt((1 - icc) / m), size=(sims, 2, k))
    means = cluster_effects + noise_means
    means[:, 1, :] += d
    result = stats.ttest_ind(means[:, 1, :], means[:, 0, :], axis=1)
    empirical = float(np.mean(result.pvalue < 0.05))
    expected = cluster_power(d, k, m, icc, test="t").power
    assert abs(empirical - expected) < 3 * math.sqrt(expected * (1 - expected) / sims)


def test_clusters_needed_follows_donner_and_klar() -> None:
    result = cluster_clusters_needed(0.3, cluster_size=30, icc=0.02)
    n_individual = NormalIndPower().solve_power(effect_size=0.3, alpha=0.05, power=0.8)
    assert result.detail["n_individual_per_arm"] == pytest.approx(n_individual)
    assert result.detail["clusters_per_arm"] == math.ceil(n_individual * (1 + 29 * 0.02) / 30)
    # The t distribution on few clusters costs a little power, which the result shows rather than hides.
    assert 0.75 < result.power < 0.8


def test_stepped_wedge_design_matrix() -> None:
    x = stepped_wedge_design([6, 6, 6, 6])
    assert x.shape == (24, 5)
    assert x[:, 0].sum() == 0 and x[:, -1].sum() == 24
    assert list(x.sum(axis=0)) == [0, 6, 12, 18, 24]


def test_stepped_wedge_power_matches_swcrtdesign_readme() -> None:
    # swCRTdesign 4.1 README: swPwr(swDsn(c(6,6,6,6)), distn="binomial", n=120, mu0=0.05, mu1=0.035, tau=0.01,
    # eta=0, rho=0, gamma=0, alpha=0.05) -> 0.7861896 (J. Hughes' package; the binomial variance at the mean p).
    p0, p1 = 0.05, 0.035
    p = (p0 + p1) / 2
    result = stepped_wedge_power(
        p1 - p0,
        stepped_wedge_design([6, 6, 6, 6]),
        individual_variance=p * (1 - p),
        cluster_period_size=120,
        tau2=0.01**2,
    )
    assert result.power == pytest.approx(0.7861896, abs=1e-7)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_stepped_wedge_variance_is_the_gls_variance(seed: int) -> None:
    """Hussey & Hughes' closed form equals the generalised-least-squares variance of the treatment effect in
    y_ij = mu_j + theta X_ij + a_i + e_ij, Var(a_i) = tau2, Var(e_ij) = sigma2, written out here for any 0/1
    design (even an irregular one)."""
    rng = np.random.default_rng(seed)
    clusters, periods = 9, 5
    onset = rng.integers(1, periods, size=clusters)
    x = (np.arange(periods)[None, :] >= onset[:, None]).astype(float)
    sigma2, tau2 = rng.uniform(0.5, 2.0), rng.uniform(0.05, 0.5)
    block = sigma2 * np.eye(periods) + tau2 * np.ones((periods, periods))
    inverse = np.linalg.inv(block)
    information = np.zeros((periods + 1, periods + 1))
    for i in range(clusters):
        z = np.column_stack([np.eye(periods), x[i]])
        information += z.T @ inverse @ z
    gls = np.linalg.inv(information)[-1, -1]
    assert stepped_wedge_variance(x, sigma2, tau2) == pytest.approx(gls, rel=1e-10)


def test_stepped_wedge_refuses_a_design_without_contrast() -> None:
    with pytest.raises(ValueError, match="cannot estimate"):
        stepped_wedge_variance(np.zeros((4, 3)), 1.0, 0.1)
