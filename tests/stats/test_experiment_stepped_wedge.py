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
from forewarn.stats.experiments.stepped_wedge import hussey_hughes, sandwich_covariance


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
    fit = hussey_hughes(y, cluster, period, design.ravel(), variance="model")
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
        fit = hussey_hughes(y, cluster, period, design.ravel(), variance="model")
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


def _unbalanced_trial(seed: int) -> tuple[np.ndarray, ...]:
    design, y, cluster, period = _trial(seed)
    keep = np.random.default_rng(seed).random(y.size) > 0.15  # some cluster-periods missing
    treated = design.ravel()[keep]
    n_periods = design.shape[1]
    exog = np.column_stack(
        [np.ones(keep.sum()), treated, (period[keep, None] == np.arange(1, n_periods)[None, :]).astype(float)]
    )
    return y[keep], cluster[keep], period[keep], treated, exog


@pytest.mark.parametrize("bias_reduced", [False, True])
@pytest.mark.parametrize("seed", [4, 5])
def test_the_sandwich_is_statsmodels_gee_at_the_same_working_correlation(
    seed: int, bias_reduced: bool
) -> None:
    """Reference: statsmodels' GEE with an exchangeable working correlation reports the Liang-Zeger sandwich
    (``cov_type="robust"``) and Mancl-DeRouen's (``"bias_reduced"``); at its own coefficients and correlation
    (tau2 = scale x rho, sigma2 = scale x (1 - rho)) ours must be the same matrix, on unbalanced clusters too."""
    import statsmodels.api as sm

    y, cluster, _, _, exog = _unbalanced_trial(seed)
    model = sm.GEE(y, exog, groups=cluster, cov_struct=sm.cov_struct.Exchangeable())
    result = model.fit(cov_type="bias_reduced" if bias_reduced else "robust")
    rho, scale = float(model.cov_struct.dep_params), float(result.scale)
    ours = sandwich_covariance(
        exog, y - exog @ result.params, cluster, scale * rho, scale * (1 - rho), bias_reduced=bias_reduced
    )
    np.testing.assert_allclose(ours, result.cov_params(), rtol=1e-9, atol=1e-12)


def test_the_robust_interval_is_the_sandwich_at_the_reml_fit_with_t_on_g_minus_1_df() -> None:
    """Exact derivation: the robust interval is theta +- t(0.975, G-1) x sqrt(sandwich[theta]) with the sandwich
    written out cluster by cluster here (V_i from the REML components, H_i = X_i B X_i' V_i^-1)."""
    y, cluster, period, treated, exog = _unbalanced_trial(6)
    fit = hussey_hughes(y, cluster, period, treated)
    model = hussey_hughes(y, cluster, period, treated, variance="model")
    assert fit.estimate == model.estimate and fit.model_std_error == pytest.approx(model.std_error)
    beta = np.concatenate([[np.nan, fit.estimate], fit.period_effects])
    blocks = [np.flatnonzero(cluster == c) for c in np.unique(cluster)]
    v_inv = [
        np.linalg.inv(fit.sigma2 * np.eye(b.size) + fit.tau2 * np.ones((b.size, b.size))) for b in blocks
    ]
    bread = np.linalg.inv(sum(exog[b].T @ w @ exog[b] for b, w in zip(blocks, v_inv, strict=True)))
    # the intercept is the one GLS coefficient not reported: recover it from the normal equations
    rest = y - exog[:, 1:] @ beta[1:]
    weights = sum(np.ones(b.size) @ w @ np.ones(b.size) for b, w in zip(blocks, v_inv, strict=True))
    beta[0] = sum(np.ones(b.size) @ w @ rest[b] for b, w in zip(blocks, v_inv, strict=True)) / weights
    meat = np.zeros_like(bread)
    for b, w in zip(blocks, v_inv, strict=True):
        hat = exog[b] @ bread @ exog[b].T @ w
        r = np.linalg.solve(np.eye(b.size) - hat, y[b] - exog[b] @ beta)
        score = exog[b].T @ w @ r
        meat += np.outer(score, score)
    se = np.sqrt((bread @ meat @ bread)[1, 1])
    assert fit.variance == "robust" and fit.df == 11
    assert fit.std_error == pytest.approx(se, rel=1e-6)
    q = stats.t.ppf(0.975, 11)
    assert (fit.ci_low, fit.ci_high) == pytest.approx(
        (fit.estimate - q * se, fit.estimate + q * se), rel=1e-6
    )
    assert fit.p_value == pytest.approx(2 * stats.t.sf(abs(fit.estimate) / se, 11), rel=1e-5)


def _autocorrelated_trial(seed: int, rho: float) -> tuple[np.ndarray, ...]:
    """24 clusters in 4 steps, each step five periods long (25 periods), AR(1) errors of marginal SD 1."""
    rng = np.random.default_rng(seed)
    design = np.repeat(stepped_wedge_design([6, 6, 6, 6]), 5, axis=1)
    n_clusters, n_periods = design.shape
    errors = np.empty(design.shape)
    errors[:, 0] = rng.normal(0, 1, n_clusters)
    for t in range(1, n_periods):
        errors[:, t] = rho * errors[:, t - 1] + rng.normal(0, np.sqrt(1 - rho**2), n_clusters)
    y = 10 + 0.1 * np.arange(n_periods) + design + rng.normal(0, 1, (n_clusters, 1)) + errors
    return (
        y.ravel(),
        np.repeat(np.arange(n_clusters), n_periods),
        np.tile(np.arange(n_periods), n_clusters),
        design,
    )


@pytest.mark.slow
def test_under_autocorrelation_the_robust_interval_keeps_its_coverage_and_the_model_one_does_not() -> None:
    """AR(1) errors with rho = 0.9 break the exchangeable model: its interval covers the true effect (1) far less
    than 95% of the time, while the sandwich's stays near 95% (bench/stepped_wedge_coverage.py, 500 replicates)."""
    robust = model = 0
    for seed in range(100):
        y, cluster, period, design = _autocorrelated_trial(300 + seed, 0.9)
        fit = hussey_hughes(y, cluster, period, design.ravel())
        z = stats.norm.ppf(0.975)
        robust += fit.ci_low <= 1 <= fit.ci_high
        model += abs(fit.estimate - 1) <= z * fit.model_std_error
    # Binomial(100, 0.95) >= 88 with probability 0.9985; the model-based coverage is measured at 0.65 over 500
    # replicates, and 85 or more of 100 at that rate has probability < 1e-5.
    assert robust >= 88
    assert model < 85
