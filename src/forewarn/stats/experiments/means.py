"""Difference in means with a confidence interval, and cluster-robust regression (statsmodels).

``difference_in_means`` is Welch's t interval by default (``equal_var=True`` for Student's pooled one), the same
numbers as R's ``t.test``: on Student's (1908) sleep data, R gives a difference of -1.58, t = -1.8608,
df = 17.776 and a 95% interval of -3.3654832 to 0.2054832 (tests/stats/test_experiment_means.py).

``cluster_robust`` fits ordinary least squares of the outcome on the treatment indicator (and any covariates) with
the cluster-robust (CR1, Stata's small-sample factor) covariance and t tests on ``G - 1`` degrees of freedom, as
statsmodels' ``cov_type="cluster"`` computes it; the tests check it against the sandwich formula written out.
``cluster_means`` is the conservative alternative with few clusters: a t test on the cluster means.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd  # type: ignore[import-untyped]
from scipy import stats

__all__ = ["EffectEstimate", "cluster_means", "cluster_robust", "difference_in_means"]


@dataclass(frozen=True)
class EffectEstimate:
    """An estimated effect (treated minus control) with its standard error, interval and test."""

    method: str
    estimate: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    df: float | None
    n_treated: int
    n_control: int
    alpha: float = 0.05
    n_clusters: int | None = None

    def to_dict(self) -> dict[str, object]:
        return {
            "method": self.method,
            "estimate": self.estimate,
            "std_error": self.std_error,
            "ci_low": self.ci_low,
            "ci_high": self.ci_high,
            "p_value": self.p_value,
            "df": self.df,
            "n_treated": self.n_treated,
            "n_control": self.n_control,
            "n_clusters": self.n_clusters,
            "confidence": 1 - self.alpha,
        }


def difference_in_means(
    treated: Sequence[float] | np.ndarray,
    control: Sequence[float] | np.ndarray,
    *,
    alpha: float = 0.05,
    equal_var: bool = False,
) -> EffectEstimate:
    """Mean of ``treated`` minus mean of ``control`` with a t interval (Welch's unless ``equal_var``).

    >>> r = difference_in_means([0.7, -1.6, -0.2, -1.2, -0.1, 3.4, 3.7, 0.8, 0.0, 2.0],
    ...                         [1.9, 0.8, 1.1, 0.1, -0.1, 4.4, 5.5, 1.6, 4.6, 3.4])
    >>> round(r.estimate, 2), round(r.ci_low, 7), round(r.ci_high, 7), round(r.df, 3)
    (-1.58, -3.3654832, 0.2054832, 17.776)
    """
    a = np.asarray(treated, dtype=float)
    b = np.asarray(control, dtype=float)
    a, b = a[~np.isnan(a)], b[~np.isnan(b)]
    if len(a) < 2 or len(b) < 2:
        raise ValueError("each arm needs at least two values")
    va, vb = a.var(ddof=1), b.var(ddof=1)
    na, nb = len(a), len(b)
    if equal_var:
        df = float(na + nb - 2)
        pooled = ((na - 1) * va + (nb - 1) * vb) / df
        se = float(np.sqrt(pooled * (1 / na + 1 / nb)))
        method = "difference in means (Student)"
    else:
        se = float(np.sqrt(va / na + vb / nb))
        df = float((va / na + vb / nb) ** 2 / ((va / na) ** 2 / (na - 1) + (vb / nb) ** 2 / (nb - 1)))
        method = "difference in means (Welch)"
    estimate = float(a.mean() - b.mean())
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(estimate / se), df)) if se > 0 else float("nan")
    return EffectEstimate(
        method, estimate, se, estimate - crit * se, estimate + crit * se, p, df, na, nb, alpha
    )


def cluster_robust(
    frame: pd.DataFrame,
    outcome: str,
    treatment: str,
    cluster: str,
    covariates: Sequence[str] = (),
    *,
    alpha: float = 0.05,
) -> EffectEstimate:
    """OLS of ``outcome`` on the 0/1 ``treatment`` (and ``covariates``), cluster-robust standard error (CR1).

    Intervals and p-values use the t distribution on ``G - 1`` degrees of freedom, ``G`` the number of clusters.
    """
    import statsmodels.api as sm

    data = frame[[outcome, treatment, cluster, *covariates]].dropna()
    x = sm.add_constant(data[[treatment, *covariates]].astype(float), has_constant="add")
    groups = pd.factorize(data[cluster])[0]
    n_clusters = int(groups.max()) + 1
    if n_clusters <= x.shape[1]:
        raise ValueError(
            f"cluster-robust errors need more clusters ({n_clusters}) than coefficients ({x.shape[1]}); "
            "with so few, compare cluster means"
        )
    fit = sm.OLS(data[outcome].astype(float), x).fit(
        cov_type="cluster",
        cov_kwds={"groups": groups, "use_correction": True, "df_correction": True},
        use_t=True,
    )
    estimate = float(fit.params[treatment])
    se = float(fit.bse[treatment])
    df = float(n_clusters - 1)
    crit = float(stats.t.ppf(1 - alpha / 2, df))
    p = float(2 * stats.t.sf(abs(estimate / se), df))
    treated = data[treatment].astype(float) == 1
    return EffectEstimate(
        "cluster-robust regression (CR1)",
        estimate,
        se,
        estimate - crit * se,
        estimate + crit * se,
        p,
        df,
        int(treated.sum()),
        int((~treated).sum()),
        alpha,
        n_clusters,
    )


def cluster_means(
    frame: pd.DataFrame, outcome: str, treatment: str, cluster: str, *, alpha: float = 0.05
) -> EffectEstimate:
    """Student's t on the clusters' means: one value per cluster, the analysis a cluster design can always defend."""
    data = frame[[outcome, treatment, cluster]].dropna()
    means = data.groupby(cluster).agg(y=(outcome, "mean"), t=(treatment, "max"))
    arms = means.groupby("t")["t"].count()
    if (data.groupby(cluster)[treatment].nunique() > 1).any():
        raise ValueError("a cluster is in both arms: cluster means need one arm a cluster")
    result = difference_in_means(
        means.loc[means["t"] == 1, "y"].to_numpy(),
        means.loc[means["t"] == 0, "y"].to_numpy(),
        alpha=alpha,
        equal_var=True,
    )
    return EffectEstimate(
        "t test on cluster means",
        result.estimate,
        result.std_error,
        result.ci_low,
        result.ci_high,
        result.p_value,
        result.df,
        int(arms.get(1, 0)),
        int(arms.get(0, 0)),
        alpha,
        len(means),
    )
