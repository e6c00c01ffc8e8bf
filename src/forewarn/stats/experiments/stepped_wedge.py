"""Stepped-wedge analysis with period effects: the Hussey & Hughes (2007) linear mixed model.

The model of a cross-sectional stepped-wedge trial (Hussey & Hughes 2007, section 2, equation 1) for the outcome
of cluster ``i`` in period ``j``:

    Y_ij = mu + beta_j + theta X_ij + alpha_i + e_ij,   alpha_i ~ N(0, tau2),   e_ij ~ N(0, sigma2)

with fixed period effects ``beta_j`` (secular trend; ``beta_1 = 0``), the treatment indicator ``X_ij`` (1 once the
cluster has crossed over), a random cluster intercept ``alpha_i`` and independent errors. ``theta`` is the
treatment effect. It is fitted by restricted maximum likelihood with statsmodels' ``MixedLM`` (a random intercept
by cluster, the periods as fixed dummies).

The interval (``variance="robust"``, the default) does not trust the exchangeable correlation: a long series with
autocorrelation, or correlation decaying over periods, makes the model-based interval too narrow (Kasza & Forbes
2019; measured in ``bench/stepped_wedge_coverage.py``: 77% coverage at AR(1) rho = 0.5 over 25 periods). It is the
cluster-robust sandwich of the same GLS estimate (:func:`sandwich_covariance`, Mancl & DeRouen's bias reduction)
with t on G-1 degrees of freedom, valid for any correlation within a cluster if the clusters are independent.
``variance="model"`` gives Hussey & Hughes' own Wald (normal) interval.

The model-based standard error (``model_std_error``) is the GLS one, ``[(X' V^-1 X)^-1]_theta`` at the REML ``tau2`` and ``sigma2`` (as lme4's
``vcov``); with every cluster observed once in every period it is Hussey & Hughes' equation (8) in closed form (:func:`forewarn.stats.experiments.power.stepped_wedge_variance`);
``tests/stats/test_experiment_stepped_wedge.py`` checks the estimate against the GLS estimator written out and the
standard error against equation (8).

References
----------
Kasza J, Forbes AB (2019). Inference for the treatment effect in multiple-period cluster randomised trials when
random effect correlation structure is misspecified. Statistical Methods in Medical Research 28(10-11):3112-3122.
Mancl LA, DeRouen TA (2001). A covariance estimator for GEE with improved small-sample properties. Biometrics
57(1):126-134.
Hussey MA, Hughes JP (2007). Design and analysis of stepped wedge cluster randomized trials. Contemporary Clinical
Trials 28(2):182-191. doi:10.1016/j.cct.2006.05.007
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
from scipy import stats

__all__ = ["SteppedWedgeFit", "hussey_hughes", "sandwich_covariance"]


@dataclass(frozen=True)
class SteppedWedgeFit:
    """The treatment effect of a stepped wedge with period effects, and the fitted variance components."""

    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    tau2: float
    sigma2: float
    n_clusters: int
    n_periods: int
    n_observations: int
    converged: bool
    alpha: float = 0.05
    period_effects: tuple[float, ...] = field(default_factory=tuple)
    variance: str = "robust"
    model_std_error: float = float("nan")
    df: float = float("inf")

    @property
    def icc(self) -> float:
        """tau2 / (tau2 + sigma2): the share of a cluster-period value's variance between clusters."""
        total = self.tau2 + self.sigma2
        return self.tau2 / total if total > 0 else float("nan")

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": "hussey_hughes",
            "estimate": self.estimate,
            "std_error": self.std_error,
            "variance": self.variance,
            "model_std_error": self.model_std_error,
            "df": self.df if np.isfinite(self.df) else None,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "tau2": self.tau2,
            "sigma2": self.sigma2,
            "icc": self.icc,
            "n_clusters": self.n_clusters,
            "n_periods": self.n_periods,
            "n_observations": self.n_observations,
            "converged": self.converged,
            "confidence": 1 - self.alpha,
            "period_effects": list(self.period_effects),
        }


def _codes(values: np.ndarray) -> tuple[np.ndarray, int]:
    _, inverse = np.unique(values, return_inverse=True)
    return inverse.astype(int), int(inverse.max()) + 1 if inverse.size else 0


def _gls_covariance(
    exog: np.ndarray, clusters: np.ndarray, n_clusters: int, tau2: float, sigma2: float
) -> np.ndarray:
    """``(X' V^-1 X)^-1`` with ``V_i = sigma2 I + tau2 J`` in each cluster, from the closed-form inverse
    ``V_i^-1 = (I - tau2 / (sigma2 + n_i tau2) J) / sigma2``: the covariance of the fixed effects that lme4's
    ``vcov`` and SAS's PROC MIXED report (statsmodels' ``bse_fe`` comes from a joint Hessian and differs slightly)."""
    sizes = np.bincount(clusters, minlength=n_clusters).astype(float)
    sums = np.zeros((n_clusters, exog.shape[1]))
    np.add.at(sums, clusters, exog)
    shrink = tau2 / (sigma2 + sizes * tau2)
    information = (exog.T @ exog - (sums * shrink[:, None]).T @ sums) / sigma2
    covariance: np.ndarray = np.linalg.inv(information)
    return covariance


def _cluster_blocks(
    exog: np.ndarray, resid: np.ndarray, clusters: np.ndarray, n_clusters: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each cluster's rows stacked into ``(clusters, longest, columns)`` arrays padded with zero rows, and a mask
    of the real rows: padded rows add nothing to the sandwich and leave ``I - H_i`` an identity there."""
    order = np.argsort(clusters, kind="stable")
    sizes = np.bincount(clusters, minlength=n_clusters)
    slot = np.arange(clusters.size) - np.repeat(np.cumsum(sizes) - sizes, sizes)
    rows, longest = clusters[order], int(sizes.max())
    x_blocks = np.zeros((n_clusters, longest, exog.shape[1]))
    e_blocks = np.zeros((n_clusters, longest))
    mask = np.zeros((n_clusters, longest))
    x_blocks[rows, slot] = exog[order]
    e_blocks[rows, slot] = resid[order]
    mask[rows, slot] = 1.0
    return x_blocks, e_blocks, mask


def sandwich_covariance(
    exog: np.ndarray,
    resid: np.ndarray,
    clusters: np.ndarray,
    tau2: float,
    sigma2: float,
    *,
    bias_reduced: bool = True,
) -> np.ndarray:
    """The cluster-robust (sandwich) covariance of the GLS estimator under the working exchangeable covariance
    ``V_i = sigma2 I + tau2 J``, with Mancl & DeRouen's (2001) bias reduction:

        B = (sum_i X_i' V_i^-1 X_i)^-1,   cov = B [sum_i X_i' V_i^-1 r_i r_i' V_i^-1 X_i] B,
        r_i = (I - H_i)^-1 e_i,   H_i = X_i B X_i' V_i^-1   (r_i = e_i without the reduction: Liang & Zeger 1986)

    It stays valid whatever the true correlation within a cluster (autocorrelation over periods, a decaying
    correlation, cluster-specific trends), as long as the clusters are independent; the model-based
    ``B`` does not. This is the covariance statsmodels' ``GEE`` reports as ``cov_robust_bc`` (``robust`` without
    the reduction) at the same working correlation, checked in ``tests/stats/test_experiment_stepped_wedge.py``.
    ``clusters`` are codes ``0..G-1``.

    References: Liang KY, Zeger SL (1986) Biometrika 73(1):13-22; Mancl LA, DeRouen TA (2001) A covariance
    estimator for GEE with improved small-sample properties. Biometrics 57(1):126-134.
    """
    n_clusters = int(clusters.max()) + 1
    x_blocks, e_blocks, mask = _cluster_blocks(exog, resid, clusters, n_clusters)
    sizes = mask.sum(axis=1)
    shrink = tau2 / (sigma2 + sizes * tau2)
    # V_i^-1 a = (a - shrink_i * m (m' a)) / sigma2 for the real rows m of cluster i
    v_inv_x = (
        x_blocks - shrink[:, None, None] * mask[:, :, None] * x_blocks.sum(axis=1)[:, None, :]
    ) / sigma2
    bread: np.ndarray = np.linalg.inv(np.einsum("gnp,gnq->pq", x_blocks, v_inv_x))
    if bias_reduced:
        hat = np.einsum(
            "gnp,pq,gmq->gnm", x_blocks, bread, v_inv_x
        )  # X_i B (V_i^-1 X_i)' = X_i B X_i' V_i^-1
        e_blocks = np.linalg.solve(np.eye(x_blocks.shape[1])[None] - hat, e_blocks[:, :, None])[:, :, 0]
    scores = np.einsum("gnp,gn->gp", v_inv_x, e_blocks)  # X_i' V_i^-1 r_i (V_i^-1 is symmetric)
    covariance: np.ndarray = bread @ (scores.T @ scores) @ bread
    return covariance


def hussey_hughes(
    y: np.ndarray,
    cluster: np.ndarray,
    period: np.ndarray,
    treated: np.ndarray,
    *,
    alpha: float = 0.05,
    variance: Literal["robust", "model"] = "robust",
) -> SteppedWedgeFit:
    """Fit the Hussey & Hughes (2007) model to one value per row (a cluster-period mean, or an individual).

    Parameters
    ----------
    y : the outcome, one value per row.
    cluster, period : each row's cluster and period labels (any sortable values; periods are ordered by label).
    treated : 1 when the row's cluster had crossed over to the intervention in that period, else 0.

    Returns
    -------
    SteppedWedgeFit with ``theta`` (treated minus control, adjusted for period), its REML standard error, Wald
    interval and p-value, ``tau2`` and ``sigma2``, and the period effects relative to the first period.

    >>> import numpy as np
    >>> x = np.array([[0, 1, 1], [0, 0, 1], [0, 1, 1], [0, 0, 1]])
    >>> rng = np.random.default_rng(1)
    >>> y = 10 + 2 * x + np.arange(3) + rng.normal(0, 0.5, (4, 1)) + rng.normal(0, 0.01, x.shape)
    >>> fit = hussey_hughes(y.ravel(), np.repeat(np.arange(4), 3), np.tile(np.arange(3), 4), x.ravel())
    >>> round(fit.estimate, 1)
    2.0
    """
    from statsmodels.regression.mixed_linear_model import MixedLM

    y = np.asarray(y, dtype=float)
    x = np.asarray(treated, dtype=float)
    if not (y.shape == x.shape == np.shape(cluster) == np.shape(period)) or y.ndim != 1:
        raise ValueError("y, cluster, period and treated must be one-dimensional and of the same length")
    keep = np.isfinite(y)
    y, x = y[keep], x[keep]
    clusters, n_clusters = _codes(np.asarray(cluster)[keep])
    periods, n_periods = _codes(np.asarray(period)[keep])
    if not np.isin(x, (0.0, 1.0)).all():
        raise ValueError("treated must be 0 or 1")
    if n_clusters < 3 or n_periods < 2:
        raise ValueError("a stepped-wedge analysis needs at least three clusters and two periods")
    if x.min() == x.max():
        raise ValueError("every row is in the same condition: no treatment contrast to estimate")
    dummies = (periods[:, None] == np.arange(1, n_periods)[None, :]).astype(float)
    exog = np.column_stack([np.ones_like(y), x, dummies])
    if np.linalg.matrix_rank(exog) < exog.shape[1]:
        raise ValueError(
            "the treatment cannot be told apart from the period effects (every cluster crosses over together)"
        )
    model = MixedLM(y, exog, groups=clusters, exog_re=np.ones((y.size, 1)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # convergence notes are reported through ``converged``
        fitted = model.fit(reml=True)
    estimate = float(fitted.fe_params[1])
    tau2 = max(float(np.asarray(fitted.cov_re)[0, 0]), 0.0)
    sigma2 = float(fitted.scale)
    model_se = float(np.sqrt(_gls_covariance(exog, clusters, n_clusters, tau2, sigma2)[1, 1]))
    if variance == "model":
        se, df = model_se, float("inf")
        reference: Any = stats.norm
    elif variance == "robust":
        resid = y - exog @ np.asarray(fitted.fe_params, dtype=float)
        se = float(np.sqrt(sandwich_covariance(exog, resid, clusters, tau2, sigma2)[1, 1]))
        df = float(n_clusters - 1)
        reference = stats.t(df)
    else:
        raise ValueError(f"variance must be 'robust' or 'model', not {variance!r}")
    quantile = float(reference.ppf(1 - alpha / 2))
    p = float(2 * reference.sf(abs(estimate / se))) if se > 0 else float("nan")
    return SteppedWedgeFit(
        estimate=estimate,
        std_error=se,
        ci_low=estimate - quantile * se,
        ci_high=estimate + quantile * se,
        p_value=p,
        tau2=tau2,
        sigma2=sigma2,
        n_clusters=n_clusters,
        n_periods=n_periods,
        n_observations=int(y.size),
        converged=bool(fitted.converged),
        alpha=alpha,
        period_effects=tuple(float(b) for b in fitted.fe_params[2:]),
        variance=variance,
        model_std_error=model_se,
        df=df,
    )
