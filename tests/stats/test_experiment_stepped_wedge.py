"""The Hussey & Hughes (2007) stepped-wedge model, checked by exact derivation.

With every cluster seen once in every period, REML's estimate of theta must be the GLS estimator
``(X' V^-1 X)^-1 X' V^-1 y`` at the fitted variance components (V: sigma2 I + tau2 J within a cluster), and its
variance must be Hussey & Hughes' closed form, equation (8) (``power.stepped_wedge_variance``, itself checked against
``swCRTdesign``'s worked example in test_experiment_power.py). Both are written out here.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from forewarn.stats.experiments.power import stepped_wedge_design, stepped_wedge_variance
from forewarn.stats.experiments.stepped_wedge import hussey_hughes


def _trial(seed: int, theta: float = 1.5, tau: float = 1.0, sigma: float = 0.8) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    design = stepped_wedge_design([3, 3, 3, 3])  # 12 clusters, 5 periods
    n_clusters, n_periods = design.shape
    period_effect = np.array([0.0, 0.4, 0.9, 1.1, 1.6])
    y = (
        20.0
        + period_effect[None, :]
        + theta * design
        + rng.normal(0, tau, (n_clusters, 1))
        + rng.normal(0, sigma, design.shape)
    )
    cluster = np.repeat(np.arange(n_clusters), n_periods)
    period = np.tile(np.arange(n_periods), n_clusters)
    return design, y.ravel(), cluster, period


def _gls(y: np.ndarray, design: np.ndarray, tau2: float, sigma2: float) -> tuple[np.ndarray, np.ndarray]:
    n_clusters, n_periods = design.shape
    exog = np.column_stack(
        [np.ones(y.size), design.ravel(), np.tile(np.eye(n_periods)[:, 1:], (n_clusters, 1))]
    )
    block = sigma2 * np.eye(n_periods) + tau2 * np.ones((n_periods, n_periods))
    v_inv = np.kron(np.eye(n_clusters), np.linalg.inv(block))
    information = exog.T @ v_inv @ exog
    covariance = np.linalg.inv(information)
    return covariance @ exog.T @ v_inv @ y, covariance


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_the_estimate_is_gls_and_its_variance_is_hussey_hughes_equation_8(seed: int) -> None:
    design, y, cluster, period = _trial(seed)
    fit = hussey_hughes(y, cluster, period, design.ravel())
    assert fit.converged and fit.n_clusters == 12 and fit.n_periods == 5 and fit.n_observations == 60
    beta, covariance = _gls(y, design, fit.tau2, fit.sigma2)
    assert fit.estimate == pytest.approx(beta[1], rel=1e-6)
    assert fit.period_effects == pytest.approx(beta[2:], rel=1e-6, abs=1e-8)
    assert fit.std_error**2 == pytest.approx(covariance[1, 1], rel=1e-5)
    assert fit.std_error**2 == pytest.approx(stepped_wedge_variance(design, fit.sigma2, fit.tau2), rel=1e-5)
    z = stats.norm.ppf(0.975)
    assert (fit.ci_low, fit.ci_high) == pytest.approx(
        (fit.estimate - z * fit.std_error, fit.estimate + z * fit.std_error)
    )
    assert fit.p_value == pytest.approx(2 * stats.norm.sf(abs(fit.estimate) / fit.std_error))
    assert fit.icc == pytest.approx(fit.tau2 / (fit.tau2 + fit.sigma2))


def test_the_interval_covers_the_true_effect_about_95_times_in_100() -> None:
    covered = 0
    for seed in range(100):
        design, y, cluster, period = _trial(100 + seed, theta=1.5)
        fit = hussey_hughes(y, cluster, period, design.ravel())
        covered += fit.ci_low <= 1.5 <= fit.ci_high
    # Binomial(100, 0.95): 88 or more with probability > 0.999. REML with 12 clusters is slightly liberal.
    assert covered >= 88


def test_a_secular_trend_is_not_mistaken_for_an_effect() -> None:
    # No treatment effect, a strong trend: a naive before/after comparison finds a large "effect", the model none.
    design, y, cluster, period = _trial(7, theta=0.0)
    y = y + 3.0 * period
    fit = hussey_hughes(y, cluster, period, design.ravel())
    naive = y[design.ravel() == 1].mean() - y[design.ravel() == 0].mean()
    assert naive > 3
    assert fit.ci_low < 0 < fit.ci_high


def test_refusals_say_why() -> None:
    design, y, cluster, period = _trial(1)
    with pytest.raises(ValueError, match="same length"):
        hussey_hughes(y[:-1], cluster, period, design.ravel())
    with pytest.raises(ValueError, match="0 or 1"):
        hussey_hughes(y, cluster, period, design.ravel() * 2)
    with pytest.raises(ValueError, match="same condition"):
        hussey_hughes(y, cluster, period, np.zeros_like(y))
    together = (period >= 2).astype(float)
    with pytest.raises(ValueError, match="told apart"):
        hussey_hughes(y, cluster, period, together)
    keep = cluster < 2
    with pytest.raises(ValueError, match="three clusters"):
        hussey_hughes(y[keep], cluster[keep], period[keep], design.ravel()[keep])
